"""tls: an UpstreamTlsContext transport socket.

Verification follows kgateway's API: insecureSkipVerify verifies nothing; files verify against
their rootCA (no rootCA, no verification, as in kgateway); wellKnownCACertificates, or no trust
source at all, verify against the system CAs, and against the sni when no SANs are listed.
"""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, tls_pb2
from envoy.type.matcher.v3 import string_pb2

from xdscp.model.policy.tls import TLS, TLSParameters
from xdscp.translate.policy.context import ClusterContext
from xdscp.translate.policy.fragment import Depth, Fragment, Ignored, Rule, SocketLayer, ignore

TLS_SOCKET = "envoy.transport_sockets.tls"
# kgateway serves the system CAs over SDS from its Envoy image; xdscp points at the file instead.
# This is the bundle of Debian and Ubuntu, on which Envoy's official images are built.
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
_VERSIONS = {
    "AUTO": common_pb2.TlsParameters.TLS_AUTO,
    "1.0": common_pb2.TlsParameters.TLSv1_0,
    "1.1": common_pb2.TlsParameters.TLSv1_1,
    "1.2": common_pb2.TlsParameters.TLSv1_2,
    "1.3": common_pb2.TlsParameters.TLSv1_3,
}


def apply_tls(value: TLS, _: ClusterContext) -> Fragment:
    if value.secret_ref is not None:
        return ignore(
            Rule.UNSUPPORTED,
            "ignored: secretRef needs Secrets, which xdscp does not read yet; use files",
        )
    ignored: tuple[Ignored, ...] = ()
    if value.well_known_ca_certificates not in (None, "System"):
        ignored = (
            Ignored(
                Rule.UNSUPPORTED,
                f"wellKnownCACertificates {value.well_known_ca_certificates} is not supported;"
                " verifying against the system CAs",
            ),
        )
    socket = SocketLayer(Depth.SOCKET, TLS_SOCKET, _context(value))
    return Fragment(socket=socket, ignored=ignored)


def _context(value: TLS) -> tls_pb2.UpstreamTlsContext:
    common = tls_pb2.CommonTlsContext(alpn_protocols=value.alpn_protocols or ())
    if value.parameters is not None:
        common.tls_params.CopyFrom(_parameters(value.parameters))
    files = value.files
    if files and files.tls_certificate and files.tls_key and not value.simple_tls:
        common.tls_certificates.add(
            certificate_chain=base_pb2.DataSource(filename=files.tls_certificate),
            private_key=base_pb2.DataSource(filename=files.tls_key),
        )
    validation = _validation(value)
    if validation is not None:
        common.validation_context.CopyFrom(validation)
        common.validation_context.SetInParent()  # an empty one is meaningful: verify nothing
    return tls_pb2.UpstreamTlsContext(
        common_tls_context=common,
        sni=value.sni or "",
        allow_renegotiation=bool(value.allow_renegotiation),
    )


def _validation(value: TLS) -> common_pb2.CertificateValidationContext | None:
    if value.insecure_skip_verify:
        return common_pb2.CertificateValidationContext()
    names = list(value.verify_subject_alt_names or ())
    if value.files is not None:
        if value.files.root_ca is None:
            return None
        return _verify(value.files.root_ca, names)
    return _verify(SYSTEM_CA_BUNDLE, names or ([value.sni] if value.sni else []))


def _verify(ca_file: str, names: list[str]) -> common_pb2.CertificateValidationContext:
    return common_pb2.CertificateValidationContext(
        trusted_ca=base_pb2.DataSource(filename=ca_file),
        match_typed_subject_alt_names=[
            common_pb2.SubjectAltNameMatcher(
                san_type=common_pb2.SubjectAltNameMatcher.DNS,
                matcher=string_pb2.StringMatcher(exact=name),
            )
            for name in names
        ],
    )


def _parameters(value: TLSParameters) -> common_pb2.TlsParameters:
    return common_pb2.TlsParameters(
        tls_minimum_protocol_version=_VERSIONS[value.min_version or "AUTO"],
        tls_maximum_protocol_version=_VERSIONS[value.max_version or "AUTO"],
        cipher_suites=value.cipher_suites or (),
        ecdh_curves=value.ecdh_curves or (),
        signature_algorithms=value.signature_algorithms or (),
    )
