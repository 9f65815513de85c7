"""Properties of the validator and translator, over policies hypothesis makes up.

Any policy xdscp accepts translates to clusters Envoy accepts; translation is deterministic;
and the merge of several policies on one target never depends on the order they came in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.envoy_validate import as_static, envoy_validate
from tests.gatewaylab import gateway_class
from xdscp import render
from xdscp.gatewaystatus import CONTROLLER
from xdscp.model.base import KubeObject
from xdscp.model.duration import Duration
from xdscp.model.load import Document, load
from xdscp.model.resources import Resources
from xdscp.resourcetypes import CLUSTER
from xdscp.translate import Options, Translation, Translator, translate
from xdscp.translate.secrets import FIRST

INT32 = 2**31 - 1
UNITS = {"h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1}

pairs = st.lists(
    st.tuples(st.integers(0, 99_999), st.sampled_from(sorted(UNITS))), min_size=1, max_size=4
)


def duration(min_millis: int = 0) -> st.SearchStrategy[str]:
    return pairs.filter(lambda p: sum(n * UNITS[u] for n, u in p) >= min_millis).map(
        lambda p: "".join(f"{n}{u}" for n, u in p)
    )


def optional_keys(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


spec_blocks = optional_keys(
    connectTimeout=duration(1),
    perConnectionBufferLimitBytes=st.integers(0, INT32),
    tcpKeepalive=optional_keys(
        keepAliveProbes=st.integers(0, INT32),
        keepAliveTime=duration(1000),
        keepAliveInterval=duration(1000),
    ),
    commonHttpProtocolOptions=optional_keys(
        idleTimeout=duration(),
        maxConnectionDuration=duration(),
        maxStreamDuration=duration(),
        maxHeadersCount=st.integers(1, 10_000),
        maxRequestsPerConnection=st.integers(1, INT32),
    ),
    outlierDetection=optional_keys(
        consecutive5xx=st.integers(0, INT32),
        interval=duration(1),
        baseEjectionTime=duration(1),
        maxEjectionPercent=st.integers(0, 100),
    ),
    circuitBreakers=st.fixed_dictionaries(
        {"maxConnections": st.integers(1, INT32)},
        optional={"maxRetries": st.integers(0, INT32), "trackRemaining": st.booleans()},
    ),
    loadBalancer=st.one_of(
        st.just({"roundRobin": {}}),
        st.just({"random": {}}),
        st.just({"maglev": {}}),
        st.builds(lambda n: {"leastRequest": {"choiceCount": n}}, st.integers(2, 100)),
    ).flatmap(
        lambda algorithm: optional_keys(healthyPanicThreshold=st.integers(0, 100)).map(
            lambda extra: {**algorithm, **extra}
        )
    ),
)


def policy(name: str, service: str, spec: dict[str, Any], created: int = 0) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.kgateway.dev/v1alpha1",
        "kind": "BackendConfigPolicy",
        "metadata": {
            "name": name,
            "namespace": "prop",
            "creationTimestamp": f"2026-01-01T00:00:{created:02d}Z",
        },
        "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": service}], **spec},
    }


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "prop"},
        "spec": {"ports": [{"name": "http", "port": 8080}]},
    }


def resources_of(bodies: list[dict[str, Any]]) -> Resources:
    loaded = load([Document("property", body) for body in bodies], {})
    assume(not loaded.problems)  # the strategies aim at valid policies; skip the rare miss
    return Resources.of(loaded.objects.values())


@given(pairs)
def test_durations_in_the_grammar_parse_to_their_sum(duration_pairs: list[tuple[int, str]]) -> None:
    text = "".join(f"{n}{u}" for n, u in duration_pairs)
    assume(len(text) <= 32)
    parsed = Duration.parse(text)
    assert parsed.millis == sum(n * UNITS[u] for n, u in duration_pairs)
    assert parsed.whole_seconds == parsed.millis // 1000


@pytest.mark.envoy
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=st.lists(spec_blocks, min_size=1, max_size=8))
def test_accepted_policies_translate_deterministically_to_clusters_envoy_accepts(
    specs: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    bodies = []
    for index, spec in enumerate(specs):
        bodies += [service(f"s{index}"), policy(f"p{index}", f"s{index}", spec)]
    resources = resources_of(bodies)
    first, second = translate(resources), translate(resources)
    assert first.resources[CLUSTER] == second.resources[CLUSTER]
    clusters = [as_static(render.message_dict(c), n) for n, c in first.messages(CLUSTER).items()]
    workdir: Path = tmp_path_factory.mktemp("validate")
    result = envoy_validate(clusters, workdir)
    assert result.returncode == 0, f"{specs}\n{result.stdout}{result.stderr}"


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(spec_blocks, st.integers(0, 3)), min_size=2, max_size=5),
    st.randoms(use_true_random=False),
)
def test_merge_never_depends_on_input_order(
    specs: list[tuple[dict[str, Any], int]], shuffler: Any
) -> None:
    bodies = [service("shared")] + [
        policy(f"p{index}", "shared", spec, created) for index, (spec, created) in enumerate(specs)
    ]
    shuffled = list(bodies)
    shuffler.shuffle(shuffled)
    one, other = translate(resources_of(bodies)), translate(resources_of(shuffled))
    assert render.document(one, explain=True) == render.document(other, explain=True)


# A Secret of CA certificates Envoy takes (from a golden case), and one it does not.
_GOOD_CA = next(
    d
    for d in yaml.safe_load_all(
        (
            Path(__file__).parents[1] / "golden/backendconfigpolicy/tls-secret-ref.in.yaml"
        ).read_text()
    )
    if d and d["metadata"]["name"] == "trust"
)["data"]["ca.crt"]
NAMESPACE = "prop"


def _meta(name: str, **labels: str) -> dict[str, Any]:
    return {"name": name, "namespace": NAMESPACE, "labels": labels}


def _service(i: int, tier: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(f"s{i}", tier=tier),
        "spec": {"ports": [{"name": "http", "port": 8080}]},
    }


def _slice(i: int, service: int, address: int, node: int, zone: str | None) -> dict[str, Any]:
    endpoint = {"addresses": [f"10.0.0.{address}"], "nodeName": f"n{node}"}
    if zone is not None:
        endpoint["zone"] = zone
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": _meta(f"e{i}", **{"kubernetes.io/service-name": f"s{service}"}),
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080}],
        "endpoints": [endpoint],
    }


def _node(i: int, zone: str, region: str) -> dict[str, Any]:
    labels = {"topology.kubernetes.io/zone": zone, "topology.kubernetes.io/region": region}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"n{i}", "labels": labels}}


def _backend(i: int, host: int) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.kgateway.dev/v1alpha1",
        "kind": "Backend",
        "metadata": _meta(f"b{i}", tier="front"),
        "spec": {"type": "Static", "static": {"hosts": [{"host": f"192.0.2.{host}", "port": 443}]}},
    }


def _secret(i: int, good: bool) -> dict[str, Any]:
    data = _GOOD_CA if good else "bm90IGEgY2VydA=="  # "not a cert"
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(f"c{i}"),
        "type": "Opaque",
        "data": {"ca.crt": data},
    }


def _policy(
    i: int, targets: list[tuple[str, int]], tier: str | None, secret: int | None, spec: Any
) -> dict[str, Any]:
    body: dict[str, Any] = dict(spec)
    if targets:
        body["targetRefs"] = [
            {"group": "" if kind == "Service" else "gateway.kgateway.dev", "kind": kind, "name": n}
            for kind, n in ((k, f"{'s' if k == 'Service' else 'b'}{j}") for k, j in targets)
        ]
    if tier is not None:
        body["targetSelectors"] = [
            {"group": group, "kind": kind, "matchLabels": {"tier": tier}}
            for group, kind in (("", "Service"), ("gateway.kgateway.dev", "Backend"))
        ]
    if secret is not None:
        body["tls"] = {"secretRef": {"name": f"c{secret}"}, "sni": "backend.internal"}
    return {
        "apiVersion": "gateway.kgateway.dev/v1alpha1",
        "kind": "BackendConfigPolicy",
        "metadata": {**_meta(f"p{i}"), "creationTimestamp": f"2026-01-01T00:00:0{i}Z"},
        "spec": body,
    }


def _gateway(port: int) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": _meta("g"),
        "spec": {
            "gatewayClassName": "kgateway",
            "listeners": [{"name": "http", "protocol": "HTTP", "port": port}],
        },
    }


def _route(i: int, service: int, backend: int | None) -> dict[str, Any]:
    refs: list[dict[str, Any]] = [{"name": f"s{service}", "port": 8080}]
    if backend is not None:
        refs.append({"group": "gateway.kgateway.dev", "kind": "Backend", "name": f"b{backend}"})
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": _meta(f"r{i}"),
        "spec": {
            "parentRefs": [{"name": "g"}],
            "hostnames": [f"r{i}.example.com"],
            "rules": [{"backendRefs": refs}],
        },
    }


KINDS = [
    "Service",
    "EndpointSlice",
    "Node",
    "Backend",
    "Secret",
    "Policy",
    "Gateway",
    "HTTPRoute",
    "GatewayClass",
]
small = st.integers(0, 2)
tiers = st.sampled_from(["front", "back"])
small_specs = optional_keys(
    connectTimeout=st.sampled_from(["1s", "2s"]),
    tcpKeepalive=st.just({"keepAliveProbes": 3}),
    http2ProtocolOptions=st.just({"maxConcurrentStreams": 10}),  # ignored on an HTTP/1 port
)
# One step: what object (kind, name) becomes, or None: it goes.
changes = st.one_of(
    st.builds(lambda i, t: (("Service", i), _service(i, t)), small, tiers),
    st.builds(
        lambda i, s, a, n, z: (("EndpointSlice", i), _slice(i, s, a, n, z)),
        small,
        small,
        small,
        small,  # n2 is never a Node
        st.none() | st.sampled_from("ab"),
    ),
    st.builds(
        lambda i, z, r: (("Node", i), _node(i, z, r)),
        st.integers(0, 1),
        st.sampled_from("ab"),
        st.sampled_from(["r", "s", ""]),
    ),
    st.builds(lambda i, h: (("Backend", i), _backend(i, h)), st.integers(0, 1), small),
    st.builds(lambda i, g: (("Secret", i), _secret(i, g)), st.integers(0, 1), st.booleans()),
    st.builds(
        lambda i, t, tier, sec, spec: (("Policy", i), _policy(i, t, tier, sec, spec)),
        small,
        st.lists(st.tuples(st.sampled_from(["Service", "Backend"]), small), max_size=2),
        st.none() | tiers,
        st.none() | st.integers(0, 1),
        small_specs,
    ),
    st.builds(lambda p: (("Gateway", 0), _gateway(p)), st.sampled_from([8080, 8081])),
    st.builds(
        lambda i, s, b: (("HTTPRoute", i), _route(i, s, b)),
        st.integers(0, 1),
        small,
        st.none() | st.integers(0, 1),
    ),
    st.builds(
        lambda c: (("GatewayClass", 0), gateway_class("kgateway", c)),
        st.sampled_from([CONTROLLER, "example.com/other"]),
    ),
    st.builds(lambda kind, i: ((kind, i), None), st.sampled_from(KINDS), small),
)


def _same_translation(one: Translation, other: Translation) -> None:
    """What render shows (every message, status, problem, provenance) and the node groups."""
    shown = render.document(one, explain=True, show_secrets=True)
    assert shown == render.document(other, explain=True, show_secrets=True)
    assert one.groups == other.groups
    assert dict(one.statuses) == dict(other.statuses)


def _says_what_changed(before: Translation, after: Translation) -> None:
    """Whatever is another object than in `before` is among what `after` says changed."""
    assert after.base == before.serial and after.changed is not None
    for url, table in after.resources.items():
        old = before.resources[url]
        moved = {n for n in {*table, *old} if table.get(n) is not old.get(n)}
        assert moved <= after.changed[url], url
    assert after.changed_statuses is not None
    keys = {*after.statuses, *before.statuses}
    restated = {k for k in keys if after.statuses.get(k) is not before.statuses.get(k)}
    assert restated == after.changed_statuses


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(changes, min_size=1, max_size=25),
    st.integers(0, 3),
    # As files are served, and as Kubernetes is (with the proxies' Service as local cluster).
    st.sampled_from(
        [Options(), Options(local_cluster=(NAMESPACE, "s0"), undeclared_classes=False)]
    ),
)
def test_translating_incrementally_gives_what_translating_afresh_gives(
    steps: list[tuple[tuple[str, int], dict[str, Any] | None]], restart: int, options: Options
) -> None:
    """Services, slices, Nodes, Backends, Secrets, policies (by reference and by selector,
    with and without a Secret), a GatewayClass, a Gateway and routes change, appear and go one
    step at a time, each view made from the one before as the sources make it; objects that do
    not change keep their identity. The translator kept across the steps gives what a
    translation afresh gives (with the Secrets an afresh chain served before: a Secret turned
    bad keeps its last good contents), and says what changed."""
    translator = Translator(options)
    resources = Resources()
    objects: dict[tuple[str, int], KubeObject] = {}
    fresh_memory = FIRST
    before: Translation | None = None
    for step, (key, body) in enumerate(steps):
        gone = objects.pop(key, None)
        removed = [(gone.KIND, *gone.key)] if gone is not None else []
        if body is not None:
            objects[key] = one(body)  # a slot names one object: the same key each time
        added = [objects[key]] if body is not None else []
        # Mostly a view made by replacing, as the sources make them; now and then one made
        # afresh, whose changes the translator finds by comparing.
        resources = (
            Resources.of(objects.values())
            if step == restart
            else resources.replacing(added, () if added else removed)
        )
        incremental = translator.translate(resources)
        afresh = translate(resources, options, fresh_memory)
        fresh_memory = afresh.secret_memory
        _same_translation(incremental, afresh)
        if before is not None:
            _says_what_changed(before, incremental)
        before = incremental


def test_one_policy_changed_translates_only_its_target() -> None:
    """Among Services that each have a policy, one policy changed: only its target's cluster
    is another object, and only its status; the Gateway is not translated again."""
    bodies = [_gateway(8080), _route(0, 0, None)]
    for i in range(3):
        bodies += [_service(i, "front"), _policy(i, [("Service", i)], None, None, {})]
    loaded = load([Document("property", body) for body in bodies], {})
    changed = load(
        [Document("property", _policy(1, [("Service", 1)], None, None, {"connectTimeout": "2s"}))],
        {},
    )
    assert not loaded.problems and not changed.problems
    translator, view = Translator(), Resources.of(loaded.objects.values())
    first = translator.translate(view)
    second = translator.translate(view.replacing(changed.objects.values()))
    assert second.changed == {
        **{url: frozenset() for url in second.resources},
        CLUSTER: frozenset({"kube_prop_s1_8080"}),
    }
    assert second.changed_statuses == frozenset({(NAMESPACE, "p1")})
    assert (
        second.resources[CLUSTER]["kube_prop_s0_8080"]
        is first.resources[CLUSTER]["kube_prop_s0_8080"]
    )
    assert second.statuses[(NAMESPACE, "p0")] is first.statuses[(NAMESPACE, "p0")]
    assert second.route_statuses is first.route_statuses  # the Gateway's translation is kept


def one(body: dict[str, Any]) -> KubeObject:
    loaded = load([Document("property", body)], {})
    assume(not loaded.problems)
    (obj,) = loaded.objects.values()
    return obj


def test_a_service_leaving_a_selector_restates_only_its_own_ancestor() -> None:
    """A policy selecting three Services by label: one relabelled out of it leaves the
    policy's status with the other two, their entries the very ones they were."""
    bodies = [_service(i, "front") for i in range(3)] + [_policy(0, [], "front", None, {})]
    loaded = load([Document("property", body) for body in bodies], {})
    relabelled = load([Document("property", _service(1, "back"))], {})
    assert not loaded.problems and not relabelled.problems
    translator, view = Translator(), Resources.of(loaded.objects.values())
    (before,) = translator.translate(view).statuses.values()
    after = translator.translate(view.replacing(relabelled.objects.values()))
    (status,) = after.statuses.values()
    assert [a.name for a in status.ancestors] == ["s0", "s2"]
    assert status.ancestors[0] is before.ancestors[0] and status.ancestors[1] is before.ancestors[2]
    # s1 is translated again, to the same bytes (the policy sets nothing): nothing to send.
    assert after.changed is not None and after.changed[CLUSTER] == frozenset()
