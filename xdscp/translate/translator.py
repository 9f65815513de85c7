"""A translator kept from one view to the next: per change, work in proportion to the change.

It keeps indexes (policy -> targets and back, Service -> EndpointSlices, target -> what it
translated to, tls policy -> its Secret) and the last output in persistent maps, so one
changed object re-translates only what depends on it, and the translation says what differs
from the one before (`Translation.changed`). The output is the same as a translation afresh
of the same view (tests/property prove it). A translation that raises leaves the translator
as it was: the next one starts from the last that succeeded.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from immutables import Map

from xdscp.groups import UNNAMED, gateway_key
from xdscp.model.backendconfigpolicy import Backend, BackendConfigPolicy
from xdscp.model.problems import Problem
from xdscp.model.resources import Key, ObjectKey, Resources
from xdscp.model.service import Service
from xdscp.resourcetypes import CLUSTER, ENDPOINT, LISTENER, REGISTRY, ROUTE, SECRET
from xdscp.status import FieldOrigin, PolicyStatus
from xdscp.translate.attachment import BACKEND, SERVICE, Attachment, Target, lookup, merge
from xdscp.translate.classes import Sorted, sort_gateways
from xdscp.translate.endpoints import NO_NODES, Place, Topology, places
from xdscp.translate.listeners import GatewayOutput, GatewayParts, translate_gateways
from xdscp.translate.localcluster import local_assignment
from xdscp.translate.memo import same_objects
from xdscp.translate.multimap import relink
from xdscp.translate.names import LOCAL_CLUSTER
from xdscp.translate.outputs import TargetOutput, backend_output, secret_ref, service_output
from xdscp.translate.policyindex import PolicyIndex
from xdscp.translate.protos import encode
from xdscp.translate.report import ancestor
from xdscp.translate.secrets import FIRST, Ledger, Memory, ca_name, certificate_name, sds_secrets
from xdscp.translate.translation import DEFAULTS, Options, Selection, Translation

_NOTHING = TargetOutput()  # what a target that is not there translates to (never changed)
# Unique across translators, so a snapshot built from one translator's output is never taken
# for the base of another's.
_serials = itertools.count(1)
# The kinds a Gateway's translation reads beside the Services and Backends its routes name.
_GATEWAY_KINDS = frozenset({"GatewayClass", "Gateway", "HTTPRoute", "ReferenceGrant"})


# What a target was translated from (the objects its policies give, those its endpoints are
# made of), and what to.
_Output = tuple[tuple[object, ...], tuple[object, ...], TargetOutput]


@dataclass(frozen=True)
class _Gateways:
    """The Gateways' translation, made again only when something it reads changed."""

    served: Sorted
    output: GatewayOutput
    referenced: frozenset[ObjectKey]  # the Services and Backends routes name


@dataclass(frozen=True)
class _State:
    serial: int = 0
    resources: Resources = field(default_factory=Resources)
    index: PolicyIndex = field(default_factory=PolicyIndex)
    slices_of: Map[Key, frozenset[Key]] = field(default_factory=Map)  # Service -> its slices
    # Node or zone -> the EndpointSlices with endpoints there.
    placed: Map[Place, frozenset[Key]] = field(default_factory=Map)
    # Target -> (the policies merged, oldest first by key, and their attachment).
    attachments: Map[Target, tuple[tuple[BackendConfigPolicy, ...], Attachment]] = field(
        default_factory=Map
    )
    tls: Map[Key, frozenset[Target]] = field(
        default_factory=Map
    )  # policy -> where its tls (with a Secret) wins
    ledger: Ledger = field(default_factory=Ledger)
    # Target -> (what it was translated from, what to).
    outputs: Map[Target, _Output] = field(default_factory=Map)
    tables: dict[str, Map[str, bytes]] = field(
        default_factory=lambda: {t.url: Map() for t in REGISTRY}
    )
    sds_names: Map[str, tuple[str, ...]] = field(
        default_factory=Map
    )  # cluster -> the SDS secrets it names
    statuses: Map[Key, PolicyStatus] = field(default_factory=Map)
    topology: Topology = NO_NODES
    gateways: _Gateways | None = None
    local: tuple[Problem, ...] = ()  # the local cluster's problems
    groups: dict[str, Selection] = field(default_factory=dict)


class Translator:
    def __init__(self, options: Options = DEFAULTS, last: Memory = FIRST) -> None:
        """`last`: what Secrets an earlier translation served (its `secret_memory`): what a
        Secret that went missing or bad, or a policy that names one never good, keeps."""
        self.options = options
        self._state = _State(ledger=Ledger.starting(last))

    def translate(self, resources: Resources) -> Translation:
        """What `resources` translate to: made from the last translation and what changed
        since its view (`Resources.changes_since`)."""
        translation, state = _Step(self._state, resources, self.options).run()
        self._state = state  # only once all went well
        return translation


def translate(
    resources: Resources, options: Options = DEFAULTS, last: Memory = FIRST
) -> Translation:
    """A translation afresh, without history but `last` (see Translator)."""
    return Translator(options, last).translate(resources)


class _Step:
    """One translation: the state before, the view after, and the maps being updated."""

    def __init__(self, state: _State, resources: Resources, options: Options) -> None:
        self.state, self.new, self.old, self.options = state, resources, state.resources, options
        self.tables = {url: table.mutate() for url, table in state.tables.items()}
        self.changed: dict[str, set[str]] = {url: set() for url in state.tables}
        self.attachments = state.attachments.mutate()
        self.tls = state.tls.mutate()
        self.outputs = state.outputs.mutate()
        self.sds_names = state.sds_names.mutate()
        self.sds_changed: set[str] = set()  # clusters whose SDS names changed
        self.dirty_outputs: set[Target] = set()
        self.dirty_statuses: set[Key] = set()
        self.restated: set[Target] = set()  # targets whose attachment or warnings changed

    def run(self) -> tuple[Translation, _State]:
        state, new, first = self.state, self.new, self.state.serial == 0
        changes = new.changes_since(self.old)
        by_kind: dict[str, list[Key]] = defaultdict(list)
        for kind, namespace, name in changes:
            by_kind[kind].append((namespace, name))
        index, touched = state.index.update(new, self.old, changes)
        self.index = index
        self.dirty_statuses |= touched.policies
        self.dirty_outputs |= touched.targets  # added, changed or removed
        sliced = self._slices(by_kind["EndpointSlice"])
        topology = state.topology
        if first:
            topology = Topology(new.nodes)
            sliced.update(new.services)
        elif by_kind["Node"]:
            topology = Topology(new.nodes)
            sliced |= self._moved(topology)
        self.topology = topology
        self.dirty_outputs.update(Target(*SERVICE, *key) for key in sliced)
        refs = self._attach(touched.targets)
        ledger, resolved, stale = state.ledger.update(refs, new.secrets, by_kind["Secret"])
        self.ledger = ledger
        for policy in resolved:
            self.dirty_outputs.update(self.tls.get(policy, ()))
        # The first translation serves every Secret remembered; later ones what changed.
        self._sds(ledger.memory.materials.keys() if first else stale)
        for target in self.dirty_outputs:
            self._output(target)
        statuses, changed_statuses = self._statuses()
        gateways = self._gateways(changes, by_kind)
        local = self._local(sliced, bool(by_kind["Node"]) or first)
        groups = self._groups(gateways)
        serial = next(_serials)
        tables = {url: table.finish() for url, table in self.tables.items()}
        outputs = self.outputs.finish()
        translation = Translation(
            resources=tables,
            secret_memory=ledger.memory,
            statuses=statuses,
            problems=[*gateways.served.problems, *gateways.output.problems, *local],
            gateway_statuses=gateways.output.gateway_statuses,
            route_statuses=gateways.output.route_statuses,
            class_statuses=gateways.served.classes,
            groups=groups,
            serial=serial,
            base=None if first else state.serial,
            changed=None if first else {u: frozenset(n) for u, n in self.changed.items()},
            changed_statuses=None if first else changed_statuses,
            provenance=_provenance(new, outputs),
        )
        after = _State(
            serial,
            new,
            index,
            self.slices_of,
            self.placed,
            self.attachments.finish(),
            self.tls.finish(),
            ledger,
            outputs,
            tables,
            self.sds_names.finish(),
            statuses,
            topology,
            gateways,
            local,
            groups,
        )
        return translation, after

    def _slices(self, changed: list[Key]) -> set[Key]:
        """Bring Service -> its EndpointSlices and place -> the slices there up to date with
        the `changed` slices; returns the Services whose slices changed (a slice names its
        Service by label, which may change too)."""
        services: set[Key] = set()
        slices_of, placed = self.state.slices_of.mutate(), self.state.placed.mutate()
        for key in changed:
            for table, linked in ((self.old, False), (self.new, True)):
                found = table.endpoint_slices.get(key)
                if found is None or not found.service_name:
                    continue
                service = (key[0], found.service_name)
                services.add(service)
                relink(slices_of, service, key, linked)
                for place in places(found):
                    relink(placed, place, key, linked)
        self.slices_of, self.placed = slices_of.finish(), placed.finish()
        return services

    def _moved(self, topology: Topology) -> set[Key]:
        """The Services with endpoints where the Nodes changed (their localities may have)."""
        found = set()
        for place in topology.moved(self.state.topology):
            for key in self.placed.get(place, ()):
                service = self.new.endpoint_slices[key].service_name
                if service:  # always: only a Service's slices are placed
                    found.add((key[0], service))
        return found

    def _attach(self, targets: Iterable[Target]) -> dict[Key, Key | None]:
        """Merge again what the policies on `targets` give; returns the tls policies whose
        Secret (or whether they win anywhere) changed: policy -> its Secret now, or None."""
        affected: set[Key] = set()
        for target in targets:
            keys = self.index.policies_on.get(target) if lookup(target, self.new) else None
            entry = self.attachments.get(target)
            attachment: Attachment | None = None
            if keys:
                policies = tuple(self.new.policies[k] for k in sorted(keys))
                if entry is not None and same_objects(entry[0], policies):
                    continue
                attachment = merge(target, policies)
                self.attachments[target] = (policies, attachment)
            elif entry is None:
                continue
            else:
                del self.attachments[target]
            self.dirty_outputs.add(target)
            self.dirty_statuses.update(self.index.policies_on.get(target, ()))
            self.restated.add(target)
            was, now = secret_ref(entry[1] if entry else None), secret_ref(attachment)
            if was != now:
                for ref, linked in ((was, False), (now, True)):
                    if ref is not None:
                        affected.add(ref[0])
                        relink(self.tls, ref[0], target, linked)
        refs: dict[Key, Key | None] = {}
        for policy in affected:
            tls = self.new.policies[policy].spec.tls if self.tls.get(policy) else None
            secret = tls.secret_ref if tls is not None else None
            refs[policy] = (policy[0], secret.name) if secret is not None else None
        return refs

    def _sds(self, stale: Iterable[Key]) -> None:
        """The SDS resources of each Secret whose served contents changed."""
        materials = self.ledger.memory.materials
        for key in stale:
            for name in (certificate_name(key), ca_name(key)):
                self._set(SECRET, name, None)
            material = materials.get(key)
            if material is not None:
                for name, secret in sds_secrets(key, material).items():
                    self._set(SECRET, name, encode(secret))

    def _output(self, target: Target) -> None:
        """Translate the target again if anything it is made from is another object."""
        obj = lookup(target, self.new)
        entry = self.outputs.get(target)
        result: TargetOutput | None = None
        if obj is not None:
            found = self.attachments.get(target)
            attachment = found[1] if found is not None else None
            ref = secret_ref(attachment)
            used = {ref[0]: self.ledger.resolved[ref[0]]} if ref is not None else {}
            inputs = (obj, attachment, *used.values())
            if isinstance(obj, Service):
                slices = tuple(
                    self.new.endpoint_slices[k] for k in sorted(self.slices_of.get(obj.key, ()))
                )
                endpoints = (obj, self.topology, *slices)
                if entry is not None and same_objects(entry[1], endpoints):
                    if same_objects(entry[0], inputs):
                        return
                    kept = entry[2].load_assignments  # only the policies changed
                    result = service_output(obj, attachment, slices, self.topology, used, kept)
                else:
                    result = service_output(obj, attachment, slices, self.topology, used)
            else:
                assert isinstance(obj, Backend)
                endpoints = ()
                if entry is not None and same_objects(entry[0], inputs):
                    return
                result = backend_output(obj, attachment, used)
            self.outputs[target] = (inputs, endpoints, result)
        elif entry is None:
            return
        else:
            del self.outputs[target]
        before = entry[2] if entry is not None else _NOTHING
        after = result if result is not None else _NOTHING
        self._replace(CLUSTER, before.clusters, after.clusters)
        self._replace(ENDPOINT, before.load_assignments, after.load_assignments)
        for cluster in before.clusters if before.sds_names else ():
            self.sds_names.pop(cluster, None)
        for cluster in after.clusters if after.sds_names else ():
            self.sds_names[cluster] = after.sds_names
        if before.sds_names != after.sds_names:
            self.sds_changed.update((*before.clusters, *after.clusters))
        if before.warnings != after.warnings:
            self.dirty_statuses.update(self.index.policies_on.get(target, ()))
            self.restated.add(target)

    def _replace(self, url: str, before: Mapping[str, bytes], after: dict[str, bytes]) -> None:
        """`before`'s names replaced by `after`'s in the table; an `after` resource with the
        same bytes as the table's is given the table's (one copy, and not changed)."""
        for name in before.keys() - after.keys() if before else ():
            self._set(url, name, None)
        for name, body in after.items():
            kept = self._set(url, name, body)
            if kept is not body:
                assert kept is not None  # the same bytes
                after[name] = kept

    def _set(self, url: str, name: str, body: bytes | None) -> bytes | None:
        """Give `name` its resource (None: none); returns what the table holds: the one it
        had when the bytes are the same (then the name is not changed)."""
        table = self.tables[url]
        old = table.get(name)
        if old is body or old == body:
            return old
        if body is None:
            del table[name]
        else:
            table[name] = body
        self.changed[url].add(name)
        return body

    def _statuses(self) -> tuple[Map[Key, PolicyStatus], frozenset[Key]]:
        changed: set[Key] = set()
        statuses = self.state.statuses.mutate()
        for key in self.dirty_statuses:
            policy = self.new.policies.get(key)
            before = statuses.get(key)
            if policy is None:
                if before is not None:
                    del statuses[key]
                    changed.add(key)
                continue
            # A target whose attachment and warnings are as before keeps its ancestor status:
            # a policy selecting thousands of Services is not restated on each when one changes.
            old = self.state.index.targets_of.get(key, ())
            kept = dict(zip(old, before.ancestors, strict=True)) if before is not None else {}
            ancestors = tuple(
                found
                if target not in self.restated and (found := kept.get(target)) is not None
                else ancestor(target, key, self._attachment(target), self._warnings(target, key))
                for target in self.index.targets_of[key]
            )
            status = PolicyStatus(*key, policy.metadata.generation, ancestors)
            if status != before:
                statuses[key] = status
                changed.add(key)
        return statuses.finish(), frozenset(changed)

    def _attachment(self, target: Target) -> Attachment | None:
        found = self.attachments.get(target)
        return found[1] if found is not None else None

    def _warnings(self, target: Target, policy: Key) -> set[str]:
        found = self.outputs.get(target)
        return found[2].warnings.get(policy, set()) if found is not None else set()

    def _gateways(self, changes: frozenset[ObjectKey], by_kind: dict[str, list[Key]]) -> _Gateways:
        """The Gateways' listeners and routes, made again only when what they read changed."""
        kept = self.state.gateways
        if (
            kept is not None
            and not any(by_kind[kind] for kind in _GATEWAY_KINDS)
            and kept.referenced.isdisjoint(changes)
        ):
            return kept
        new, options = self.new, self.options
        served = sort_gateways(new, options.controller, options.undeclared_classes)
        output = translate_gateways(served.ours, options.listener_address, served.foreign)
        # In key order, whatever order the view's tables have (a view made by replacing adds
        # new objects last).
        output.gateway_statuses.sort(key=lambda s: (s.namespace, s.name))
        output.route_statuses.sort(key=lambda s: (s.namespace, s.name))
        self._replace(LISTENER, kept.output.listeners if kept else {}, output.listeners)
        self._replace(ROUTE, kept.output.routes if kept else {}, output.routes)
        referenced = frozenset(
            (ref.kind, ref.namespace or route.metadata.namespace, ref.name)
            for route in new.http_routes.values()
            for rule in route.spec.rules
            for ref in rule.backend_refs
        )
        return _Gateways(served, output, referenced)

    def _local(self, sliced: set[Key], moved: bool) -> tuple[Problem, ...]:
        """The local cluster, made again when its slices or the Nodes (`moved`) changed."""
        proxies = self.options.local_cluster
        if proxies is None:
            return ()
        if proxies not in sliced and not moved:
            return self.state.local
        slices = tuple(self.new.endpoint_slices[k] for k in sorted(self.slices_of.get(proxies, ())))
        local, problems = local_assignment(proxies, slices, self.topology)
        self._set(ENDPOINT, local.cluster_name, encode(local))
        return tuple(problems)

    def _groups(self, gateways: _Gateways) -> dict[str, Selection]:
        """Each Gateway's group gets its own listeners and routes (named alike) and the
        clusters they route to, with their endpoints (and the local cluster's) and the secrets
        they name. The unnamed group (an Envoy naming no Gateway) gets every cluster and
        secret, and the listeners of the only Gateway when there is exactly one.

        Made again only when the Gateways were, or a routed cluster's secrets changed; a group
        whose selection is as before keeps the very same one."""
        before = self.state.groups
        parts = gateways.output.parts
        if (
            before
            and gateways is self.state.gateways
            and not any(self.sds_changed & p.clusters for p in parts.values())
        ):
            return before
        local = self.options.local_cluster is not None
        shared = frozenset({LOCAL_CLUSTER}) if local else frozenset()
        groups = {gateway_key(*key): self._group(part, shared) for key, part in parts.items()}
        only = frozenset(next(iter(parts.values())).listeners) if len(parts) == 1 else frozenset()
        groups[UNNAMED] = {SECRET: None, CLUSTER: None, ENDPOINT: None, LISTENER: only, ROUTE: only}
        return {key: _kept(before.get(key), selection) for key, selection in groups.items()}

    def _group(self, part: GatewayParts, shared: frozenset[str]) -> Selection:
        listeners, clusters = frozenset(part.listeners), frozenset(part.clusters)
        return {
            SECRET: frozenset(n for c in clusters for n in self.sds_names.get(c, ())),
            CLUSTER: clusters,
            ENDPOINT: clusters | shared,
            LISTENER: listeners,
            ROUTE: listeners,
        }


def _kept(before: Selection | None, now: Selection) -> Selection:
    """`now`, with the names of each type that did not change the very same set as before."""
    if before is None:
        return now
    kept = {url: before[url] if before.get(url) == names else names for url, names in now.items()}
    return before if all(kept[url] is before.get(url) for url in kept) else kept


def _provenance(
    resources: Resources, outputs: Map[Target, _Output]
) -> Callable[[], list[FieldOrigin]]:
    def origins() -> list[FieldOrigin]:
        found = []
        for kind, table in ((SERVICE, resources.services), (BACKEND, resources.backends)):
            for key in table:
                entry = outputs.get(Target(*kind, *key))
                if entry is not None:
                    found.extend(entry[2].origins)
        return found

    return origins
