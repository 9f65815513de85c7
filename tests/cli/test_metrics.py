"""/metrics has every series xdscp can know in advance before anything happens, at 0, so
dashboards and alerts see them before the first NACK or refusal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.live import ROOT
from tests.processes import Xdscp
from xdscp.demo.processes import http_get
from xdscp.metrics import REJECTIONS, VARIANTS
from xdscp.resourcetypes import SHORT_NAMES
from xdscp.server.admission import BOUNDS

pytestmark = pytest.mark.process


def test_every_known_series_is_there_at_zero_from_the_start(tmp_path: Path) -> None:
    server = Xdscp([ROOT / "policies"], tmp_path)
    try:
        text = http_get(server.admin + "/metrics")[1].decode()
    finally:
        server.stop()
    for short in SHORT_NAMES.values():
        assert f'xdscp_nacks_total{{type="{short}"}} 0.0' in text
        assert f'xdscp_acks_total{{type="{short}"}} 0.0' in text
        assert f'xdscp_push_ack_seconds_count{{type="{short}"}} 0.0' in text
        for variant in VARIANTS:
            assert f'xdscp_responses_total{{type="{short}",variant="{variant}"}} 0.0' in text
    for variant in VARIANTS:
        assert f'xdscp_streams_open{{variant="{variant}"}} 0.0' in text
    for reason in REJECTIONS:
        assert f'xdscp_requests_rejected_total{{reason="{reason}"}} 0.0' in text
    # The snapshot served, by version (documented in the README).
    assert re.search(r'^xdscp_snapshot_info\{version="[^"]+"\} 1\.0$', text, re.M), text


def test_every_reason_the_server_refuses_for_is_initialised() -> None:
    server = ROOT / "xdscp" / "server"
    source = "\n".join(p.read_text() for p in server.glob("*.py"))
    used = set(re.findall(r'Rejection\(\s*grpc\.StatusCode\.\w+,\s*"(\w+)"', source))
    used |= set(re.findall(r'Rejected\(\s*\w+,\s*"(\w+)"', source))
    used |= {bound.reason for bound in BOUNDS.values()}
    assert {"unknown_type", "permission_denied"} <= used  # the patterns still find them
    assert used == set(REJECTIONS)
