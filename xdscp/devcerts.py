"""A development CA and certificates for xDS over TLS and mutual TLS (`xdscp certs`).

They match the shipped bootstraps: `envoy/bootstrap-tls.yaml` trusts `ca.crt` and checks the
server name `localhost`; `envoy/bootstrap-mtls.yaml` also presents `<node>.crt`, whose common
name is the node id, the identity xdscp checks. RSA throughout: Python's ssl module and the
kubernetes client take RSA client keys everywhere, which is not true of ECDSA on every OpenSSL
build. Not for production: the CA key is written beside the certificates, unencrypted.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_NAME = "localhost"  # the SNI and subjectAltName the shipped bootstraps check
DEFAULT_DAYS = 365
KeyPair = tuple[x509.Certificate, rsa.RSAPrivateKey]


@dataclass(frozen=True)
class DevCerts:
    """A CA, a server certificate for localhost and 127.0.0.1, client certificates by name."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    clients: dict[str, tuple[Path, Path]]  # common name -> (cert, key)


def write_dev_certs(
    directory: Path, client_names: Iterable[str], days: float = DEFAULT_DAYS
) -> DevCerts:
    """ca.crt/.key, server.crt/.key and <client>.crt/.key in `directory` (keys mode 0600)."""
    directory.mkdir(parents=True, exist_ok=True)
    validity = datetime.timedelta(days=days)
    ca = make_ca("xdscp-development-ca", validity)
    server = issue_localhost_server(ca, validity)
    clients = {}
    for client in client_names:
        cert, key = issue(ca, name(client), ExtendedKeyUsageOID.CLIENT_AUTH, validity)
        clients[client] = (
            write_cert(directory / f"{client}.crt", cert),
            write_key(directory / f"{client}.key", key),
        )
    return DevCerts(
        ca_cert=write_cert(directory / "ca.crt", ca[0]),
        ca_key=write_key(directory / "ca.key", ca[1]),
        server_cert=write_cert(directory / "server.crt", server[0]),
        server_key=write_key(directory / "server.key", server[1]),
        clients=clients,
    )


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization is not None:
        # Kubernetes maps O= of a client certificate to the user's groups.
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _builder(
    subject: x509.Name, issuer: x509.Name, key: rsa.RSAPrivateKey, validity: datetime.timedelta
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
        .not_valid_after(now + validity)
    )


def make_ca(common_name: str, validity: datetime.timedelta) -> KeyPair:
    key = new_key()
    subject = name(common_name)
    cert = (
        _builder(subject, subject, key, validity)
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


def issue(
    ca: KeyPair,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    validity: datetime.timedelta,
    san: x509.SubjectAlternativeName | None = None,
) -> KeyPair:
    ca_cert, ca_key = ca
    key = new_key()
    builder = (
        _builder(subject, ca_cert.subject, key, validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def issue_localhost_server(ca: KeyPair, validity: datetime.timedelta) -> KeyPair:
    """A server certificate for localhost and 127.0.0.1 (what a bootstrap or kubeconfig on
    this machine dials)."""
    san = x509.SubjectAlternativeName(
        [x509.DNSName(SERVER_NAME), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    return issue(ca, name(SERVER_NAME), ExtendedKeyUsageOID.SERVER_AUTH, validity, san)


def write_cert(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def write_key(path: Path, key: rsa.RSAPrivateKey) -> Path:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.touch(mode=0o600)  # never readable by others, not even for a moment
    path.chmod(0o600)
    path.write_bytes(pem)
    return path
