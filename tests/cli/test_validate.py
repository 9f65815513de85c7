"""`xdscp validate` says what is wrong (errors, exit 1) and what may not do what was meant
(warnings, exit 0, or 1 with --strict), and never skips an object without a word."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.cli.run import xdscp
from tests.live import ROOT

pytestmark = pytest.mark.process

POLICY = """\
apiVersion: gateway.kgateway.dev/v1alpha1
kind: {kind}
metadata: {{name: keepalive, namespace: httpbin}}
spec:
  targetRefs: [{{group: "", kind: Service, name: {target}}}]
  {spec}
"""


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    return tmp_path / "policies"


def write(
    policies: Path, kind: str = "BackendConfigPolicy", target: str = "httpbin", spec: str = ""
) -> Path:
    path = policies / "extra.yaml"
    path.write_text(POLICY.format(kind=kind, target=target, spec=spec or "connectTimeout: 2s"))
    return path


def test_the_shipped_policies_are_all_valid() -> None:
    result = xdscp("validate", ROOT / "policies")
    assert (result.returncode, result.stdout) == (0, "all valid\n")


def test_a_policy_whose_target_is_missing_is_a_warning(policies: Path) -> None:
    path = write(policies, target="httpbinn")
    result = xdscp("validate", policies)
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines() == [
        f"warning: {path}: BackendConfigPolicy httpbin/keepalive: "
        "TargetNotFound: Service httpbin/httpbinn not found",
        "0 errors, 1 warning",
    ]
    assert xdscp("validate", "--strict", policies).returncode == 1


def test_a_partially_valid_policy_is_a_warning(policies: Path) -> None:
    # httpbin's port speaks HTTP/1: HTTP/2 options cannot apply to it.
    write(policies, spec="http2ProtocolOptions: {maxConcurrentStreams: 100}")
    result = xdscp("validate", policies)
    assert result.returncode == 0
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("warning: ")]
    assert "BackendConfigPolicy httpbin/keepalive: PartiallyValid: http2ProtocolOptions" in line
    assert xdscp("validate", "--strict", policies).returncode == 1


def test_an_unknown_kind_of_a_group_xdscp_reads_is_an_error(policies: Path) -> None:
    path = write(policies, kind="BackendConfigPolicyy")
    result = xdscp("validate", policies)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{path}: BackendConfigPolicyy httpbin/keepalive: kind: no kind BackendConfigPolicyy "
        "in API group gateway.kgateway.dev; did you mean BackendConfigPolicy?",
        "1 error, 0 warnings",
    ]


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [
        ("apps/v1", "Deployment"),
        ("v1", "ConfigMap"),
        ("gateway.kgateway.dev/v1alpha1", "TrafficPolicy"),
    ],
)
def test_a_kind_xdscp_does_not_read_is_listed_as_ignored(
    api_version: str, kind: str, policies: Path
) -> None:
    path = policies / "other.yaml"
    path.write_text(
        f"apiVersion: {api_version}\nkind: {kind}\nmetadata: {{name: x, namespace: httpbin}}\n"
    )
    result = xdscp("validate", policies)
    assert result.returncode == 0
    assert (
        f"warning: {path}: {kind} httpbin/x: {api_version} {kind} is not read by xdscp; ignored"
        in result.stdout
    )


def test_a_route_to_a_missing_service_is_a_warning_like_a_policy(policies: Path) -> None:
    gateway = policies / "gateway.yaml"
    gateway.write_text(gateway.read_text().replace("- name: httpbin\n", "- name: nobody\n"))
    result = xdscp("validate", policies)
    assert result.returncode == 0, result.stdout
    assert "warning: " in result.stdout and "Service httpbin/nobody not found" in result.stdout


def test_a_listener_port_conflict_names_its_file(policies: Path) -> None:
    gateway_file = policies / "gateway.yaml"
    gateway, route = yaml.safe_load_all(gateway_file.read_text())
    other = {**gateway["spec"]["listeners"][0], "name": "other"}  # same port, same hostnames
    gateway["spec"]["listeners"].append(other)
    gateway_file.write_text(yaml.safe_dump_all([gateway, route]))
    result = xdscp("validate", policies)
    assert result.returncode == 1
    assert result.stdout.splitlines()[0].startswith(
        f"{gateway_file}: Gateway kgateway-system/http: spec.listeners[other]: port 8080"
    )
