"""Profiles of the two slowest paths, with pyinstrument, into bench/results/profiles/:

1. one policy changed among 10,000 Services, until the new snapshot is ready (in process);
2. one change fanned out to 1,000 streams (xdscp's harness, profiled from the change on,
   while the Go load generator holds the streams), state of the world and delta.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial
from pathlib import Path

from bench import fanout, gobuild, servers
from bench.build import LISTENER_PORT, OPTIONS, serialized
from bench.fleet import Model
from bench.run import CHANGED
from tests.processes import free_port, workdir
from xdscp.snapshot import Snapshot
from xdscp.translate import Translator

PROFILES = Path(__file__).resolve().parent / "results" / "profiles"


def incremental(n: int, changes: int) -> str:
    from pyinstrument import Profiler  # a dev tool: `make bench-profile` installs it

    model = Model(n, LISTENER_PORT)
    translator = Translator(OPTIONS)
    previous = serialized(Snapshot.build(translator.translate(model.resources())))
    profiler = Profiler()
    profiler.start()
    for k in range(changes):
        model.change(1 + k)
        previous = Snapshot.build(translator.translate(model.resources()), previous)
    profiler.stop()
    return str(profiler.output_text(show_all=False))


def fan_out(n: int, load: fanout.Load) -> str:
    loadgen = gobuild.binary("loadgen")
    with workdir("xdscp-profile-") as where:
        path = where / "profile.txt"
        server = servers.harness(where, n, free_port(), profile=path)
        try:
            result = fanout.run(server, loadgen, load, CHANGED)
        finally:
            server.stop()
        return f"{result}\n\n{path.read_text() if path.exists() else '(no profile)'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--fanout-n", type=int, default=1000)
    args = parser.parse_args()
    PROFILES.mkdir(parents=True, exist_ok=True)
    outputs: dict[str, Callable[[], str]] = {
        f"incremental-{args.n}.txt": partial(incremental, args.n, 5)
    }
    for delta in (False, True):
        name = f"fanout-{'delta' if delta else 'sotw'}-{args.fanout_n}x1000.txt"
        outputs[name] = partial(fan_out, args.fanout_n, fanout.Load(1000, delta))
    for name, make in outputs.items():
        (PROFILES / name).write_text(make())
        print(PROFILES / name)


if __name__ == "__main__":
    main()
