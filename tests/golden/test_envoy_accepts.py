"""Envoy itself accepts every cluster of every golden case: `envoy --mode validate` on them all.

The cases are rendered afresh (what test_golden compares with the .out.yaml files), so the check
holds for the translator as it is, whatever order the tests run in.

EDS clusters become STATIC with their rendered endpoints as the load assignment (a bootstrap
has no ADS to get them from), and the certificate paths the cases name are pointed at a
generated pair, because Envoy reads those files while validating. Likewise SDS secrets become
static secrets of the bootstrap: those rendered (private keys shown), a generated pair for those
a case leaves missing, and SYSTEM_CA_CERT as the shipped bootstrap defines it.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.envoy_validate import as_static, envoy_validate, with_routes
from tests.golden.test_golden import CASES, ROOT, render
from xdscp.app import render_files
from xdscp.translate import Options
from xdscp.translate.secrets import SYSTEM_CA_CERT

BOOTSTRAP = ROOT / "envoy" / "bootstrap.yaml"


def system_ca() -> dict[str, Any]:
    """The bootstrap's static secret SYSTEM_CA_CERT, which clusters name for the system CAs."""
    secrets = yaml.safe_load(BOOTSTRAP.read_text())["static_resources"]["secrets"]
    secret: dict[str, Any] = next(s for s in secrets if s["name"] == SYSTEM_CA_CERT)
    return secret


SYSTEM_CA_BUNDLE = system_ca()["validation_context"]["trusted_ca"]["filename"]

pytestmark = pytest.mark.envoy


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate and its key: it serves as client certificate and as CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "xdscp-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _point_files_at(node: Any, cert: Path, key: Path) -> None:
    """Every `filename` but the system bundle becomes the generated certificate or key."""
    if isinstance(node, dict):
        for field, value in node.items():
            if field == "filename" and value != SYSTEM_CA_BUNDLE:
                node[field] = str(key if value.endswith(".key") else cert)
            else:
                _point_files_at(value, cert, key)
    elif isinstance(node, list):
        for item in node:
            _point_files_at(item, cert, key)


def _static_sds(node: Any, prefix: str, names: set[str]) -> None:
    """SDS references made static (no sds_config), named apart per case; collects the names."""
    if isinstance(node, dict):
        if "sds_config" in node:
            del node["sds_config"]
            node["name"] = f"{prefix}/{node['name']}"
            names.add(node["name"])
        for value in node.values():
            _static_sds(value, prefix, names)
    elif isinstance(node, list):
        for item in node:
            _static_sds(item, prefix, names)


def _placeholder(name: str) -> dict[str, Any]:
    """A static secret for an SDS name a case leaves unserved; files replaced later."""
    if name.endswith("/ca.crt"):
        return {"name": name, "validation_context": {"trusted_ca": {"filename": "ca.crt"}}}
    pair = {"certificate_chain": {"filename": "tls.crt"}, "private_key": {"filename": "tls.key"}}
    return {"name": name, "tls_certificate": pair}


def golden_resources() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every golden case's clusters, and the static secrets they name."""
    clusters, secrets = [], {SYSTEM_CA_CERT: system_ca()}
    names: set[str] = set()
    for case in CASES:
        path = case.relative_to(ROOT)
        rendered = yaml.safe_load(render_files((path,), "yaml", False, Options(), True))
        stem = case.name.removesuffix(".in.yaml")
        prefix = f"{case.parent.name}/{stem}"
        # Endpoints too: their localities, weights and health are Envoy's to judge as well.
        assignments = {a["cluster_name"]: a for a in rendered["endpoints"]}
        for cluster in rendered["clusters"]:
            name = f"{prefix}/{cluster['name']}"
            clusters.append(as_static(cluster, name, assignments.get(cluster["name"])))
        _static_sds(clusters, prefix, names)
        for secret in rendered["secrets"]:
            secrets[f"{prefix}/{secret['name']}"] = {**secret, "name": f"{prefix}/{secret['name']}"}
    secrets.update((n, _placeholder(n)) for n in names - secrets.keys())
    return clusters, [secrets[n] for n in sorted(secrets)]


def test_envoy_accepts_every_golden_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not Path(SYSTEM_CA_BUNDLE).exists():
        pytest.skip(f"{SYSTEM_CA_BUNDLE} is missing here; Envoy would fail to read it")
    monkeypatch.chdir(ROOT)
    clusters, secrets = golden_resources()
    assert any(c["name"].endswith("/all-fields/kube_ns_svc_8080") for c in clusters)
    assert any("tls_certificate" in s and "inline_bytes" in str(s) for s in secrets)
    cert, key = _certificate(tmp_path)
    _point_files_at(clusters, cert, key)
    _point_files_at(secrets, cert, key)
    result = envoy_validate(clusters, tmp_path, secrets=secrets)
    assert result.returncode == 0, result.stdout + result.stderr


def test_envoy_accepts_every_golden_route_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Matches, regular expressions, redirects, rewrites and timeouts are Envoy's to judge."""
    monkeypatch.chdir(ROOT)
    listeners: list[dict[str, Any]] = []
    for case in CASES:
        for routes in yaml.safe_load(render(case))["routes"]:
            name = f"{case.parent.name}/{case.name.removesuffix('.in.yaml')}/{routes['name']}"
            listeners.append(with_routes(name, 10000 + len(listeners), routes))
    assert any("/filters-url-rewrite/" in listener["name"] for listener in listeners)
    result = envoy_validate([], tmp_path, listeners)
    assert result.returncode == 0, result.stdout + result.stderr
