"""BackendConfigPolicy as the API server admits it: defaults, "set" fields, errors, immutability."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from xdscp.model.backendconfigpolicy import BackendConfigPolicy
from xdscp.model.errors import describe
from xdscp.model.policy.quantity import parse_quantity


def policy(spec: dict[str, Any]) -> BackendConfigPolicy:
    return BackendConfigPolicy.model_validate(
        {"apiVersion": "gateway.kgateway.dev/v1alpha1", "kind": "BackendConfigPolicy",
         "metadata": {"name": "p", "namespace": "ns"}, "spec": spec}
    )  # fmt: skip


def errors(spec: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as raised:
        policy(spec)
    return list(describe(raised.value))


def test_crd_defaults_fill_blocks_the_user_wrote() -> None:
    spec = policy(
        {
            "loadBalancer": {"leastRequest": {}, "zoneAware": {"preferLocal": {"force": {}}}},
            "outlierDetection": {},
            "upstreamProxyProtocol": {},
            "tls": {"secretRef": {}},
        }
    ).spec
    assert spec.load_balancer is not None and spec.load_balancer.least_request is not None
    assert spec.load_balancer.least_request.choice_count == 2
    zone = spec.load_balancer.zone_aware
    assert zone is not None and zone.prefer_local is not None and zone.prefer_local.force
    assert (zone.prefer_local.min_endpoints_threshold, zone.prefer_local.routing_enabled) == (
        6,
        100,
    )
    assert zone.prefer_local.force.min_endpoints_in_zone_threshold == 1
    outlier = spec.outlier_detection
    assert outlier is not None
    assert (outlier.consecutive_5xx, str(outlier.interval), str(outlier.base_ejection_time)) == (
        5, "10s", "30s",
    )  # fmt: skip
    assert outlier.max_ejection_percent == 10
    assert spec.upstream_proxy_protocol is not None
    assert spec.upstream_proxy_protocol.version == "V1"
    assert spec.tls is not None and spec.tls.secret_ref is not None
    assert spec.tls.secret_ref.name == ""


def test_defaults_never_create_a_block() -> None:
    spec = policy({"connectTimeout": "1s"}).spec
    assert spec.outlier_detection is None and spec.upstream_proxy_protocol is None


def test_fields_set_lists_what_the_user_wrote_in_schema_order() -> None:
    written = policy(
        {
            "outlierDetection": {},
            "targetRefs": [{"group": "", "kind": "Service", "name": "s"}],
            "tcpKeepalive": {},
            "connectTimeout": None,  # null is pruned, as the API server prunes it
        }
    )
    assert written.fields_set == ("tcp_keepalive", "outlier_detection")


def test_null_takes_the_default() -> None:
    outlier = policy({"outlierDetection": {"interval": None}}).spec.outlier_detection
    assert outlier is not None and str(outlier.interval) == "10s"


def test_frozen() -> None:
    spec = policy({"connectTimeout": "1s"}).spec
    with pytest.raises(ValidationError):
        spec.connect_timeout = None


def test_strict_scalars() -> None:
    assert errors({"perConnectionBufferLimitBytes": True}) == [
        ("spec.perConnectionBufferLimitBytes", 'Invalid value: "boolean": must be of type integer')
    ]
    assert errors({"circuitBreakers": {"maxRetries": 1.5}}) == [
        ("spec.circuitBreakers.maxRetries", 'Invalid value: "number": must be of type integer')
    ]
    # A number with no fraction is an integer to the API server (it stores 1.0 as 1).
    breakers = policy({"circuitBreakers": {"maxRetries": 1.0}}).spec.circuit_breakers
    assert breakers is not None and breakers.max_retries == 1


def test_rules_and_field_errors_are_reported_together() -> None:
    lb = "spec.loadBalancer"
    assert errors({"loadBalancer": {"healthyPanicThreshold": -1}}) == [
        (f"{lb}.healthyPanicThreshold", "Invalid value: -1: should be greater than or equal to 0"),
        (lb, 'Invalid value: "object": exactly one of the fields in '
         "[leastRequest roundRobin ringHash maglev random] must be set"),
    ]  # fmt: skip


def test_list_items_are_named_by_index() -> None:
    refs = [{"group": "", "kind": "Service", "name": "a"}, {"group": "", "kind": "Service"}]
    assert errors({"targetRefs": refs}) == [("spec.targetRefs[1].name", "Required value")]


def test_snake_case_spellings_are_unknown_fields_as_to_the_api_server() -> None:
    assert errors({"load_balancer": {"roundRobin": {}}}) == [
        ("spec.load_balancer", "field not declared in schema")
    ]
    assert errors({"tcpKeepalive": {"keep_alive_probes": 3}}) == [
        ("spec.tcpKeepalive.keep_alive_probes", "field not declared in schema")
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [("64Ki", 65536), ("1.5Mi", 1572864), ("65535", 65535), ("1e5", 100000), ("2G", 2 * 10**9),
     ("500m", 0.5), (".5k", 500)],
)  # fmt: skip
def test_quantities(text: str, value: float) -> None:
    assert parse_quantity(text) == pytest.approx(value)


@pytest.mark.parametrize(("given", "window"), [("65534.5", 65535), (70000, 70000), ("64Ki", 65536)])
def test_window_sizes_round_up(given: object, window: int) -> None:
    options = policy({"http2ProtocolOptions": {"initialStreamWindowSize": given}}).spec
    assert options.http2_protocol_options is not None
    assert options.http2_protocol_options.initial_stream_window_size == window


def test_window_exponent_beyond_decimal_range_is_out_of_range() -> None:
    ((path, message),) = errors({"http2ProtocolOptions": {"initialStreamWindowSize": "1e9999999"}})
    assert path == "spec.http2ProtocolOptions.initialStreamWindowSize"
    assert message.endswith("must be between 65535 and 2147483647 bytes (inclusive)")
