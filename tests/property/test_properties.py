"""Properties of the validator and translator, over policies hypothesis makes up.

Any policy xdscp accepts translates to clusters Envoy accepts; translation is deterministic;
and the merge of several policies on one target never depends on the order they came in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.envoy_validate import as_static, envoy_validate
from xdscp import render
from xdscp.model.base import KubeObject
from xdscp.model.duration import Duration
from xdscp.model.load import Document, load
from xdscp.model.resources import Resources
from xdscp.resourcetypes import CLUSTER
from xdscp.translate import Memo, translate

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
    for name, cluster in first.resources[CLUSTER].items():
        same = second.resources[CLUSTER][name].SerializeToString(deterministic=True)
        assert cluster.SerializeToString(deterministic=True) == same
    clusters = [as_static(render.message_dict(c), n) for n, c in first.resources[CLUSTER].items()]
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


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), spec_blocks | st.none()), min_size=1, max_size=8))
def test_translating_with_a_memo_gives_what_translating_afresh_gives(
    steps: list[tuple[int, dict[str, Any] | None]],
) -> None:
    """Policies on four Services change, appear and go one step at a time; objects that do not
    change keep their identity, as the sources keep it, so the memo is really used."""
    objects = {key: one(service(f"s{key[1]}")) for key in (("Service", i) for i in range(4))}
    memo = Memo()
    for index, spec in steps:
        if spec is None:
            objects.pop(("Policy", index), None)
        else:
            objects[("Policy", index)] = one(policy(f"p{index}", f"s{index}", spec))
        resources = Resources.of(objects.values())
        remembered = translate(resources, memo=memo)
        afresh = translate(resources)
        assert render.document(remembered, explain=True) == render.document(afresh, explain=True)


def one(body: dict[str, Any]) -> KubeObject:
    loaded = load([Document("property", body)], {})
    assume(not loaded.problems)
    (obj,) = loaded.objects.values()
    return obj
