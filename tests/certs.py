"""Throwaway certificates for tests (kube-apiserver, xDS over TLS), made as `xdscp certs`
makes them (`xdscp.devcerts`)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from xdscp.devcerts import (
    DevCerts,
    issue,
    issue_localhost_server,
    make_ca,
    name,
    new_key,
    write_cert,
    write_dev_certs,
    write_key,
)

# Long enough for any test session, short enough that a leaked key is worthless.
_VALIDITY = datetime.timedelta(days=2)


@dataclass(frozen=True)
class CertPaths:
    """PEM files written by `write_certs`."""

    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    service_account_key: Path
    service_account_pub: Path


def write_certs(directory: Path) -> CertPaths:
    """Writes a CA, a 127.0.0.1 serving cert, an admin client cert, a service-account key pair."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = make_ca("xdscp-test-ca", _VALIDITY)
    serving = issue_localhost_server(ca, _VALIDITY)
    # O=system:masters: the group the API server authorizes for everything, impersonation included.
    admin = issue(
        ca, name("xdscp-test-admin", "system:masters"), ExtendedKeyUsageOID.CLIENT_AUTH, _VALIDITY
    )
    service_account_key = new_key()
    service_account_pub = directory / "sa.pub"
    service_account_pub.write_bytes(
        service_account_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return CertPaths(
        ca_cert=write_cert(directory / "ca.crt", ca[0]),
        serving_cert=write_cert(directory / "serving.crt", serving[0]),
        serving_key=write_key(directory / "serving.key", serving[1]),
        admin_cert=write_cert(directory / "admin.crt", admin[0]),
        admin_key=write_key(directory / "admin.key", admin[1]),
        service_account_key=write_key(directory / "sa.key", service_account_key),
        service_account_pub=service_account_pub,
    )


MtlsPaths = DevCerts


def write_mtls(directory: Path, client_names: list[str]) -> MtlsPaths:
    """What `xdscp certs` writes, valid for a test session only."""
    return write_dev_certs(directory, client_names, days=_VALIDITY.days)
