"""What makes `make soak` exit 1: the soak's contract, read from the figures it prints."""

from __future__ import annotations

from typing import Any

from tests.soak.soak import broken

KEPT: dict[str, Any] = {
    "streams": 1000,
    "final_within_seconds": 3.2,  # slow is reported, not a broken promise
    "client_versions_final": 1000,
    "streams_final": 1000,  # as the server saw their ACKs
    "nacks": 0.0,
    "client_errors": [],
    "server_errors": [],
}


def test_a_run_that_ends_final_everywhere_without_nack_or_error_keeps_it() -> None:
    assert broken(KEPT) == []


def test_streams_never_final_nacks_and_errors_each_break_it() -> None:
    assert broken({**KEPT, "final_within_seconds": None}) == ["every stream final"]
    assert broken({**KEPT, "client_versions_final": 999}) == ["every stream final"]
    assert broken({**KEPT, "streams_final": 999}) == ["every stream final"]
    assert broken({**KEPT, "nacks": 1.0}) == ["no NACK"]
    assert broken({**KEPT, "client_errors": ["AioRpcError()"]}) == ["no client error"]
    assert broken({**KEPT, "server_errors": ["... ERROR ..."]}) == ["no server error"]
