"""Secrets a policy's `tls.secretRef` names: checked as Envoy will use them, served over SDS.

A cluster names its certificate and CA by SDS names derived from the Secret, never their
bytes: rotating a Secret changes only the SDS resources, so the cluster is not re-sent nor
re-warmed, and keys stay out of cluster dumps. A Secret that goes missing or turns bad keeps
the last good contents served (passed in by the caller), and says so on the policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2

from xdscp.model.resources import Key
from xdscp.model.secret import CA_CRT, KEYS, TLS_CRT, TLS_KEY, TLS_TYPE, TYPES, Secret
from xdscp.translate.memo import Memo

# kgateway's name for the system CA bundle: a static secret in Envoy's bootstrap.
SYSTEM_CA_CERT = "SYSTEM_CA_CERT"
# What Envoy takes for a certificate's key (measured: it refuses RSA 1024 and P-224).
RSA_MIN_BITS = 2048
CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def certificate_name(key: Key) -> str:
    """The SDS name of a Secret's client certificate and key."""
    return "/".join(key)


def ca_name(key: Key) -> str:
    """The SDS name of a Secret's CA (a Secret's name has no '/', so neither name clashes)."""
    return f"{certificate_name(key)}/{CA_CRT}"


@dataclass(frozen=True, eq=False)
class Material:
    """What a Secret gives Envoy, checked: PEM certificates, the key that matches the first."""

    certificate_chain: bytes | None = field(default=None, repr=False)
    private_key: bytes | None = field(default=None, repr=False)
    ca: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, eq=False)
class Resolved:
    """A policy's Secret: the one whose SDS names its clusters use (`key`), what Envoy is
    served of it (None: nothing good yet), and what is wrong."""

    key: Key
    material: Material | None
    cause: str | None = None  # what is wrong with the Secret named
    consequence: str = ""  # what is served meanwhile

    @property
    def problem(self) -> str | None:
        if self.cause is None:
            return None
        return f"{self.cause}; {self.consequence}" if self.consequence else self.cause


@dataclass(frozen=True)
class Memory:
    """What one translation served, for the next: each Secret's last good contents, and the
    Secret each policy's tls last used with good contents (policy -> Secret)."""

    materials: Mapping[Key, Material] = field(default_factory=dict)
    used: Mapping[Key, Key] = field(default_factory=dict)


FIRST = Memory()  # before any translation: nothing served yet


def resolve_all(
    refs: Iterable[tuple[Key, Key]], secrets: Mapping[Key, Secret], last: Memory, memo: Memo
) -> dict[Key, Resolved]:
    """What each (policy, Secret it names) resolves to, by policy.

    A Secret that is missing or bad serves its last good contents. A policy that names a
    Secret never seen good (a typo, one not made yet) keeps the Secret it used before, so
    its clusters keep their last good TLS; with none before, they name the missing one and
    Envoy waits for it, never sending plain text.
    """
    checked: dict[Key, Resolved] = {}

    def secret(key: Key) -> Resolved:
        if key not in checked:
            found = secrets.get(key)
            now = memo.get(("secret", key), (found,), resolve, key, found)
            if now.problem is not None:
                kept = last.materials.get(key)
                now = memo.get(("kept", key), (now, kept), keep_last_good, now, kept)
            checked[key] = now
        return checked[key]

    out = {}
    for policy, key in sorted(set(refs)):
        now, before = secret(key), last.used.get(policy)
        if now.material is None and before is not None and before != key:
            earlier = secret(before)
            if earlier.material is not None:
                now = memo.get(("instead", policy), (now, earlier), _keep_using, now, earlier)
        out[policy] = now
    return out


def memory(resolved: Mapping[Key, Resolved]) -> Memory:
    """What to hand the next translation."""
    served = {p: r for p, r in resolved.items() if r.material is not None}
    return Memory(
        {r.key: r.material for r in served.values() if r.material is not None},
        {p: r.key for p, r in served.items()},
    )


def _keep_using(now: Resolved, earlier: Resolved) -> Resolved:
    kept = f"its clusters keep Secret {certificate_name(earlier.key)}, the last good one"
    return Resolved(earlier.key, earlier.material, now.cause, kept)


class _Bad(Exception):
    """A Secret's contents that Envoy would refuse; the message never shows a value."""


def resolve(key: Key, secret: Secret | None) -> Resolved:
    """The Secret as it is now, checked; without regard to any earlier version."""
    where = f"Secret {certificate_name(key)}"
    if secret is None:
        return Resolved(
            key, None, f"{where} not found (a policy may refer only to its own namespace's)"
        )
    try:
        return Resolved(key, _material(secret))
    except _Bad as bad:
        return Resolved(key, None, f"{where}: {bad}")


def keep_last_good(now: Resolved, kept: Material | None) -> Resolved:
    """A bad or missing Secret: its last good contents stay served, and the problem says so."""
    if kept is None:
        return Resolved(now.key, None, now.cause, "connections fail until it is fixed")
    return Resolved(now.key, kept, now.cause, "Envoy keeps its last good version")


def sds_secrets(key: Key, material: Material) -> dict[str, secret_pb2.Secret]:
    """The SDS resources for one Secret's material, by name."""
    out = {}
    if material.certificate_chain is not None and material.private_key is not None:
        name = certificate_name(key)
        out[name] = secret_pb2.Secret(
            name=name,
            tls_certificate=common_pb2.TlsCertificate(
                certificate_chain=base_pb2.DataSource(inline_bytes=material.certificate_chain),
                private_key=base_pb2.DataSource(inline_bytes=material.private_key),
            ),
        )
    if material.ca is not None:
        name = ca_name(key)
        out[name] = secret_pb2.Secret(
            name=name,
            validation_context=common_pb2.CertificateValidationContext(
                trusted_ca=base_pb2.DataSource(inline_bytes=material.ca)
            ),
        )
    return out


def _material(secret: Secret) -> Material:
    if secret.type not in TYPES:
        raise _Bad(f"type {secret.type} holds no TLS material; use {' or '.join(TYPES)}")
    data = secret.data
    if not any(k in data for k in KEYS):
        raise _Bad(f"has none of {', '.join(KEYS)}")
    has_pair = TLS_CRT in data or TLS_KEY in data
    if secret.type == TLS_TYPE and not has_pair:
        raise _Bad(f"a {TLS_TYPE} Secret needs {TLS_CRT} and {TLS_KEY}")
    if has_pair and not (TLS_CRT in data and TLS_KEY in data):
        raise _Bad(f"{TLS_CRT} and {TLS_KEY} must be given together")
    chain = key = None
    if has_pair:
        certificates = _certificates(data[TLS_CRT], TLS_CRT)
        key = _private_key(data[TLS_KEY])
        if _public(certificates[0].public_key()) != _public(key.public_key()):
            raise _Bad(f"{TLS_KEY} does not match the first certificate of {TLS_CRT}")
        _envoy_takes(key.public_key())
        chain = _pem(certificates)
    ca = _pem(_certificates(data[CA_CRT], CA_CRT)) if CA_CRT in data else None
    return Material(chain, data[TLS_KEY] if key is not None else None, ca)


def _certificates(pem: bytes, name: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise _Bad(f"{name} is not a PEM certificate (or chain of them)") from None


def _private_key(pem: bytes) -> PrivateKeyTypes:
    try:
        # The match with the certificate is checked below; the full RSA consistency check costs
        # ~100 ms a key, which a large fleet of Secrets cannot afford at start.
        return serialization.load_pem_private_key(
            pem, password=None, unsafe_skip_rsa_key_validation=True
        )
    except TypeError:
        raise _Bad(f"{TLS_KEY} is encrypted; Envoy needs it unencrypted") from None
    except (ValueError, UnsupportedAlgorithm):
        raise _Bad(f"{TLS_KEY} is not a PEM private key") from None


def _envoy_takes(key: PublicKeyTypes) -> None:
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < RSA_MIN_BITS:
        raise _Bad(f"{TLS_KEY} is RSA {key.key_size}; Envoy needs {RSA_MIN_BITS} bits or more")
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name not in CURVES:
        supported = ", ".join(CURVES.values())
        raise _Bad(f"{TLS_KEY} is on curve {key.curve.name}; Envoy takes {supported}")


def _public(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _pem(certificates: list[x509.Certificate]) -> bytes:
    # Re-encoded: what Envoy gets is plain PEM, whatever text surrounded the blocks.
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)
