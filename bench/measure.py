"""Clocks and gauges: CPU seconds and memory of a process from /proc, percentiles."""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int | str = "self") -> float:
    """User plus system CPU seconds of a process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory(pid: int | str = "self") -> tuple[int, int]:
    """(resident set, its high-water mark) in bytes, from /proc/PID/status."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, kib, _ = line.split()
                values[name] = int(kib) * 1024
    return values["VmRSS:"], values["VmHWM:"]


def reset_peak(pid: int | str = "self") -> None:
    """Start VmHWM again from the current RSS (Linux: write 5 to clear_refs)."""
    with open(f"/proc/{pid}/clear_refs", "w") as refs:
        refs.write("5")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of at least one value."""
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in seconds]
    return {
        "count": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p90_ms": round(percentile(ms, 90), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(max(ms), 2),
    }


@dataclass(frozen=True)
class Cost:
    seconds: float  # the fastest of the repeats (wall)
    cpu_seconds: float  # CPU of that fastest repeat
    peak_bytes: int  # peak RSS growth over the first repeat
    retained_bytes: int  # RSS growth still held after it


def cost(run: Callable[[], Any], repeats: int) -> Cost:
    """Wall and CPU time (best of `repeats`) and memory (first repeat) of `run`.

    The first repeat's result is kept alive while measuring what stays resident, then dropped.
    """
    gc.collect()
    reset_peak()
    before, _ = memory()
    kept = run()
    after, peak = memory()
    del kept
    best, best_cpu = float("inf"), 0.0
    for _ in range(repeats):
        gc.collect()
        cpu, started = time.process_time(), time.perf_counter()
        run()
        elapsed = time.perf_counter() - started
        if elapsed < best:
            best, best_cpu = elapsed, time.process_time() - cpu
    return Cost(best, best_cpu, peak - before, after - before)
