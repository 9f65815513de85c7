"""What the figures were measured on: the machine, and the version of everything involved."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import gobuild
from xdscp.demo.processes import envoy_binary

ROOT = gobuild.BENCH.parent
PEER_MODULES = (
    "github.com/envoyproxy/go-control-plane",
    "github.com/envoyproxy/go-control-plane/envoy",
)


def _output(*argv: str) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError:
        return ""


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _peer_modules() -> dict[str, str]:
    text = (gobuild.PROGRAMS["gcp-peer"] / "go.mod").read_text()
    found = dict(re.findall(r"^\s*(\S+) (v\S+)$", text, re.MULTILINE))
    return {module: found.get(module, "") for module in PEER_MODULES}


def collect() -> dict[str, Any]:
    envoy = _output(str(envoy_binary()), "--version")
    match = re.search(r"/(\d+\.\d+\.\d+)/", envoy)
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "xdscp": metadata.version("xdscp"),
        "xdscp_commit": _output("git", "-C", str(ROOT), "rev-parse", "HEAD"),
        "xdscp_tree": "modified"
        if _output("git", "-C", str(ROOT), "status", "--porcelain", "xdscp")
        else "clean",
        "grpcio": metadata.version("grpcio"),
        "protobuf": metadata.version("protobuf"),
        "envoy": match.group(1) if match else envoy,
        "go": _output("go", "env", "GOVERSION"),
        **_peer_modules(),
    }
