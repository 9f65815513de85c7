"""What one Service or Backend translates to: its clusters, their endpoints, which policy set
which field, and what of the policies was ignored. The unit a translator keeps per target."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from envoy.config.cluster.v3 import cluster_pb2
from pydantic.alias_generators import to_camel

from xdscp.model.backendconfigpolicy import Backend
from xdscp.model.resources import Key
from xdscp.model.service import EndpointSlice, Service
from xdscp.status import FieldOrigin
from xdscp.translate.attachment import Attachment
from xdscp.translate.clusters import apply_policies, backend_cluster, service_clusters
from xdscp.translate.endpoints import Topology, load_assignment
from xdscp.translate.protos import encode
from xdscp.translate.secrets import Resolved, ca_name, certificate_name


@dataclass
class TargetOutput:
    # Clusters and their load assignments, serialized (protos.encode), by name.
    clusters: dict[str, bytes] = field(default_factory=dict)
    load_assignments: dict[str, bytes] = field(default_factory=dict)
    origins: list[FieldOrigin] = field(default_factory=list)
    # What of each policy was ignored, by policy.
    warnings: dict[Key, set[str]] = field(default_factory=dict)
    # The SDS secrets its clusters name.
    sds_names: tuple[str, ...] = ()

    def configure(
        self,
        cluster: cluster_pb2.Cluster,
        attachment: Attachment | None,
        http2: bool,
        secrets: Mapping[Key, Resolved],
    ) -> None:
        for spec_field, ignored in apply_policies(cluster, attachment, http2, secrets):
            policy = _winner(attachment, spec_field)
            self.warnings.setdefault(policy, set()).add(
                f"{to_camel(spec_field)}: {ignored.message}"
            )
        self.clusters[cluster.name] = encode(cluster)
        self.origins.extend(_origins(cluster.name, attachment))
        self.sds_names = tuple(
            n for r in secrets.values() for n in (certificate_name(r.key), ca_name(r.key))
        )


def service_output(
    service: Service,
    attachment: Attachment | None,
    slices: tuple[EndpointSlice, ...],
    topology: Topology,
    secrets: Mapping[Key, Resolved],
    endpoints: dict[str, bytes] | None = None,
) -> TargetOutput:
    """`endpoints`: the load assignments made before from the same service, slices and
    topology (only its policies changed): kept, the very same objects."""
    result = TargetOutput()
    for port, cluster in service_clusters(service):
        result.configure(cluster, attachment, port.speaks_http2, secrets)
        if endpoints is None:
            assignment = load_assignment(cluster.name, port, slices, topology)
            result.load_assignments[cluster.name] = encode(assignment)
    if endpoints is not None:
        result.load_assignments = endpoints
    return result


def backend_output(
    backend: Backend, attachment: Attachment | None, secrets: Mapping[Key, Resolved]
) -> TargetOutput:
    result = TargetOutput()
    result.configure(
        backend_cluster(backend), attachment, backend.spec.static.speaks_http2, secrets
    )
    return result


def secret_ref(attachment: Attachment | None) -> tuple[Key, Key] | None:
    """(policy, Secret) for the Secret the target's winning tls block names: in the policy's
    own namespace."""
    for setting in attachment.settings if attachment else ():
        if setting.field == "tls" and setting.value.secret_ref is not None:
            return setting.policy, (setting.policy[0], setting.value.secret_ref.name)
    return None


def _winner(attachment: Attachment | None, spec_field: str) -> Key:
    assert attachment is not None  # a warning comes only from an applied setting
    return next(s.policy for s in attachment.settings if s.field == spec_field)


def _origins(cluster: str, attachment: Attachment | None) -> list[FieldOrigin]:
    return [
        FieldOrigin(
            cluster,
            to_camel(s.field),
            "/".join(s.policy),
            tuple("/".join(k) for k in s.overridden),
        )
        for s in (attachment.settings if attachment else ())
    ]
