"""docker-compose.yml run for real: up, a request through the Envoy container, the guide's
cluster in Envoy's config_dump, a policy edit applied, and down, always.

The test runs this, and so does `make compose-demo` (`python -m tests.deploy.composedemo`).
The stack runs from a copy of the compose file, policies/ and deploy/compose/ in a temp
dir, so editing its policies/ leaves the checkout alone; its host ports are free ones
(the compose file's ENVOY_PORT and ENVOY_ADMIN_PORT).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.processes import free_port
from xdscp.demo.processes import http_get, wait_for
from xdscp.verify import dynamic_clusters

from .engine import OVERRIDE, ROOT, Engine, EngineError, build_local_images, cache_dir, engine

CLUSTER = "kube_httpbin_httpbin_8000"  # the guide's httpbin Service, port 8000
HOST = "www.example.com"  # the guide's HTTPRoute hostname
POLICY = "httpbin-keepalive.yaml"
TIMEOUT = 180.0  # generous: containers start slowly on a loaded 2-core machine
PROJECT = "xdscp-demo"
PROJECT_LABEL = "com.docker.compose.project"


class ComposeStack:
    """The compose project (its network and containers) on an engine."""

    def __init__(self, engine: Engine, workdir: Path, *, local_images: bool) -> None:
        self.engine, self.workdir = engine, workdir
        # One name, one stack at a time (running_stack holds a lock): a run killed before its
        # `down` leaves what the next run's first `down` removes.
        self.project = PROJECT
        self.ports = {name: free_port() for name in ("ENVOY_PORT", "ENVOY_ADMIN_PORT")}
        shutil.copy(ROOT / "docker-compose.yml", workdir)
        shutil.copytree(ROOT / "policies", workdir / "policies")
        shutil.copytree(ROOT / "deploy" / "compose", workdir / "deploy" / "compose")
        files = [workdir / "docker-compose.yml"]
        if local_images:
            files.append(workdir / OVERRIDE.relative_to(ROOT))
        self.files = files
        # Readable by the containers' users (xdscp runs as 10001) whatever our umask was.
        for path in [workdir, *workdir.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)

    @property
    def policies(self) -> Path:
        return self.workdir / "policies"

    def url(self, port: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[port]}{path}"

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        argv = ["docker-compose", "--project-name", self.project]
        argv += [arg for file in self.files for arg in ("--file", str(file))]
        env = {**os.environ, **self.engine.env, **{k: str(v) for k, v in self.ports.items()}}
        return subprocess.run(
            [*argv, *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.workdir,
            timeout=timeout,
            check=False,
        )

    def up(self) -> None:
        # With the override, the images are built already (no registry to pull from).
        build = "--no-build" if len(self.files) > 1 else "--build"
        done = self.compose("up", "--detach", build)
        if done.returncode != 0:
            raise EngineError(f"docker-compose up failed:\n{done.stdout}{done.stderr}")

    def logs(self) -> str:
        return self.compose("logs", "--no-color", "--tail=40", timeout=60).stdout

    def down(self) -> None:
        """compose down, then whatever of the project is left (containers, then networks)."""
        self.compose("down", "--volumes", "--remove-orphans", "--timeout=5", timeout=180)
        for kind in ("container", "network"):
            names = self.engine.labelled(kind, PROJECT_LABEL, self.project)
            if names:
                self.engine.run(kind, "rm", "--force", *names)

    def leftovers(self) -> list[str]:
        """Containers and networks of this project still present (none after down)."""
        return [
            name
            for kind in ("container", "network")
            for name in self.engine.labelled(kind, PROJECT_LABEL, self.project)
        ]


@contextlib.contextmanager
def exclusive() -> Iterator[None]:
    """One compose stack at a time on this machine: the demo network's subnet and the
    project's name are fixed, so a second run waits for the first to be down."""
    lock = cache_dir() / "compose.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def running_stack(workdir: Path) -> Iterator[ComposeStack]:
    """The engine (podman's service unless Docker answers), the images, the stack: all
    brought down on the way out, whatever happened."""
    with exclusive(), engine() as found:
        local = found.name == "podman" or os.environ.get("XDSCP_COMPOSE_IMAGES") == "local"
        if local:
            build_local_images(found)
        stack = ComposeStack(found, workdir, local_images=local)
        try:
            stack.down()  # what a killed run left behind, if anything
            stack.up()
            yield stack
        except BaseException:
            print(f"--- compose logs ---\n{stack.logs()}", file=sys.stderr)
            raise
        finally:
            stack.down()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """(status, body); status 0 while nothing answers on the published port yet."""
    try:
        return http_get(url, headers)
    except OSError:
        return 0, b""


def through_envoy(stack: ComposeStack) -> int:
    """A request through the Envoy container's published listener to httpbin: its status."""
    return get(stack.url("ENVOY_PORT", "/get"), {"Host": HOST})[0]


def guide_cluster(stack: ComposeStack) -> dict[str, Any] | None:
    """The guide's cluster as Envoy has it, from config_dump on the published admin port."""
    status, body = get(stack.url("ENVOY_ADMIN_PORT", "/config_dump"))
    if status != 200:
        return None
    return dynamic_clusters(json.loads(body)).get(CLUSTER)


def keepalive(cluster: dict[str, Any] | None) -> dict[str, Any] | None:
    if cluster is None:
        return None
    options: dict[str, Any] = cluster.get("upstream_connection_options", {})
    return options.get("tcp_keepalive")


def edit_policy(stack: ComposeStack, probes: int) -> None:
    """What a user does: change keepAliveProbes in the mounted policies/ and save."""
    path = stack.policies / POLICY
    text = path.read_text()
    assert "keepAliveProbes: 3" in text, f"{POLICY} no longer sets keepAliveProbes: 3"
    path.write_text(text.replace("keepAliveProbes: 3", f"keepAliveProbes: {probes}"))


def prove(stack: ComposeStack, say: Callable[[str], object] = print) -> None:
    """The demo's checks, each polled with a deadline; raises on the first that fails."""
    wait_for(lambda: through_envoy(stack) == 200, TIMEOUT, "a 200 from httpbin through Envoy")
    say(f"200 from httpbin through Envoy: {stack.url('ENVOY_PORT', '/get')} (Host: {HOST})")
    applied = wait_for(lambda: keepalive(guide_cluster(stack)), TIMEOUT, f"{CLUSTER} keepalive")
    assert applied == {"keepalive_probes": 3, "keepalive_time": 30, "keepalive_interval": 5}, (
        applied
    )
    say(f"config_dump: {CLUSTER} tcp_keepalive {applied}")
    edit_policy(stack, 5)
    edited = wait_for(
        lambda: (k := keepalive(guide_cluster(stack))) and k["keepalive_probes"] == 5 and k,
        TIMEOUT,
        "the edited policy (keepAliveProbes: 5) in Envoy",
    )
    say(f"after editing policies/{POLICY}: tcp_keepalive {edited}")
    assert through_envoy(stack) == 200


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="bring it down after the checks")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="xdscp-compose-") as tmp,
        running_stack(Path(tmp)) as stack,
    ):
        print(
            f"{stack.engine.name}: project {stack.project} up after "
            f"{time.monotonic() - started:.0f} s"
        )
        prove(stack)
        print(f"all checks passed after {time.monotonic() - started:.0f} s")
        if not args.once:
            print(
                f"Envoy: {stack.url('ENVOY_PORT', '/get')} (Host: {HOST}); its admin: "
                f"{stack.url('ENVOY_ADMIN_PORT', '/')}; policies: {stack.policies}. Ctrl-C to stop."
            )
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
    print("stack down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
