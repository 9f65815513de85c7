"""Certificates and keys of a Secret, read as Envoy will read them (with `cryptography`)."""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from xdscp.model.secret import TLS_CRT, TLS_KEY

# What Envoy takes for a certificate's key (measured: it refuses RSA 1024 and P-224).
RSA_MIN_BITS = 2048
CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


class Unusable(Exception):
    """What Envoy would refuse in a Secret's PEM data; the message never shows a value."""


def chain_for_key(certificate_pem: bytes, key_pem: bytes) -> bytes:
    """The certificate chain, as plain PEM, once its first certificate is found to match the
    key and the key to be one Envoy takes."""
    certificates = _parsed(certificate_pem, TLS_CRT)
    key = _private_key(key_pem)
    if _public(certificates[0].public_key()) != _public(key.public_key()):
        raise Unusable(f"{TLS_KEY} does not match the first certificate of {TLS_CRT}")
    _envoy_takes(key.public_key())
    return _pem(certificates)


def certificates(pem: bytes, name: str) -> bytes:
    """The certificates under `name`, as plain PEM."""
    return _pem(_parsed(pem, name))


def _parsed(pem: bytes, name: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise Unusable(f"{name} is not a PEM certificate (or chain of them)") from None


def _private_key(pem: bytes) -> PrivateKeyTypes:
    try:
        # The match with the certificate is checked below; the full RSA consistency check costs
        # ~100 ms a key, which a large fleet of Secrets cannot afford at start.
        return serialization.load_pem_private_key(
            pem, password=None, unsafe_skip_rsa_key_validation=True
        )
    except TypeError:
        raise Unusable(f"{TLS_KEY} is encrypted; Envoy needs it unencrypted") from None
    except (ValueError, UnsupportedAlgorithm):
        raise Unusable(f"{TLS_KEY} is not a PEM private key") from None


def _envoy_takes(key: PublicKeyTypes) -> None:
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < RSA_MIN_BITS:
        raise Unusable(f"{TLS_KEY} is RSA {key.key_size}; Envoy needs {RSA_MIN_BITS} bits or more")
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name not in CURVES:
        supported = ", ".join(CURVES.values())
        raise Unusable(f"{TLS_KEY} is on curve {key.curve.name}; Envoy takes {supported}")


def _public(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _pem(certificates: list[x509.Certificate]) -> bytes:
    # Re-encoded: what Envoy gets is plain PEM, whatever text surrounded the blocks.
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)
