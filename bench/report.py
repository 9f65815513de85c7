"""Figures from the raw results: each with xdscp's value, its floor (or the reference figure
the spec gives), each peer's value, the target, and whether it is met. And a short table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.contenders import PEERS

MS, MB = 1000.0, 2.0**20
# "Measured with a live Envoy 1.40" (xds-protocol.md): a minimal Python reference server.
REFERENCE_PUSH_P50 = {"sotw@1000": 10.8, "delta@1000": 1.6, "sotw@10000": 126, "delta@10000": 1.7}
REFERENCE_FANOUT = {"sotw@1000": 250, "delta@1000": 174, "sotw@10000": 972, "delta@10000": 186}
Results = Mapping[str, Any]


@dataclass
class Figure:
    item: str
    name: str
    unit: str
    xdscp: float | str | None
    floor: float | str | None = None
    floor_is: str = ""
    peers: dict[str, float | str | None] = field(default_factory=dict)
    target: str = ""
    met: bool | None = None


def _dig(tree: Any, *path: Any) -> Any:
    for step in path:
        if isinstance(tree, Mapping) and step not in tree:
            step = str(step)  # sizes are int keys, and strings once read back from JSON
        if not isinstance(tree, Mapping) or step not in tree:
            return None
        tree = tree[step]
    return tree


def _scaled(value: Any, factor: float) -> float | None:
    if isinstance(value, int) and factor == 1:
        return value
    return round(value * factor, 2) if isinstance(value, int | float) else None


def _peers(results: Results, section: str, *path: Any, factor: float = 1.0) -> dict[str, Any]:
    """Each peer's value at results[section][peer][*path], scaled; peers without one left out."""
    values: dict[str, Any] = {}
    for peer in PEERS:
        value = _dig(results, section, peer.label, *path)
        error = _dig(results, section, peer.label, path[0], "error") if path else None
        values[peer.label] = _scaled(value, factor) if value is not None else error and "error"
    return {label: value for label, value in values.items() if value is not None}


def _best(peers: Mapping[str, Any]) -> float | None:
    numbers = [v for v in peers.values() if isinstance(v, int | float)]
    return min(numbers) if numbers else None


def _ahead(ours: Any, peers: Mapping[str, Any]) -> bool | None:
    best = _best(peers)
    if not isinstance(ours, int | float):
        return None
    return True if best is None else ours <= best


def snapshot_figures(results: Results) -> list[Figure]:
    out = []
    build = results["build"]
    for n in sorted(build.get("snapshot", {}), key=int):
        ours = _scaled(_dig(build, "snapshot", n, "seconds"), MS)
        floor = _scaled(_dig(build, "floor_endpoints", n, "seconds"), MS)
        clusters_only = _scaled(_dig(build, "floor_clusters", n, "seconds"), MS)
        peers = _peers(results, "peer_publish", n, "publish_seconds", factor=MS)
        met = ours is not None and floor is not None and ours <= 2 * floor
        out.append(
            Figure(
                "1",
                f"full snapshot, {n} Services",
                "ms",
                ours,
                floor,
                f"raw protobuf clusters + endpoints ({clusters_only} ms clusters only)",
                peers,
                "<= 2x floor, < peer",
                met and bool(_ahead(ours, peers)),
            )
        )
        out.append(
            Figure(
                "1",
                f"full snapshot peak memory, {n} Services",
                "MB",
                _scaled(_dig(build, "snapshot", n, "peak_bytes"), 1 / MB),
                _scaled(_dig(build, "floor_endpoints", n, "peak_bytes"), 1 / MB),
                "raw protobuf",
                _peers(results, "peer_publish", n, "peak_rss_growth_bytes", factor=1 / MB),
                "reported",
            )
        )
    return out


def incremental_figures(results: Results) -> list[Figure]:
    out = []
    build = results["build"]
    floor = _scaled(_dig(build, "floor_endpoints", 1, "seconds"), MS)
    for n in sorted(build.get("incremental", {}), key=int):
        ours = _scaled(_dig(build, "incremental", n, "median_seconds", "total"), MS)
        out.append(
            Figure(
                "2",
                f"one policy changed, model to snapshot, {n} Services",
                "ms",
                ours,
                floor,
                "raw protobuf, the changed cluster and endpoints",
                _peers(results, "peer_publish", n, "change_seconds", factor=MS),
                "a few ms (<= 5), independent of N",
                ours is not None and ours <= 5,
            )
        )
    biggest = max(build.get("incremental", {}) or [0], key=int)
    sent = _dig(build, "incremental", biggest, "sent", "delta")
    if sent:
        by_type = sent["resources_by_type"]
        fanouts = _dig(results, "fanout", "xdscp") or {}
        fanout_key = next(
            (k for k in (f"delta@{biggest}x1000", "delta@1000x1000") if k in fanouts), ""
        )
        out.append(
            Figure(
                "2",
                f"bytes to a delta client, one change, {biggest} Services",
                "bytes",
                sent["bytes"],
                _dig(build, "incremental", biggest, "floor_bytes"),
                f"the changed cluster and endpoints, serialized; peers: {fanout_key or '-'}",
                _peers(results, "fanout", fanout_key, "bytes_per_stream"),
                "only the cluster and its endpoints",
                by_type == {"cds": 1, "eds": 1},
            )
        )
    return out


def push_figures(results: Results) -> list[Figure]:
    out = []
    for name in sorted(_dig(results, "push", "xdscp") or {}, key=_order):
        for q in ("p50", "p99"):
            ours = _dig(results, "push", "xdscp", name, "ack", f"{q}_ms")
            peers = _peers(results, "push", name, "ack", f"{q}_ms")
            limit = 20 if q == "p50" else 60
            out.append(
                Figure(
                    "3",
                    f"push {q}, POST /change to Envoy ACK, {name}",
                    "ms",
                    ours if ours is not None else _error(results, "push", "xdscp", name),
                    REFERENCE_PUSH_P50.get(name) if q == "p50" else None,
                    "spec's reference server (p50)" if q == "p50" else "",
                    peers,
                    f"< {limit} ms, <= peer",
                    isinstance(ours, int | float) and ours < limit and bool(_ahead(ours, peers)),
                )
            )
    out += _served_figures(results, "files", "policy file saved")
    out += _served_figures(results, "kubernetes", "Kubernetes policy patched")
    return out


def _served_figures(results: Results, section: str, what: str) -> list[Figure]:
    """`xdscp serve` with a live Envoy, from `what` to the ACK; beside the peer's POST /change."""
    out = []
    for name, value in sorted((results.get(section) or {}).items(), key=lambda kv: _order(kv[0])):
        for q in ("p50", "p99"):
            ours = _dig(value, "ack", f"{q}_ms")
            limit = 20 if q == "p50" else 60
            out.append(
                Figure(
                    "3",
                    f"push {q}, {what} to Envoy ACK, {name}",
                    "ms",
                    ours if ours is not None else _error(results, section, name),
                    None,
                    "",
                    _peers(results, "push", name, "ack", f"{q}_ms"),
                    f"< {limit} ms (peer: its POST /change figure)",
                    isinstance(ours, int | float) and ours < limit,
                )
            )
    return out


def fanout_figures(results: Results) -> list[Figure]:
    out = []
    for name in sorted(_dig(results, "fanout", "xdscp") or {}, key=_order):
        base = name.split("x")[0]
        if name.endswith("-stampede"):
            out.extend(_stampede_figures(results, name, base))
            continue
        ours = _dig(results, "fanout", "xdscp", name, "latency_ms", "last")
        peers = _peers(results, "fanout", name, "latency_ms", "last")
        out.append(
            Figure(
                "4",
                f"fan-out, last of 1000 streams has the change, {base}",
                "ms",
                ours if ours is not None else _error(results, "fanout", "xdscp", name),
                REFERENCE_FANOUT.get(base),
                "spec's reference server",
                peers,
                "< 1000 ms, ahead of peer",
                isinstance(ours, int | float) and ours < 1000 and bool(_ahead(ours, peers)),
            )
        )
        for metric, unit, factor, target in (
            ("server_cpu_seconds", "s", 1.0, "reported"),
            ("peak_rss_bytes", "MB", 1 / MB, "< 300 MB, ahead of peer"),
            ("rss_per_stream_bytes", "KB", 1024 / MB, "ahead of peer"),
        ):
            ours = _scaled(_dig(results, "fanout", "xdscp", name, metric), factor)
            peers = _peers(results, "fanout", name, metric, factor=factor)
            met = _ahead(ours, peers) if target != "reported" else None
            if metric == "peak_rss_bytes" and met is not None:
                met = met and ours is not None and ours < 300
            out.append(
                Figure(
                    "4",
                    f"fan-out {metric.replace('_', ' ')}, {base}",
                    unit,
                    ours,
                    peers=peers,
                    target=target,
                    met=met,
                )
            )
    for name in sorted(_dig(results, "memory", "xdscp") or {}):
        ours = _scaled(_dig(results, "memory", "xdscp", name, "synced_rss_bytes"), 1 / MB)
        peers = _peers(results, "memory", name, "synced_rss_bytes", factor=1 / MB)
        out.append(
            Figure(
                "5",
                f"server RSS, {name.replace('x', ' streams ')}",
                "MB",
                ours,
                peers=peers,
                target="beside the peer",
                met=_ahead(ours, peers),
            )
        )
    return out


def _stampede_figures(results: Results, name: str, base: str) -> list[Figure]:
    """A fleet restart: every stream connects at once (no ramp)."""
    out = []
    for what, path, unit, factor, target, limit in (
        ("all in sync", ("sync_seconds",), "s", 1.0, "<= 5 s", 5.0),
        ("then a change reaches the last", ("latency_ms", "last"), "ms", 1.0, "<= 250 ms", 250.0),
        ("peak RSS", ("peak_rss_bytes",), "MB", 1 / MB, "<= 250 MB", 250.0),
    ):
        ours = _scaled(_dig(results, "fanout", "xdscp", name, *path), factor)
        peers = _peers(results, "fanout", name, *path, factor=factor)
        out.append(
            Figure(
                "4",
                f"stampede, 1000 streams connecting at once, {what}, {base}",
                unit,
                ours if ours is not None else _error(results, "fanout", "xdscp", name),
                peers=peers,
                target=target,
                met=isinstance(ours, int | float) and ours <= limit,
            )
        )
    return out


def _order(name: str) -> tuple[int, str]:
    return (int(name.split("@")[1].split("x")[0]), name)


def _error(results: Results, *path: str) -> str | None:
    error = _dig(results, *path, "error")
    return f"error: {error}" if error else None


def same_figures(results: Results) -> list[Figure]:
    same = results.get("same_resources")
    if not same:
        return []
    if "error" in same:
        return [Figure("1-5", "same resources as the peer", "", f"error: {same['error']}")]
    counts = _dig(same, "snapshot", "initial", "resources") or {}
    verdict = {
        f"go-{cache}-p2": "same" if all(v["same"] for v in checks.values()) else "DIFFER"
        for cache, checks in same.items()
    }
    return [
        Figure(
            "1-5",
            "same resources as the peer (wire hashes, before and after a change)",
            "",
            f"{sum(counts.values())} resources",
            peers=dict(verdict),
            target="identical",
            met=all(v == "same" for v in verdict.values()),
        )
    ]


def figures(results: Results) -> list[dict[str, Any]]:
    found = [
        *same_figures(results),
        *snapshot_figures(results),
        *incremental_figures(results),
        *push_figures(results),
        *fanout_figures(results),
    ]
    return [asdict(f) for f in found]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) < 1000 else f"{value:.0f}"
    text = str(value)
    return text if len(text) <= 40 else text[:39] + "…"


def table(document: Mapping[str, Any]) -> str:
    """A short Markdown table of every figure."""
    meta = document["meta"]
    peers = [p.label for p in PEERS]
    head = ["item", "figure", "unit", "xdscp", "floor/ref", *peers, "target", "met"]
    lines = [
        f"{meta['cpus']} CPUs ({meta['cpu_model']}), Python {meta['python']}, xdscp {meta['xdscp']}"
        f" ({meta['xdscp_commit'][:8]}), Envoy {meta['envoy']}, {meta['go']}, go-control-plane"
        f" {meta.get('github.com/envoyproxy/go-control-plane')}; {meta['mode']} run in"
        f" {meta['seconds']} s. Peers: go-<cache>-p<GOMAXPROCS>.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for f in document["figures"]:
        met = {True: "yes", False: "NO", None: ""}[f["met"]]
        row = [f["item"], f["name"], f["unit"], _cell(f["xdscp"]), _cell(f["floor"])]
        row += [_cell(f["peers"].get(p)) for p in peers] + [f["target"], met]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main() -> None:
    """Print the table of a results file again, with the figures recomputed from its results."""
    import json
    import sys
    from pathlib import Path

    document = json.loads(Path(sys.argv[1]).read_text())
    document["figures"] = figures(document["results"])
    print(table(document))


if __name__ == "__main__":
    main()
