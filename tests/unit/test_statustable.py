"""`xdscp status` prints what its docstring says: one state per stream and type."""

from __future__ import annotations

from typing import Any

from xdscp.statustable import COLUMNS, table


def typed(acked: str = "", in_flight: str = "", nacked: str = "", nacks: int = 0) -> dict[str, Any]:
    return {"acked": acked, "in_flight": in_flight, "nacked": nacked, "nacks": nacks}


def test_each_state_as_printed() -> None:
    stream = {
        "node_id": "gateway-1",
        "node_cluster": "kgateway-system.http",
        "variant": "delta",
        "types": {
            "cds": typed(acked="a" * 16),
            "eds": typed(acked="a" * 16, in_flight="b" * 16),
            "lds": typed(acked="a" * 16, nacked="c" * 16, nacks=1),
            "rds": typed(),
        },
    }
    lines = table({"streams": [stream], "snapshot": "s1"}).splitlines()
    assert lines[0].split()[:4] == list(COLUMNS[:4])
    cells = {
        c: v.strip() for c, v in zip(COLUMNS, (v for v in lines[1].split("  ") if v), strict=True)
    }
    assert (cells["NODE"], cells["GATEWAY"], cells["VARIANT"]) == ("gateway-1", "-", "delta")
    assert cells["CDS"] == "ACKED aaaaaaaa"
    assert cells["EDS"] == "SENT bbbbbbbb"
    assert cells["LDS"] == "NACKED cccccccc"
    assert cells["RDS"] == "NOT ACKED"
    assert cells["SDS"] == "NOT SENT"  # never asked for
    assert lines[-1] == "snapshot s1"
