"""Secrets: read as the API server stores them, checked as Envoy uses them, served by SDS name."""

from __future__ import annotations

import base64
import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2

from tests.certs import MtlsPaths, write_mtls
from xdscp.groups import UNNAMED, gateway_key
from xdscp.model.load import Document, load
from xdscp.model.resources import Resources
from xdscp.model.secret import Secret
from xdscp.resourcetypes import CLUSTER as CDS
from xdscp.resourcetypes import SECRET as SDS
from xdscp.snapshot import Snapshot
from xdscp.translate import Translation, Translator, translate

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = "kube_ns_svc_443"
CERT_NAME, CA_NAME = "ns/client", "ns/client/ca.crt"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[MtlsPaths, MtlsPaths]:
    """Two unrelated CAs, each with a client certificate: before and after a rotation."""
    root = tmp_path_factory.mktemp("pki")
    return write_mtls(root / "old", ["client"]), write_mtls(root / "new", ["client"])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def secret_body(certs: MtlsPaths, **override: bytes | None) -> dict[str, Any]:
    cert, key = certs.clients["client"]
    data = {"tls.crt": cert.read_bytes(), "tls.key": key.read_bytes()}
    data["ca.crt"] = certs.ca_cert.read_bytes()
    data.update(override)  # type: ignore[arg-type]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "client", "namespace": "ns"},
        "type": "kubernetes.io/tls",
        "data": {k: b64(v) for k, v in data.items() if v is not None},
    }


def objects(secret: dict[str, Any] | None, ref: str = "client") -> Resources:
    docs = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "svc", "namespace": "ns"},
            "spec": {"ports": [{"port": 443}]},
        },
        {
            "apiVersion": "gateway.kgateway.dev/v1alpha1",
            "kind": "BackendConfigPolicy",
            "metadata": {"name": "mtls", "namespace": "ns"},
            "spec": {
                "targetRefs": [{"group": "", "kind": "Service", "name": "svc"}],
                "tls": {"secretRef": {"name": ref}, "sni": "localhost"},
            },
        },
    ]
    if secret is not None:
        docs.append(secret)
    loaded = load([Document("test", d) for d in docs], {})
    assert loaded.problems == []
    return Resources.of(loaded.objects.values())


def message(translation: Translation) -> str:
    (status,) = translation.statuses.values()
    (ancestor,) = status.ancestors
    return ancestor.conditions[0].message


def test_data_and_string_data_decode_only_the_tls_keys() -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"ca.crt": b64(b"ca"), "tls.crt": b64(b"old"), "password": "bm90IHJlYWQ="},
        "stringData": {"tls.crt": "rotated"},
    }
    secret = Secret.model_validate(body)
    assert dict(secret.data) == {"ca.crt": b"ca", "tls.crt": b"rotated"}
    assert "rotated" not in repr(secret) and " data=" not in repr(secret)


@pytest.mark.parametrize(
    "data",
    [{"tls.key": "c2VjcmV0IGtleQ=!"}, {"tls.key": 123}, "c2VjcmV0IGtleQ=="],
    ids=["bad-base64", "not-a-string", "not-a-map"],
)
def test_a_bad_value_is_reported_by_key_and_never_shown(data: object) -> None:
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": data}
    loaded = load([Document("f.yaml", body)], {})
    (problem,) = loaded.problems
    assert problem.field == "data"
    assert "c2VjcmV0" not in str(problem) and "123" not in str(problem), problem


def test_clusters_name_the_secret_and_sds_carries_it(pki: tuple[MtlsPaths, MtlsPaths]) -> None:
    old, _ = pki
    out = translate(objects(secret_body(old)))
    assert message(out) == "policy is valid"
    assert sorted(out.resources[SDS]) == [CERT_NAME, CA_NAME]
    cert, key = old.clients["client"]
    secret = out.message(SDS, CERT_NAME)
    assert isinstance(secret, secret_pb2.Secret)
    pair = secret.tls_certificate
    assert pair.private_key.inline_bytes == key.read_bytes()
    assert pair.certificate_chain.inline_bytes.strip() == cert.read_bytes().strip()
    cluster = out.resources[CDS][CLUSTER]
    assert key.read_bytes() not in cluster and CERT_NAME.encode() in cluster


def test_rotation_changes_the_secrets_and_not_the_cluster(
    pki: tuple[MtlsPaths, MtlsPaths],
) -> None:
    old, new = pki
    before = Snapshot.build(translate(objects(secret_body(old))))
    after = Snapshot.build(translate(objects(secret_body(new))), before)
    assert after.versions[CDS] == before.versions[CDS]
    assert after.resources[CDS][CLUSTER] is before.resources[CDS][CLUSTER]
    assert after.changed is not None
    assert after.changed[SDS] == {CERT_NAME, CA_NAME}
    assert after.changed[CDS] == frozenset()


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ({"tls.key": None}, "tls.crt and tls.key must be given together"),
        ({"tls.crt": b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}, "tls.crt"),
        ({"tls.key": b"not a key"}, "tls.key is not a PEM private key"),
        ({"ca.crt": b"garbage"}, "ca.crt is not a PEM certificate"),
        ({"tls.key": "other"}, "tls.key does not match the first certificate of tls.crt"),
    ],
    ids=["no-key", "malformed-cert", "malformed-key", "malformed-ca", "key-mismatch"],
)
def test_a_bad_secret_keeps_the_last_good_one_and_says_why(
    pki: tuple[MtlsPaths, MtlsPaths], override: dict[str, Any], problem: str
) -> None:
    old, new = pki
    if override.get("tls.key") == "other":
        override = {"tls.key": new.clients["client"][1].read_bytes()}
    translator = Translator()
    good = translator.translate(objects(secret_body(old)))
    bad = translator.translate(objects(secret_body(old, **override)))
    assert problem in message(bad)
    assert "Envoy keeps its last good version" in message(bad)
    assert message(bad).startswith("tls: secretRef: Secret ns/client")
    assert bad.resources[SDS] == good.resources[SDS]
    assert bad.resources[CDS][CLUSTER] == good.resources[CDS][CLUSTER]


def test_a_deleted_secret_keeps_the_last_good_one(pki: tuple[MtlsPaths, MtlsPaths]) -> None:
    old, _ = pki
    good = translate(objects(secret_body(old)))
    gone = translate(objects(None), last=good.secret_memory)
    assert "Secret ns/client not found" in message(gone)
    assert "Envoy keeps its last good version" in message(gone)
    assert gone.resources[SDS] == good.resources[SDS] and gone.resources[CDS] == good.resources[CDS]
    # And without a last good version: nothing served, the cluster still names the Secret.
    never = translate(objects(None))
    assert not never.resources[SDS] and "connections fail until it is fixed" in message(never)
    assert never.resources[CDS] == good.resources[CDS]


def test_only_the_policys_namespace_is_searched(pki: tuple[MtlsPaths, MtlsPaths]) -> None:
    old, _ = pki
    elsewhere = secret_body(old)
    elsewhere["metadata"]["namespace"] = "other"
    out = translate(objects(elsewhere))
    assert "Secret ns/client not found" in message(out)
    assert not out.resources[SDS]


def test_an_unchanged_secret_reuses_every_translated_object(
    pki: tuple[MtlsPaths, MtlsPaths],
) -> None:
    old, _ = pki
    translator, resources = Translator(), objects(secret_body(old))
    first = translator.translate(resources)
    translator.translate(resources)
    third = translator.translate(resources)
    assert third.resources[CDS][CLUSTER] is first.resources[CDS][CLUSTER]
    assert all(third.resources[SDS][n] is first.resources[SDS][n] for n in first.resources[SDS])


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        (lambda: rsa.generate_private_key(65537, 1024), "tls.key is RSA 1024; Envoy needs 2048"),
        (lambda: ec.generate_private_key(ec.SECP224R1()), "tls.key is on curve secp224r1"),
    ],
    ids=["rsa-1024", "p-224"],
)
def test_a_key_envoy_refuses_is_refused_first(
    key: Callable[[], rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey], problem: str
) -> None:
    private = key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "client")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(private, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    pair = {
        "tls.crt": cert.public_bytes(pem),
        "tls.key": private.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    }
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "client", "namespace": "ns"},
        "type": "kubernetes.io/tls",
        "data": {k: b64(v) for k, v in pair.items()},
    }
    out = translate(objects(body))
    assert problem in message(out)
    assert not out.resources[SDS]


def test_a_gateways_envoys_get_the_secrets_of_its_clusters_only(
    pki: tuple[MtlsPaths, MtlsPaths],
) -> None:
    old, _ = pki
    guide = [
        doc
        for path in sorted((ROOT / "policies").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]
    other = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "other", "namespace": "kgateway-system"},
        "spec": {
            "gatewayClassName": "kgateway",
            "listeners": [{"name": "http", "protocol": "HTTP", "port": 9090}],
        },
    }
    secret = secret_body(old)
    secret["metadata"]["namespace"] = "httpbin"
    mtls = {
        "apiVersion": "gateway.kgateway.dev/v1alpha1",
        "kind": "BackendConfigPolicy",
        "metadata": {"name": "mtls", "namespace": "httpbin"},
        "spec": {
            "targetRefs": [{"group": "", "kind": "Service", "name": "httpbin"}],
            "tls": {"secretRef": {"name": "client"}},
        },
    }
    loaded = load([Document("test", d) for d in [*guide, other, secret, mtls]], {})
    out = translate(Resources.of(loaded.objects.values()))
    assert out.groups is not None
    routed = out.groups[gateway_key("kgateway-system", "http")]
    assert routed[SDS] == frozenset({"httpbin/client", "httpbin/client/ca.crt"})
    assert out.groups[gateway_key("kgateway-system", "other")][SDS] == frozenset()
    assert out.groups[UNNAMED][SDS] is None  # an Envoy naming no Gateway gets every cluster


def test_a_policy_naming_a_secret_never_seen_keeps_the_one_it_used(
    pki: tuple[MtlsPaths, MtlsPaths],
) -> None:
    old, new = pki
    good = translate(objects(secret_body(old)))
    typo = translate(objects(secret_body(old), ref="clinet"), last=good.secret_memory)
    assert message(typo).startswith("tls: secretRef: Secret ns/clinet not found")
    assert "its clusters keep Secret ns/client, the last good one" in message(typo)
    assert typo.resources[CDS] == good.resources[CDS]
    assert typo.resources[SDS] == good.resources[SDS]
    # Still kept a translation later, and given up for the new one once that is good.
    again = translate(objects(secret_body(old), ref="clinet"), last=typo.secret_memory)
    assert again.resources[CDS] == good.resources[CDS]
    renamed = secret_body(new)
    renamed["metadata"]["name"] = "clinet"
    fixed = translate(objects(renamed, ref="clinet"), last=again.secret_memory)
    assert message(fixed) == "policy is valid"
    assert sorted(fixed.resources[SDS]) == ["ns/clinet", "ns/clinet/ca.crt"]
