"""One minute of the soak (at one Service) in every `make test`; `make soak` runs ten at 10,000."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.soak.soak import broken, run

pytestmark = pytest.mark.process

SECONDS, STREAMS = 60, 1000


def test_a_minute_of_changes_to_a_thousand_streams_loses_nothing(tmp_path: Path) -> None:
    result = run(SECONDS, STREAMS, tmp_path)
    print(json.dumps(result, indent=2))
    assert result["changes"] >= SECONDS * 5  # the schedule held (10 a second asked)
    # Every stream holds the final version (the server's view and the client's), no NACK, no
    # error.
    assert broken(result) == [], result
    # Flat memory: a leak of even a few KiB per change and stream would show far above this.
    assert result["rss_mib_end"] < result["rss_mib_start"] * 1.3, result
