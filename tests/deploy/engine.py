"""A container engine with a Docker API for docker-compose, and the images our machines build.

Where a Docker engine answers (`docker info`), that is the engine. Elsewhere podman serves
the Docker API on a socket of ours, configured by deploy/compose/local/containers.conf, with
its images and layers under ~/.cache/xdscp/containers so a clean clone reuses them.

No registry is reachable here, so the images of deploy/compose/local/docker-compose.local.yml
are built: a base made with debootstrap (base.sh, rebuilt only when its recipe changes), then
each Dockerfile on it (the engine's layer cache reuses every step whose inputs are unchanged).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from xdscp.demo.processes import wait_for

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / "deploy" / "compose" / "local"
OVERRIDE = LOCAL / "docker-compose.local.yml"
CONTAINERS_CONF = LOCAL / "containers.conf"
BASE_RECIPE = LOCAL / "base.sh"
RECIPE_LABEL = "org.xdscp.recipe"
START_TIMEOUT = 60.0


class EngineError(RuntimeError):
    """The engine could not be started, or a command it ran failed."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "xdscp" / "containers"


@dataclass
class Engine:
    """A Docker API endpoint (for docker-compose) and the CLI of the same engine."""

    name: str  # "docker" or "podman"
    cli: list[str]
    env: dict[str, str] = field(default_factory=dict)  # DOCKER_HOST and the like

    def run(
        self, *args: str, input: bytes | None = None, timeout: float = 900
    ) -> subprocess.CompletedProcess[bytes]:
        """Runs the engine's CLI; raises EngineError with its output when it fails."""
        done = subprocess.run(
            [*self.cli, *args],
            input=input,
            capture_output=True,
            env={**os.environ, **self.env},
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            command = " ".join(args[:3])
            raise EngineError(f"{self.name} {command} failed ({done.returncode}):\n{_tail(done)}")
        return done

    def labelled(self, kind: str, label: str, value: str) -> list[str]:
        """IDs of the containers (all, running or not) or networks labelled label=value."""
        every = ["--all"] if kind == "container" else []
        listed = self.run(kind, "ls", *every, "--quiet", f"--filter=label={label}={value}")
        return listed.stdout.decode().split()

    def label(self, image: str, name: str) -> str | None:
        """The image's label `name`, or None when the image (or the label) is missing."""
        with contextlib.suppress(EngineError):
            template = f'{{{{index .Config.Labels "{name}"}}}}'
            value = self.run("image", "inspect", "--format", template, image).stdout.decode()
            return value.strip() or None
        return None


def _tail(done: subprocess.CompletedProcess[bytes], lines: int = 40) -> str:
    text = (done.stdout + done.stderr).decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def docker_answers() -> bool:
    """A Docker engine is present and running (the Docker CLI reaches it)."""
    if shutil.which("docker") is None:
        return False
    with contextlib.suppress(subprocess.TimeoutExpired):
        probe = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
        return probe.returncode == 0
    return False


@contextlib.contextmanager
def engine() -> Iterator[Engine]:
    """The Docker engine if one answers, else a podman service of ours, stopped on exit."""
    if docker_answers():
        yield Engine("docker", ["docker"])
        return
    with podman_service() as podman:
        yield podman


@contextlib.contextmanager
def podman_service() -> Iterator[Engine]:
    """`podman system service` on a socket in a temp dir; stopped by its pid, always."""
    if shutil.which("podman") is None:
        raise EngineError("podman is not installed: apt-get install podman runc (see .ci/run)")
    store = cache_dir() / "storage"
    # One run root per store, always the same, as podman's database expects (/run: a tmpfs,
    # reset on reboot as podman assumes).
    runroot = Path("/run") / f"xdscp-containers-{recipe_key(str(store).encode())}"
    cli = ["podman", f"--root={store}", f"--runroot={runroot}"]
    with tempfile.TemporaryDirectory(prefix="xdscp-podman-") as tmp:
        socket = Path(tmp) / "podman.sock"
        env = {"CONTAINERS_CONF": str(CONTAINERS_CONF), "DOCKER_HOST": f"unix://{socket}"}
        log = Path(tmp) / "service.log"
        with log.open("wb") as out:
            service = subprocess.Popen(
                [*cli, "system", "service", "--time=0", f"unix://{socket}"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env},
                start_new_session=True,
            )
        podman = Engine("podman", cli, env)
        try:
            wait_for(
                lambda: _service_ready(podman, service, log),
                START_TIMEOUT,
                "podman's Docker API socket",
            )
            yield podman
        finally:
            _stop(service)


def _service_ready(podman: Engine, service: subprocess.Popen[bytes], log: Path) -> bool:
    if service.poll() is not None:
        raise EngineError(f"podman system service exited:\n{log.read_text(errors='replace')}")
    socket = Path(podman.env["DOCKER_HOST"].removeprefix("unix://"))
    return socket.exists()


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the service's process group by its pid, SIGKILL if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)


# --- Images ---------------------------------------------------------------------------------


def recipe_key(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:16]


def local_images() -> dict[str, dict[str, Any]]:
    """Service name -> its `build` and `image` in the override."""
    services: dict[str, dict[str, Any]] = yaml.safe_load(OVERRIDE.read_text())["services"]
    return services


def base_image() -> str:
    """The one base every local image is built FROM (a build argument of each)."""
    (base,) = {service["build"]["args"]["BASE_IMAGE"] for service in local_images().values()}
    return str(base)


def ensure_base(podman: Engine) -> str:
    """The debootstrap base, imported once per recipe (base.sh and the CA bundle it copies),
    tagged with the recipe's hash: checkouts with different recipes each keep theirs (and
    their layer caches). The override's name for it is tagged too, for `docker-compose build`."""
    alias = base_image()
    ca_bundle = Path(os.environ.get("XDSCP_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt"))
    key = recipe_key(BASE_RECIPE.read_bytes(), ca_bundle.read_bytes())
    image = f"{alias}-{key}"
    if podman.label(image, RECIPE_LABEL) == key:
        podman.run("tag", image, alias)
        return image
    if shutil.which("debootstrap") is None:
        raise EngineError("debootstrap is not installed: apt-get install debootstrap (.ci/run)")
    with tempfile.TemporaryDirectory(prefix="xdscp-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        built = subprocess.run(
            [str(BASE_RECIPE), str(rootfs)], capture_output=True, timeout=1200, check=False
        )
        if built.returncode != 0:
            raise EngineError(f"{BASE_RECIPE.name} failed:\n{_tail(built)}")
        tar = subprocess.run(
            ["tar", "-C", str(rootfs), "-c", "."], capture_output=True, timeout=600, check=True
        )
    changes = [
        "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
        'CMD ["python3"]',
        f"LABEL {RECIPE_LABEL}={key}",
    ]
    podman.run(
        "import", *(f"--change={change}" for change in changes), "-", image, input=tar.stdout
    )
    podman.run("tag", image, alias)
    return image


def build_local_images(podman: Engine) -> None:
    """Every image the override names, on the base; unchanged steps come from the layer cache."""
    base = ensure_base(podman)
    for service in local_images().values():
        build = service["build"]
        context = ROOT / build["context"]
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        podman.run(
            "build",
            # The host's network: its resolver and routes reach PyPI on an engine that sets
            # up no NAT for its bridges (dockerd --iptables=false) as well as on podman.
            "--network=host",
            f"--file={dockerfile}",
            f"--tag={service['image']}",
            *(f"--build-arg={name}={value}" for name, value in _args(build, base).items()),
            str(context),
        )
    # Images rebuilds replaced a day ago or more (their layers stay while a tagged image uses
    # them). Not younger ones: another checkout's build may still be their cache.
    podman.run("image", "prune", "--force", "--filter=until=24h")


def _args(build: Mapping[str, Any], base: str) -> dict[str, str]:
    args = {str(name): str(value) for name, value in build.get("args", {}).items()}
    return {**args, "BASE_IMAGE": base}
