"""Throwaway certificates for tests (kube-apiserver, xDS over TLS), made with `cryptography`.

Everything is RSA: Python's ssl module and the kubernetes client handle RSA client keys
everywhere, which is not true of ECDSA on every OpenSSL build.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

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


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization is not None:
        # Kubernetes maps O= of a client certificate to the user's groups.
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _builder(
    subject: x509.Name, issuer: x509.Name, key: rsa.RSAPrivateKey
) -> x509.CertificateBuilder:
    # Backdated a little so a clock that differs by seconds between processes never matters.
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + _VALIDITY)
    )


def _make_ca() -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = _new_key()
    name = _name("xdscp-test-ca")
    cert = (
        _builder(name, name, key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _issue(
    ca: tuple[x509.Certificate, rsa.RSAPrivateKey],
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    san: x509.SubjectAlternativeName | None = None,
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    ca_cert, ca_key = ca
    key = _new_key()
    builder = (
        _builder(subject, ca_cert.subject, key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def _write_cert(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> Path:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    path.chmod(0o600)
    return path


def write_certs(directory: Path) -> CertPaths:
    """Writes a CA, a 127.0.0.1 serving cert, an admin client cert, a service-account key pair."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = _make_ca()
    serving_san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    serving = _issue(ca, _name("localhost"), ExtendedKeyUsageOID.SERVER_AUTH, serving_san)
    # O=system:masters: the group the API server authorizes for everything, impersonation included.
    admin = _issue(ca, _name("xdscp-test-admin", "system:masters"), ExtendedKeyUsageOID.CLIENT_AUTH)
    service_account_key = _new_key()
    service_account_pub = directory / "sa.pub"
    service_account_pub.write_bytes(
        service_account_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return CertPaths(
        ca_cert=_write_cert(directory / "ca.crt", ca[0]),
        serving_cert=_write_cert(directory / "serving.crt", serving[0]),
        serving_key=_write_key(directory / "serving.key", serving[1]),
        admin_cert=_write_cert(directory / "admin.crt", admin[0]),
        admin_key=_write_key(directory / "admin.key", admin[1]),
        service_account_key=_write_key(directory / "sa.key", service_account_key),
        service_account_pub=service_account_pub,
    )


@dataclass(frozen=True)
class MtlsPaths:
    """A CA, a 127.0.0.1 server certificate, and client certificates by common name."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    clients: dict[str, tuple[Path, Path]]  # common name -> (cert, key)


def write_mtls(directory: Path, client_names: list[str]) -> MtlsPaths:
    directory.mkdir(parents=True, exist_ok=True)
    ca = _make_ca()
    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    server = _issue(ca, _name("localhost"), ExtendedKeyUsageOID.SERVER_AUTH, san)
    clients = {}
    for name in client_names:
        cert, key = _issue(ca, _name(name), ExtendedKeyUsageOID.CLIENT_AUTH)
        clients[name] = (
            _write_cert(directory / f"{name}.crt", cert),
            _write_key(directory / f"{name}.key", key),
        )
    return MtlsPaths(
        ca_cert=_write_cert(directory / "ca.crt", ca[0]),
        server_cert=_write_cert(directory / "server.crt", server[0]),
        server_key=_write_key(directory / "server.key", server[1]),
        clients=clients,
    )
