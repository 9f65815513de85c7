"""Which Gateway a node names: kgateway's role, the hand-written spelling, and bad metadata."""

from __future__ import annotations

import pytest
from envoy.config.core.v3 import base_pb2
from google.protobuf import struct_pb2

from xdscp.groups import INVALID, UNNAMED, NodeGroup, identify


def node(**metadata: object) -> base_pb2.Node:
    result = base_pb2.Node(id="envoy-1", cluster="gateways")
    result.metadata.update(metadata)
    return result


@pytest.mark.parametrize(
    "role",
    [
        "kgateway-kube-gateway-api~infra~public",
        "gloo-kube-gateway-api~infra~public",  # older kgateway releases
        "anything~infra~public",
    ],
)
def test_kgateway_role_of_any_owner_names_the_gateway(role: str) -> None:
    assert identify(node(role=role)) == NodeGroup("gateway/infra/public", ("infra", "public"))


@pytest.mark.parametrize(
    ("gateway", "expected"),
    [("infra/public", ("infra", "public")), ("public", ("default", "public"))],
)
def test_gateway_metadata_names_the_gateway(gateway: str, expected: tuple[str, str]) -> None:
    assert identify(node(gateway=gateway)).gateway == expected


def test_both_spellings_agreeing_are_one_gateway() -> None:
    group = identify(node(role="kgateway~infra~public", gateway="infra/public"))
    assert group.key == "gateway/infra/public"


def test_a_node_naming_nothing_is_unnamed() -> None:
    assert identify(base_pb2.Node(id="gateway-1")) == NodeGroup(UNNAMED)
    assert identify(node(other="x")) == NodeGroup(UNNAMED)


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"role": "kgateway~public"}, "node.metadata.role: 'kgateway~public' is not <owner>~"),
        ({"role": "~infra~public"}, "is not <owner>~<namespace>~<name>"),
        ({"role": "a~b~c~d"}, "is not <owner>~<namespace>~<name>"),
        ({"role": "k~Infra~public"}, "does not name a Gateway"),
        ({"role": "k~infra~"}, "does not name a Gateway"),
        ({"role": 3}, "node.metadata.role: must be a string"),
        ({"role": struct_pb2.Struct()}, "node.metadata.role: must be a string"),
        ({"gateway": "a/b/c"}, "node.metadata.gateway: 'a/b/c' is not <namespace>/<name>"),
        ({"gateway": "/public"}, "does not name a Gateway"),
        ({"gateway": ""}, "does not name a Gateway"),
        ({"role": "k~infra~a", "gateway": "infra/b"}, "name different Gateways"),
        ({"role": "k~" + "n" * 64 + "~x"}, "does not name a Gateway"),  # a DNS label is 63
    ],
)
def test_unreadable_metadata_is_its_own_group_with_a_reason(
    metadata: dict[str, object], message: str
) -> None:
    group = identify(node(**metadata))
    assert group.key == INVALID and group.gateway is None
    assert message in group.problem


def test_a_huge_role_is_quoted_back_short() -> None:
    group = identify(node(role="x" * 100_000))
    assert len(group.problem) < 300
