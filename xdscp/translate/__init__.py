"""Pure translation: validated resources in, Envoy resources and policy status out.

Same input, same output, byte for byte: everything is iterated in sorted order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from google.protobuf.message import Message
from pydantic.alias_generators import to_camel

from xdscp.gatewaystatus import CONTROLLER, ClassStatus, GatewayStatus, RouteStatus
from xdscp.groups import UNNAMED, gateway_key
from xdscp.model.backendconfigpolicy import Backend
from xdscp.model.problems import Problem
from xdscp.model.resources import Key, Resources
from xdscp.model.service import EndpointSlice, Service
from xdscp.resourcetypes import CLUSTER, ENDPOINT, LISTENER, REGISTRY, ROUTE, SECRET
from xdscp.status import FieldOrigin, PolicyStatus
from xdscp.translate.attachment import Attachment, Target, attach
from xdscp.translate.classes import sort_gateways
from xdscp.translate.clusters import apply_policies, backend_cluster, service_clusters
from xdscp.translate.endpoints import Topology, load_assignment
from xdscp.translate.listeners import GatewayParts, translate_gateways
from xdscp.translate.localcluster import local_assignment
from xdscp.translate.memo import Memo, NoMemo
from xdscp.translate.report import policy_statuses
from xdscp.translate.secrets import (
    FIRST,
    Memory,
    Resolved,
    ca_name,
    certificate_name,
    memory,
    resolve_all,
    sds_secrets,
)


@dataclass(frozen=True)
class Options:
    # Where Gateway listeners bind. kgateway binds every address; tests and the demo use loopback.
    listener_address: str = "0.0.0.0"
    # The Service of the proxies themselves: its endpoints become the local cluster.
    local_cluster: Key | None = None
    # The GatewayClass controllerName whose Gateways are served (`serve --controller-name`).
    controller: str = CONTROLLER
    # Whether a Gateway of a class no object declares is served (files: yes; Kubernetes: no).
    undeclared_classes: bool = True


def _tables() -> dict[str, dict[str, Message]]:
    return {t.url: {} for t in REGISTRY}


# The part of a translation one node group is served: resource names by type URL (a type left
# out: none of it; None: all of it).
Selection = dict[str, frozenset[str] | None]


@dataclass
class Translation:
    # Envoy messages by type URL (every registered type has a table), then by resource name.
    resources: dict[str, dict[str, Message]] = field(default_factory=_tables)
    # Which translation of its translator this is (0: one made alone), and the one `changed`
    # and `changed_statuses` are relative to (None: unknown, so everything may have changed).
    serial: int = 0
    base: int | None = None
    # The names, by type URL, whose message is another object than in translation `base` (or
    # was added or removed since); a type left out: none. None: unknown (compare them all).
    changed: Mapping[str, frozenset[str]] | None = None
    # What each referenced Secret's SDS resources were built from: the next translation's
    # last good version of it.
    secret_memory: Memory = field(default_factory=Memory)
    statuses: Mapping[Key, PolicyStatus] = field(default_factory=dict)  # by policy
    # The policies whose status is another object than in translation `base` (or was added or
    # removed since). None: unknown (any may have changed).
    changed_statuses: frozenset[Key] | None = None
    origins: list[FieldOrigin] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    gateway_statuses: list[GatewayStatus] = field(default_factory=list)
    route_statuses: list[RouteStatus] = field(default_factory=list)
    class_statuses: tuple[ClassStatus, ...] = ()
    # What each node group is served, by group key (xdscp.groups); a group not here is served
    # nothing. None: every group is served everything (a translation made by hand, in tests).
    groups: dict[str, Selection] | None = None


@dataclass
class _TargetOutput:
    """What one Service or Backend translates to: the unit the memo keeps."""

    clusters: list[cluster_pb2.Cluster] = field(default_factory=list)
    load_assignments: list[endpoint_pb2.ClusterLoadAssignment] = field(default_factory=list)
    origins: list[FieldOrigin] = field(default_factory=list)
    warnings: list[tuple[Key, str]] = field(default_factory=list)  # (policy, warning)

    def configure(
        self,
        cluster: cluster_pb2.Cluster,
        attachment: Attachment | None,
        http2: bool,
        secrets: Mapping[Key, Resolved],
    ) -> None:
        for spec_field, ignored in apply_policies(cluster, attachment, http2, secrets):
            self.warnings.append(
                (_winner(attachment, spec_field), f"{to_camel(spec_field)}: {ignored.message}")
            )
        self.clusters.append(cluster)
        self.origins.extend(_origins(cluster.name, attachment))


def translate(
    resources: Resources,
    options: Options = Options(),
    memo: Memo | None = None,
    last: Memory = FIRST,
) -> Translation:
    """`memo` (kept by the caller between translations) saves work; the output is the same.

    `last` is the last translation's `secret_memory`: what a Secret that went missing or bad,
    or a policy that names one never good, keeps serving.
    """
    memo = memo if memo is not None else NoMemo()
    out = Translation()
    attachments, targets_of = attach(resources, memo)
    refs = (ref for a in attachments.values() if (ref := _secret_ref(a)) is not None)
    secrets = resolve_all(refs, resources.secrets, last, memo)
    warnings: dict[tuple[Target, Key], set[str]] = defaultdict(set)
    # Grouped again only when the table is another one: a change to no EndpointSlice (the
    # file and Kubernetes sources keep an unchanged kind's table as it was) costs nothing here.
    slices = memo.get(
        ("SlicesByService",),
        (resources.endpoint_slices,),
        _slices_by_service,
        resources.endpoint_slices,
    )
    # One Topology while the Nodes stay the same objects, so the Services' memo entries hold.
    topology = memo.get(("Topology",), tuple(resources.nodes.values()), Topology, resources.nodes)
    sds_names: dict[str, tuple[str, ...]] = {}  # cluster -> the SDS secrets it names

    def collect(target: Target, result: _TargetOutput, used: Mapping[Key, Resolved]) -> None:
        out.resources[CLUSTER].update((c.name, c) for c in result.clusters)
        if used:
            names = tuple(
                n for r in used.values() for n in (certificate_name(r.key), ca_name(r.key))
            )
            sds_names.update((c.name, names) for c in result.clusters)
        out.resources[ENDPOINT].update((a.cluster_name, a) for a in result.load_assignments)
        out.origins.extend(result.origins)
        for policy, warning in result.warnings:
            warnings[(target, policy)].add(warning)

    for key, service in resources.services.items():
        target = Target("", "Service", *key)
        attachment, service_slices = attachments.get(target), tuple(slices.get(key, ()))
        used = _secrets_of(attachment, secrets)
        result = memo.get(
            ("Service", key),
            (service, attachment, topology, *used.values(), *service_slices),
            _service,
            service,
            attachment,
            service_slices,
            topology,
            used,
        )
        collect(target, result, used)
    for key, backend in resources.backends.items():
        target = Target("gateway.kgateway.dev", "Backend", *key)
        attachment = attachments.get(target)
        used = _secrets_of(attachment, secrets)
        result = memo.get(
            ("Backend", key),
            (backend, attachment, *used.values()),
            _backend,
            backend,
            attachment,
            used,
        )
        collect(target, result, used)
    out.secret_memory = memory(secrets)
    for secret_key, material in out.secret_memory.materials.items():
        out.resources[SECRET].update(
            memo.get(("sds", secret_key), (material,), sds_secrets, secret_key, material)
        )

    served = sort_gateways(resources, options.controller, options.undeclared_classes)
    gateways = translate_gateways(served.ours, options.listener_address, served.foreign)
    out.resources[LISTENER].update(gateways.listeners)
    out.resources[ROUTE].update(gateways.routes)
    out.problems = [*served.problems, *gateways.problems]
    out.class_statuses = served.classes
    # Every group's Envoys share the local cluster: the flag names one fleet's Service.
    shared: frozenset[str] = frozenset()
    if options.local_cluster is not None:
        proxies = options.local_cluster
        local_slices = tuple(slices.get(proxies, ()))
        local, problems = memo.get(
            ("Local", proxies),
            (topology, *local_slices),
            local_assignment,
            proxies,
            local_slices,
            topology,
        )
        out.resources[ENDPOINT][local.cluster_name] = local
        out.problems = [*out.problems, *problems]
        shared = frozenset({local.cluster_name})
    out.groups = _groups(gateways.parts, shared, sds_names)
    out.gateway_statuses, out.route_statuses = gateways.gateway_statuses, gateways.route_statuses
    statuses = policy_statuses(resources, attachments, targets_of, warnings, memo)
    out.statuses = {(s.namespace, s.name): s for s in statuses}
    memo.sweep()
    return out


def _service(
    service: Service,
    attachment: Attachment | None,
    slices: tuple[EndpointSlice, ...],
    topology: Topology,
    secrets: Mapping[Key, Resolved],
) -> _TargetOutput:
    result = _TargetOutput()
    for port, cluster in service_clusters(service):
        result.configure(cluster, attachment, port.speaks_http2, secrets)
        result.load_assignments.append(load_assignment(cluster.name, port, slices, topology))
    return result


def _backend(
    backend: Backend, attachment: Attachment | None, secrets: Mapping[Key, Resolved]
) -> _TargetOutput:
    result = _TargetOutput()
    result.configure(
        backend_cluster(backend), attachment, backend.spec.static.speaks_http2, secrets
    )
    return result


def _groups(
    parts: dict[Key, GatewayParts],
    shared_endpoints: frozenset[str],
    sds_names: Mapping[str, tuple[str, ...]],
) -> dict[str, Selection]:
    """Each Gateway's group gets its own listeners and routes (named alike) and the clusters
    they route to, with their endpoints (and `shared_endpoints`: the local cluster's) and the
    secrets they name. The unnamed group (an Envoy naming no Gateway) gets every cluster and
    secret, and the listeners of the only Gateway when there is exactly one."""
    groups: dict[str, Selection] = {}
    for key, part in parts.items():
        listeners, clusters = frozenset(part.listeners), frozenset(part.clusters)
        groups[gateway_key(*key)] = {
            SECRET: frozenset(n for c in clusters for n in sds_names.get(c, ())),
            CLUSTER: clusters,
            ENDPOINT: clusters | shared_endpoints,
            LISTENER: listeners,
            ROUTE: listeners,
        }
    only = frozenset(next(iter(parts.values())).listeners) if len(parts) == 1 else frozenset()
    groups[UNNAMED] = {SECRET: None, CLUSTER: None, ENDPOINT: None, LISTENER: only, ROUTE: only}
    return groups


def _secret_ref(attachment: Attachment | None) -> tuple[Key, Key] | None:
    """(policy, Secret) for the Secret the target's winning tls block names: in the policy's
    own namespace."""
    for setting in attachment.settings if attachment else ():
        if setting.field == "tls" and setting.value.secret_ref is not None:
            return setting.policy, (setting.policy[0], setting.value.secret_ref.name)
    return None


def _secrets_of(
    attachment: Attachment | None, secrets: Mapping[Key, Resolved]
) -> dict[Key, Resolved]:
    """The target's tls policy's Secret, by policy."""
    ref = _secret_ref(attachment)
    return {ref[0]: secrets[ref[0]]} if ref is not None else {}


def _slices_by_service(
    endpoint_slices: Mapping[Key, EndpointSlice],
) -> dict[Key, list[EndpointSlice]]:
    slices: dict[Key, list[EndpointSlice]] = defaultdict(list)
    for (namespace, _), endpoint_slice in endpoint_slices.items():
        if endpoint_slice.service_name:
            slices[(namespace, endpoint_slice.service_name)].append(endpoint_slice)
    return slices


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


__all__ = ["Memo", "Options", "Selection", "Translation", "translate"]
