"""tls: how upstream connections are encrypted and the upstream's certificate verified."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from xdscp.model.errors import rule_error
from xdscp.model.policy.rules import Block, Rule, at_least_one, at_most_one, present
from xdscp.model.types import Bool, NonEmptyStr, Str

TlsVersion = Literal["AUTO", "1.0", "1.1", "1.2", "1.3"]
_WELL_KNOWN = (
    r"^(System|([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
    r"/([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]))$"
)
WellKnown = Annotated[str, Field(strict=True, min_length=1, max_length=253, pattern=_WELL_KNOWN)]
SNI_MAX_BYTES = 255  # Envoy's cap on UpstreamTlsContext.sni (a DNS name's limit); the CRD has none


def _sni_fits(value: str) -> str:
    if len(value.encode()) > SNI_MAX_BYTES:
        raise rule_error(f"Envoy requires sni to be at most {SNI_MAX_BYTES} bytes")
    return value


Sni = Annotated[NonEmptyStr, AfterValidator(_sni_fits)]


class SecretRef(Block):
    name: Str = ""


class TLSFiles(Block):
    """Paths on Envoy's file system."""

    RULES = (
        at_least_one(
            "tlsCertificate",
            "tlsKey",
            "rootCA",
            message="At least one of tlsCertificate, tlsKey, or rootCA must be set in TLSFiles",
        ),
    )

    tls_certificate: NonEmptyStr | None = None
    tls_key: NonEmptyStr | None = None
    root_ca: NonEmptyStr | None = Field(default=None, alias="rootCA")


class TLSParameters(Block):
    min_version: TlsVersion | None = None
    max_version: TlsVersion | None = None
    cipher_suites: tuple[Str, ...] | None = None
    ecdh_curves: tuple[Str, ...] | None = None
    signature_algorithms: tuple[Str, ...] | None = None


def _has_trust_source(data: Mapping[str, Any]) -> bool:
    return (
        any(present(data, f) for f in ("secretRef", "files", "wellKnownCACertificates", "sni"))
        or data.get("insecureSkipVerify") is True
    )


def _client_key_pair(data: Mapping[str, Any]) -> bool:
    # kgateway refuses a certificate without its key (or the reverse) when building the context.
    files = data.get("files")
    if data.get("simpleTLS") is True or not isinstance(files, dict):
        return True
    return present(files, "tlsCertificate") == present(files, "tlsKey")


def _sans_need_a_ca(data: Mapping[str, Any]) -> bool:
    # kgateway: "a root_ca must be provided if verify_subject_alt_name is not empty".
    files = data.get("files")
    if not data.get("verifySubjectAltNames") or not isinstance(files, dict):
        return True
    return present(files, "rootCA")


class TLS(Block):
    RULES = (
        Rule(
            _has_trust_source,
            "sni is required when no trust source is set; set sni, provide secretRef, files,"
            " or wellKnownCACertificates, or set insecureSkipVerify to true",
        ),
        at_most_one("secretRef", "files", "insecureSkipVerify", "wellKnownCACertificates"),
        Rule(_client_key_pair, "files.tlsCertificate and files.tlsKey must be set together"),
        Rule(_sans_need_a_ca, "files.rootCA is required to verify verifySubjectAltNames"),
    )

    secret_ref: SecretRef | None = None
    files: TLSFiles | None = None
    well_known_ca_certificates: WellKnown | None = Field(
        default=None, alias="wellKnownCACertificates"
    )
    insecure_skip_verify: Bool | None = None
    sni: Sni | None = None
    verify_subject_alt_names: tuple[Str, ...] | None = None
    parameters: TLSParameters | None = None
    alpn_protocols: tuple[Str, ...] | None = None
    allow_renegotiation: Bool | None = None
    simple_tls: Bool | None = Field(default=None, alias="simpleTLS")
