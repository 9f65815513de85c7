"""`xdscp status`: the admin endpoint's per-node view as a table, like istioctl proxy-status."""

from __future__ import annotations

from typing import Any

from xdscp.resourcetypes import SHORT_NAMES

COLUMNS = ("NODE", "CLUSTER", "GATEWAY", "VARIANT", *(s.upper() for s in SHORT_NAMES.values()))


def table(status: dict[str, Any]) -> str:
    """One row per stream, one column per type, with the first 8 characters of a version:
    ACKED v (the client's last answer accepted v), SENT v (v awaits its answer), NACKED v (v was
    rejected and nothing newer accepted since), NOT ACKED (subscribed, nothing accepted yet) or
    NOT SENT (never asked for). The states are the stream's own; the snapshot the server holds
    now is the last line. GATEWAY is the Gateway a node is served (`-`: none); why a node gets
    less than it may expect follows the rows."""
    rows = [COLUMNS]
    notes = []
    for stream in status["streams"]:
        types = stream["types"]
        rows.append(
            (
                stream["node_id"] or "?",
                stream["node_cluster"] or "?",
                stream.get("gateway") or "-",
                stream["variant"],
                *(_state(types.get(short)) for short in SHORT_NAMES.values()),
            )
        )
        if stream.get("group_problem"):
            notes.append(f"{stream['node_id'] or '?'}: {stream['group_problem']}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.extend(notes)
    lines.append(f"snapshot {status['snapshot']}")
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _state(typed: dict[str, Any] | None) -> str:
    if typed is None:
        return "NOT SENT"
    if typed["in_flight"]:
        return f"SENT {typed['in_flight'][:8]}"
    if typed["nacked"] and typed["nacked"] != typed["acked"] and typed["nacks"]:
        return f"NACKED {typed['nacked'][:8]}"
    return f"ACKED {typed['acked'][:8]}" if typed["acked"] else "NOT ACKED"
