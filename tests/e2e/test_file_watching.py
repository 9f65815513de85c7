"""Watching that cannot go stale, against a live Envoy: relative and single-file paths, a
directory removed and made again, a symlink re-pointed, a path that only exists later, and
a save that truncates before it writes."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.test_policy_dir_faults import probes
from tests.files import replace
from tests.live import POLICY, ROOT, Stack
from tests.processes import Envoy, free_port
from xdscp.demo.processes import BIN, Process, bootstrap, http_get, wait_for
from xdscp.sources.files import REMOVAL_GRACE_SECONDS

pytestmark = [pytest.mark.envoy, pytest.mark.process]


@contextmanager
def serving(policies: tuple[Path, int], tmp_path: Path, paths: list[Path]) -> Iterator[Stack]:
    """xdscp serving `paths` as given on its command line, and an Envoy (state of the world:
    watching files does not depend on the protocol)."""
    stack = Stack(policies[0], tmp_path, policies[1], delta=False)
    try:
        stack.start_xdscp(paths=paths)
        stack.start_envoy()
        yield stack
    finally:
        stack.stop()


def replace_text(path: Path, old: str, new: str) -> None:
    """Edit in place, as `sed -i` does: write beside, rename over."""
    replace(path, path.read_text().replace(old, new))


def problems(stack: Stack) -> list[str]:
    assert stack.xdscp is not None
    found: list[str] = stack.xdscp.get_json("/policies")["problems"]
    return found


def test_a_relative_directory_path_applies_every_edit(
    policies: tuple[Path, int], tmp_path: Path
) -> None:
    assert policies[0].parent == tmp_path  # xdscp runs in tmp_path: `xdscp serve policies`
    with serving(policies, tmp_path, [Path("policies")]) as stack:
        probes(stack, 3)
        replace_text(stack.policies / POLICY, "Probes: 3", "Probes: 5")
        probes(stack, 5)
        (stack.policies / POLICY).write_text(stack.policy_text().replace("Probes: 3", "Probes: 7"))
        probes(stack, 7)


def test_single_files_as_paths_apply_every_edit(policies: tuple[Path, int], tmp_path: Path) -> None:
    files = sorted(Path("policies") / p.name for p in policies[0].glob("*.yaml"))
    with serving(policies, tmp_path, files) as stack:
        probes(stack, 3)
        replace_text(stack.policies / POLICY, "Probes: 3", "Probes: 5")  # a new inode
        probes(stack, 5)
        (stack.policies / POLICY).write_text(stack.policy_text().replace("Probes: 3", "Probes: 7"))
        probes(stack, 7)


def test_a_directory_removed_and_made_again_is_followed(
    policies: tuple[Path, int], tmp_path: Path
) -> None:
    saved = tmp_path / "saved"
    shutil.copytree(policies[0], saved)
    with serving(policies, tmp_path, [policies[0]]) as stack:
        probes(stack, 3)
        shutil.rmtree(stack.policies)
        wait_for(
            lambda: any("no such file or directory" in p for p in problems(stack)),
            20,
            "the missing directory to be reported",
        )
        assert stack.wait_ok() == 200  # its objects are kept meanwhile
        shutil.copytree(saved, stack.policies)
        replace_text(stack.policies / POLICY, "Probes: 3", "Probes: 4")
        probes(stack, 4)
        replace_text(stack.policies / POLICY, "Probes: 4", "Probes: 5")  # and later edits
        probes(stack, 5)
        assert problems(stack) == []


def test_a_symlink_re_pointed_atomically_switches_whole_trees(
    policies: tuple[Path, int], tmp_path: Path
) -> None:
    v1, v2 = tmp_path / "v1", tmp_path / "v2"
    policies[0].rename(v1)
    shutil.copytree(v1, v2)
    replace_text(v2 / POLICY, "Probes: 3", "Probes: 5")
    current = tmp_path / "current"
    current.symlink_to("v1")
    with serving(policies, tmp_path, [Path("current")]) as stack:
        probes(stack, 3)
        # `ln -sfn v2 current.tmp && mv -T current.tmp current`
        subprocess.run(["ln", "-sfn", "v2", "current.tmp"], cwd=tmp_path, check=True)
        subprocess.run(["mv", "-T", "current.tmp", "current"], cwd=tmp_path, check=True)
        probes(stack, 5)
        replace_text(v1 / POLICY, "Probes: 3", "Probes: 8")  # the old tree: not served
        replace_text(v2 / POLICY, "Probes: 5", "Probes: 6")
        probes(stack, 6)
        replace_text(v2 / POLICY, "Probes: 6", "Probes: 7")
        probes(stack, 7)


def test_a_path_missing_at_start_serves_nothing_until_it_exists(
    policies: tuple[Path, int], tmp_path: Path
) -> None:
    later = tmp_path / "later"
    xds_port, admin_port = free_port(), free_port()
    argv = [str(BIN / "python"), "-m", "xdscp", "serve", str(later)]
    argv += ["--xds-address", f"127.0.0.1:{xds_port}", "--admin-port", str(admin_port)]
    argv += ["--listener-address", "127.0.0.1"]
    server = Process("xdscp", argv, tmp_path)
    stack = Stack(later, tmp_path, policies[1], delta=False)
    admin = f"http://127.0.0.1:{admin_port}"

    def answer(path: str) -> int | None:
        server.check_alive()
        try:
            return http_get(admin + path)[0]
        except OSError:
            return None

    try:
        wait_for(lambda: answer("/healthz") == 200, 30, "xdscp to answer /healthz")
        assert answer("/readyz") == 503
        assert str(later) in server.log_tail()  # the log names what it waits for
        shutil.copytree(policies[0], later)
        wait_for(lambda: answer("/readyz") == 200, 20, "/readyz once the path exists")
        stack.envoy = Envoy(bootstrap(ROOT / "envoy" / "bootstrap.yaml", xds_port), tmp_path)
        assert stack.wait_ok() == 200
    finally:
        stack.stop()
        server.stop()


def test_a_save_that_truncates_first_never_removes_the_service(stack: Stack) -> None:
    """`kubectl get -o yaml > file`: the file is empty while the request runs. The route keeps
    answering 200 all along, and the edit then applies."""
    assert stack.wait_ok() == 200
    endpoints = stack.policies / "httpbin-endpoints.yaml"
    text = endpoints.read_text()
    with endpoints.open("w") as file:  # truncated: valid YAML, with no objects in it
        file.flush()
        wait_for(
            lambda: any("save is in progress" in p for p in problems(stack)),
            20,
            "xdscp to see the emptied file",
        )
        for _ in range(20):
            assert stack.get() == 200
        file.write(text)
    assert stack.get() == 200
    wait_for(lambda: problems(stack) == [], 20, "the held objects to be found again")
    assert stack.get() == 200


def test_a_deleted_file_still_removes_its_objects(stack: Stack) -> None:
    assert stack.wait_ok() == 200
    (stack.policies / "httpbin-endpoints.yaml").unlink()
    status = wait_for(
        lambda: (code := stack.get()) != 200 and code, REMOVAL_GRACE_SECONDS + 20, "removal"
    )
    assert status == 503  # no endpoints left: Envoy's "no healthy upstream"
    assert problems(stack) == []


def test_a_huge_file_is_refused_by_its_size_without_reading_it(
    policies: tuple[Path, int], tmp_path: Path
) -> None:
    with serving(policies, tmp_path, [policies[0]]) as stack:
        probes(stack, 3)
        huge = stack.policies / "huge.yaml"
        with huge.open("wb") as file:
            file.truncate(1 << 30)  # 1 GiB, sparse: only a read would cost memory
        wait_for(lambda: any("larger than" in p for p in problems(stack)), 20, "the size refusal")
        replace_text(stack.policies / POLICY, "Probes: 3", "Probes: 5")
        probes(stack, 5)
        assert stack.xdscp is not None
        rss = _rss_bytes(stack.xdscp.popen.pid)
        assert rss < 512 << 20, rss


def _rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    (line,) = [x for x in status.splitlines() if x.startswith("VmHWM:")]
    return int(line.split()[1]) * 1024
