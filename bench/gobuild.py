"""Go programs of the bench (the peer, the load generator), built once per source version.

Binaries are cached outside the checkout, under ~/.cache/xdscp/bench/<key>/, where the key
hashes the sources, go.mod, go.sum and the Go version; modules and build cache are shared
with the other Go builds of the project under ~/.cache/xdscp/go.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

BENCH = Path(__file__).resolve().parent
CACHE = Path.home() / ".cache" / "xdscp"
PROGRAMS = {"gcp-peer": BENCH / "peers" / "go-control-plane", "loadgen": BENCH / "loadgen"}
BUILD_TIMEOUT = 600


def go_env() -> dict[str, str]:
    return {
        **os.environ,
        "GOMODCACHE": str(CACHE / "go" / "mod"),
        "GOCACHE": str(CACHE / "go" / "build"),
        "GOFLAGS": "-mod=mod",
        "CGO_ENABLED": "0",
    }


def go_version() -> str:
    return subprocess.run(
        ["go", "env", "GOVERSION"], env=go_env(), capture_output=True, text=True, check=True
    ).stdout.strip()


def binary(program: str) -> Path:
    """The program's binary, built now if these sources were never built."""
    source = PROGRAMS[program]
    digest = hashlib.sha256(go_version().encode())
    for path in sorted(source.iterdir()):
        if path.suffix == ".go" or path.name in ("go.mod", "go.sum"):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    target = CACHE / "bench" / digest.hexdigest()[:16] / program
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["go", "build", "-trimpath", "-o", str(target), "."],
            cwd=source,
            env=go_env(),
            check=True,
            timeout=BUILD_TIMEOUT,
        )
    return target
