"""An invalid policy on a live stack: Envoy keeps the last good cluster, and the error the server
logged is the very line `xdscp validate` prints for the same directory.

Each broken edit also raises keepAliveProbes from 3 to 7, a valid change: had xdscp applied
any part of the broken policy (or dropped the policy), the live cluster would show it. Two
kinds of error: one the CRD's own rules refuse, and one only Envoy would refuse (the API
server admits it, so without xdscp's check Envoy would NACK it).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.test_guide import GUIDE_KEEPALIVE, keepalive
from tests.live import Stack
from tests.processes import Xdscp
from xdscp.demo.processes import wait_for

pytestmark = [pytest.mark.envoy, pytest.mark.process]

LOGGED = (
    " WARNING xdscp: "  # how the server's log prints a problem: "<time> WARNING xdscp: <problem>"
)


@dataclass(frozen=True)
class Broken:
    addition: str  # appended to the guide's spec
    error: str  # what the problem line must say


CASES = {
    "crd-rule": Broken(
        "  connectTimeout: '30'\n",
        'spec.connectTimeout: Invalid value: "30": invalid duration value',
    ),
    "envoy-rule": Broken(
        "  loadBalancer:\n    leastRequest: {choiceCount: 1}\n",
        "spec.loadBalancer.leastRequest.choiceCount: Invalid value: 1: "
        "Envoy requires choiceCount to be at least 2",
    ),
}


def gateway_cds(server: Xdscp) -> dict[str, Any] | None:
    streams = server.get_json("/status")["streams"]
    stream = next((s for s in streams if s["node_id"] == "gateway-1"), None)
    return stream["types"].get("cds") if stream else None


def settled(server: Xdscp) -> tuple[str, dict[str, Any]] | None:
    """(snapshot version, gateway-1's CDS status) once nothing is in flight to it."""
    snapshot = server.get_json("/status")["snapshot"]
    cds = gateway_cds(server)
    return (snapshot, cds) if cds and cds["acked"] and not cds["in_flight"] else None


def logged_problems(server: Xdscp, offset: int) -> list[str]:
    """The problems the server logged after `offset` bytes of its log."""
    with server.log_path.open("rb") as log:
        log.seek(offset)
        text = log.read().decode(errors="replace")
    return [line.split(LOGGED, 1)[1] for line in text.splitlines() if LOGGED in line]


def run_validate(stack: Stack) -> subprocess.CompletedProcess[str]:
    return run_xdscp("validate", str(stack.policies))


def run_xdscp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xdscp", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_invalid_policy_keeps_the_last_good_cluster_and_validate_prints_the_logged_error(
    stack: Stack, case: str
) -> None:
    broken = CASES[case]
    server = stack.xdscp
    assert server is not None
    good = stack.wait_cluster(lambda c: keepalive(c) == GUIDE_KEEPALIVE, "the guide's keepalive")
    snapshot, cds = wait_for(lambda: settled(server), 20, "gateway-1 to ACK the guide's clusters")
    log_offset = server.log_path.stat().st_size

    edited = stack.policy_text().replace("keepAliveProbes: 3", "keepAliveProbes: 7")
    stack.write_policy(edited + broken.addition)

    def reported() -> list[str] | None:
        problems: list[str] = server.get_json("/policies")["problems"]
        return problems if any(broken.error in p for p in problems) else None

    problems = wait_for(reported, 20, f"xdscp to report {broken.error!r}")
    validated = run_validate(stack)

    def logged() -> list[str] | None:
        lines = logged_problems(server, log_offset)
        return lines if set(problems) <= set(lines) else None

    logged_lines = wait_for(logged, 10, "the problems in the server's log")

    # The same lines, word for word: served by the admin endpoint, logged, printed by validate.
    assert validated.returncode == 1, validated
    assert validated.stdout.splitlines() == [
        *problems,
        f"{len(problems)} error{'s' * (len(problems) != 1)}, 0 warnings",
    ]
    (line,) = (p for p in problems if broken.error in p)
    assert line in logged_lines
    assert line.startswith(f"{stack.policies / 'httpbin-keepalive.yaml'}: ")
    assert f"BackendConfigPolicy httpbin/httpbin-keepalive: {broken.error}" in line

    # Nothing new was served, nothing was NACKed, and Envoy still runs the last good cluster.
    assert server.get_json("/status")["snapshot"] == snapshot
    after = gateway_cds(server)
    assert after is not None
    assert (after["acked"], after["nacks"], after["in_flight"]) == (cds["acked"], 0, "")
    assert stack.cds_stats()["cluster_manager.cds.update_rejected"] == "0"
    assert stack.cluster() == good
    assert stack.wait_ok() == 200

    # Its status says what Kubernetes mode writes: not accepted, the last valid version applies.
    (policy,) = server.get_json("/policies")["policies"]
    (target,) = policy["ancestors"]
    accepted, attached = target["conditions"]
    assert (accepted["status"], accepted["reason"]) == ("False", "Invalid")
    assert broken.error in accepted["message"]
    assert (attached["status"], attached["reason"]) == ("True", "Attached")
    assert attached["message"] == "its last valid version still applies: applied"

    # verify sees Envoy differ from the files, and names the problem behind the difference.
    assert stack.envoy is not None
    verified = run_xdscp("verify", "--admin", stack.envoy.admin, str(stack.policies))
    assert verified.returncode == 1
    assert "FAIL kube_httpbin_httpbin_8000 upstream_connection_options" in verified.stdout
    assert f"  {line}" in verified.stdout.splitlines()

    # Fixed, the valid part of the edit goes through: the check above could have seen it.
    stack.write_policy(edited)
    stack.wait_cluster(
        lambda c: keepalive(c) == {**GUIDE_KEEPALIVE, "keepalive_probes": 7}, "probes 7"
    )
    wait_for(lambda: not server.get_json("/policies")["problems"], 20, "the problems gone")
    fixed = run_validate(stack)
    assert (fixed.returncode, fixed.stdout) == (0, "all valid\n"), fixed
