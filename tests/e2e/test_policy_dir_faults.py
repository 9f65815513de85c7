"""The policy directory replaced atomically (as a ConfigMap volume does) or written in halves."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_guide import GUIDE_KEEPALIVE, keepalive
from tests.live import POLICY, Stack
from xdscp.demo.processes import wait_for

pytestmark = [pytest.mark.envoy, pytest.mark.process]


def as_configmap_volume(policies: Path, version: str) -> None:
    """Move the files under `..<version>`, reached through `..data`, with top-level links:
    the layout the kubelet writes, whose updates swap the `..data` link in one rename."""
    data = policies / f"..{version}"
    data.mkdir()
    for path in sorted(policies.glob("*.yaml")):
        path.rename(data / path.name)
        (policies / path.name).symlink_to(Path("..data") / path.name)
    (policies / "..data").symlink_to(data.name)


def swap_configmap(policies: Path, version: str, text: str) -> None:
    current = policies / os.readlink(policies / "..data")
    new = policies / f"..{version}"
    shutil.copytree(current, new)
    (new / POLICY).write_text(text)
    link = policies / "..data_tmp"
    link.symlink_to(new.name)
    link.rename(policies / "..data")  # atomic, as the kubelet does it


def probes(stack: Stack, count: int) -> Any:
    return stack.wait_cluster(
        lambda c: keepalive(c) == {**GUIDE_KEEPALIVE, "keepalive_probes": count},
        f"probes {count}",
    )


def test_configmap_style_atomic_swap_reaches_envoy_without_duplicates(stack: Stack) -> None:
    assert stack.xdscp is not None
    probes(stack, 3)
    as_configmap_volume(stack.policies, "v1")
    swap_configmap(stack.policies, "v2", stack.policy_text().replace("Probes: 3", "Probes: 5"))
    probes(stack, 5)
    assert stack.xdscp.get_json("/policies")["problems"] == []
    assert stack.wait_ok() == 200


def test_half_written_file_keeps_the_last_good_cluster_until_it_is_whole(stack: Stack) -> None:
    server = stack.xdscp
    assert server is not None
    probes(stack, 3)
    text = stack.policy_text().replace("Probes: 3", "Probes: 6")
    target = stack.policies / POLICY
    # Cut inside a key: `tcpKeepalive: kee`, YAML that is no policy.
    # write_text truncates first: the watcher may see the empty file before the cut one, and
    # report the policy gone from it (held 3 s) before it reports the field.
    target.write_text(text[: text.index("keepAliveProbes") + 3])
    wait_for(
        lambda: (
            [p for p in server.get_json("/policies")["problems"] if "spec.tcpKeepalive" in p]
            or None
        ),
        20,
        "the half-written file to be reported, naming the field",
    )
    assert keepalive(stack.cluster() or {}) == GUIDE_KEEPALIVE
    target.write_text(text)
    probes(stack, 6)
