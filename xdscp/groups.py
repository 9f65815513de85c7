"""Which Gateway an Envoy serves, read off its node: the key of the snapshot it is given.

Two spellings, both in `node.metadata`:

- `role: <owner>~<namespace>~<name>`, kgateway's convention, so a kgateway proxy's bootstrap
  works unchanged (any owner: kgateway-kube-gateway-api, gloo-kube-gateway-api, ...);
- `gateway: <namespace>/<name>` (or just `<name>` in namespace `default`), for bootstraps
  written by hand.

An Envoy naming no Gateway joins the unnamed group: the only Gateway when there is exactly
one, and every cluster (what `envoy/bootstrap.yaml` and the demo need). A node whose metadata
cannot be read names nothing that exists, and is given an empty configuration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from envoy.config.core.v3 import base_pb2
from google.protobuf import struct_pb2

ROLE = "role"
GATEWAY = "gateway"
UNNAMED = "default"  # the unnamed group's key
INVALID = "invalid"  # the key of every node whose metadata names no Gateway legibly
SEPARATOR = "~"

# Kubernetes' limits: a namespace is a DNS label, a Gateway's name a DNS subdomain.
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_SHOWN = 80  # characters of a bad value quoted back in a message


@dataclass(frozen=True)
class NodeGroup:
    key: str
    gateway: tuple[str, str] | None = None  # (namespace, name) the node names
    problem: str = ""  # why the node names no Gateway legibly


def gateway_key(namespace: str, name: str) -> str:
    return f"gateway/{namespace}/{name}"


def identify(node: base_pb2.Node) -> NodeGroup:
    """The group a node belongs to: pure, from the node alone."""
    fields = node.metadata.fields
    named = [_read(key, fields[key]) for key in _SPELLINGS if key in fields]
    if not named:
        return NodeGroup(UNNAMED)
    problems = [p for p in named if isinstance(p, str)]
    gateways = {g for g in named if not isinstance(g, str)}
    if not problems and len(gateways) > 1:
        problems = [f"node.metadata.{ROLE} and node.metadata.{GATEWAY} name different Gateways"]
    if problems:
        return NodeGroup(INVALID, problem="; ".join(problems))
    (gateway,) = gateways
    return NodeGroup(gateway_key(*gateway), gateway)


def _role(text: str) -> tuple[str, str] | None:
    parts = text.split(SEPARATOR)
    return (parts[1], parts[2]) if len(parts) == 3 and parts[0] else None


def _gateway(text: str) -> tuple[str, str] | None:
    if "/" not in text:
        return ("default", text)
    parts = text.split("/")
    return (parts[0], parts[1]) if len(parts) == 2 else None


_SPELLINGS = {
    ROLE: (_role, "<owner>~<namespace>~<name>"),
    GATEWAY: (_gateway, "<namespace>/<name> or <name>"),
}


def _read(key: str, value: struct_pb2.Value) -> tuple[str, str] | str:
    """The (namespace, name) a metadata value names, or what is wrong with it."""
    if value.WhichOneof("kind") != "string_value":
        return f"node.metadata.{key}: must be a string"
    parse, form = _SPELLINGS[key]
    text = value.string_value
    parsed = parse(text)
    if parsed is None:
        return f"node.metadata.{key}: {_quote(text)} is not {form}"
    namespace, name = parsed
    if not _NAMESPACE.match(namespace) or not _NAME.match(name):
        return (
            f"node.metadata.{key}: {_quote(text)} does not name a Gateway "
            "(a namespace is a DNS label, a name a DNS subdomain)"
        )
    return parsed


def _quote(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")
