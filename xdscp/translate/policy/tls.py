"""tls: an UpstreamTlsContext transport socket.

Verification follows kgateway's API: insecureSkipVerify verifies nothing; files verify against
their rootCA (no rootCA, no verification, as in kgateway); a secretRef verifies against its
Secret's ca.crt (none, no verification); wellKnownCACertificates, or no trust source at all,
verify against the system CAs (kgateway's static secret SYSTEM_CA_CERT), and against the sni
when no SANs are listed. A secretRef's certificate and CA come over SDS, by name (see secrets).
"""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2, tls_pb2
from envoy.type.matcher.v3 import string_pb2

from xdscp.model.policy.tls import TLS, TLSParameters
from xdscp.model.secret import CA_CRT
from xdscp.translate import protos
from xdscp.translate.policy.context import ClusterContext
from xdscp.translate.policy.fragment import Depth, Fragment, Ignored, Rule, SocketLayer
from xdscp.translate.secrets import SYSTEM_CA_CERT, ca_name, certificate_name

TLS_SOCKET = "envoy.transport_sockets.tls"
_VERSIONS = {
    "AUTO": common_pb2.TlsParameters.TLS_AUTO,
    "1.0": common_pb2.TlsParameters.TLSv1_0,
    "1.1": common_pb2.TlsParameters.TLSv1_1,
    "1.2": common_pb2.TlsParameters.TLSv1_2,
    "1.3": common_pb2.TlsParameters.TLSv1_3,
}


def apply_tls(value: TLS, context: ClusterContext) -> Fragment:
    ignored: list[Ignored] = []
    if value.well_known_ca_certificates not in (None, "System"):
        ignored.append(
            Ignored(
                Rule.UNSUPPORTED,
                f"wellKnownCACertificates {value.well_known_ca_certificates} is not supported;"
                " verifying against the system CAs",
            )
        )
    socket = SocketLayer(Depth.SOCKET, TLS_SOCKET, _context(value, context, ignored))
    return Fragment(socket=socket, ignored=tuple(ignored))


def _context(
    value: TLS, context: ClusterContext, ignored: list[Ignored]
) -> tls_pb2.UpstreamTlsContext:
    common = tls_pb2.CommonTlsContext(alpn_protocols=value.alpn_protocols or ())
    if value.parameters is not None:
        common.tls_params.CopyFrom(_parameters(value.parameters))
    if value.secret_ref is not None:
        ignored.extend(_from_secret(value, value.secret_ref.name, common, context))
    else:
        _from_files_or_system(value, common)
    return tls_pb2.UpstreamTlsContext(
        common_tls_context=common,
        sni=value.sni or "",
        allow_renegotiation=bool(value.allow_renegotiation),
    )


def _from_secret(
    value: TLS, name: str, common: tls_pb2.CommonTlsContext, context: ClusterContext
) -> list[Ignored]:
    """SDS references to the Secret in the policy's namespace (kgateway allows no other);
    what is wrong with it.

    Until a good version of the Secret has been seen, both its certificate and its CA are
    referenced: Envoy waits for them rather than connect without (never plain text).
    """
    resolved = context.secrets[context.policy]
    key = resolved.key  # the Secret named, or the last good one it replaces
    problems = []
    if resolved.problem:
        problems.append(Ignored(Rule.SECRET, f"secretRef: {resolved.problem}"))
    material = resolved.material
    if not value.simple_tls and (material is None or material.certificate_chain is not None):
        common.tls_certificate_sds_secret_configs.add(
            name=certificate_name(key), sds_config=protos.ads()
        )
    names = list(value.verify_subject_alt_names or ())
    if material is not None and material.ca is None:
        if not names:
            return problems  # no CA, no verification, as with files without rootCA
        # Verifying names without a CA would verify nothing: refer to a CA that never comes.
        message = (
            f"secretRef: verifySubjectAltNames needs the Secret's {CA_CRT}, which it lacks;"
            " connections fail until it has one"
        )
        problems.append(Ignored(Rule.SECRET, message))
    _validate_by_sds(
        common, secret_pb2.SdsSecretConfig(name=ca_name(key), sds_config=protos.ads()), names
    )
    return problems


def _from_files_or_system(value: TLS, common: tls_pb2.CommonTlsContext) -> None:
    files = value.files
    if files and files.tls_certificate and files.tls_key and not value.simple_tls:
        common.tls_certificates.add(
            certificate_chain=base_pb2.DataSource(filename=files.tls_certificate),
            private_key=base_pb2.DataSource(filename=files.tls_key),
        )
    names = list(value.verify_subject_alt_names or ())
    if value.insecure_skip_verify:
        common.validation_context.SetInParent()  # an empty one is meaningful: verify nothing
    elif files is not None:
        if files.root_ca is not None:
            common.validation_context.CopyFrom(_verify(names, files.root_ca))
    else:
        # As kgateway: the CAs from a static secret of Envoy's bootstrap (no sds_config).
        system = secret_pb2.SdsSecretConfig(name=SYSTEM_CA_CERT)
        _validate_by_sds(common, system, names or ([value.sni] if value.sni else []))


def _validate_by_sds(
    common: tls_pb2.CommonTlsContext, ca: secret_pb2.SdsSecretConfig, names: list[str]
) -> None:
    """The CA by SDS, the names to verify beside it (kgateway's combined context)."""
    combined = common.combined_validation_context
    combined.default_validation_context.CopyFrom(_verify(names))
    combined.default_validation_context.SetInParent()  # kgateway's clusters carry it, empty too
    combined.validation_context_sds_secret_config.CopyFrom(ca)


def _verify(names: list[str], ca_file: str = "") -> common_pb2.CertificateValidationContext:
    return common_pb2.CertificateValidationContext(
        trusted_ca=base_pb2.DataSource(filename=ca_file) if ca_file else None,
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
