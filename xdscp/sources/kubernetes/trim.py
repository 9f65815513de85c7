"""What of each watched object is held in memory: the fields the model reads, and the status of
the kinds whose status xdscp writes.

An API object carries much xdscp never reads: managedFields (often as large as the rest),
kubectl's last-applied copy of the whole object, an EndpointSlice's Pod reference per
endpoint, a Service's selector and IPs, a Node's status. At 10,000 Services that is most of
what the watches would hold. What is dropped must not change what the model makes of an
object (tests/k8s/test_kmode_units.py checks it loads the same). A kind whose schema we own
(policies, Gateway API) keeps its whole spec: the model refuses unknown fields there, and
trimming would hide them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from xdscp.sources.kubernetes.api import JSON
from xdscp.sources.kubernetes.kinds import WITH_STATUS, Resource

# What ObjectMeta the model reads (model/base.py), the bookkeeping the store and the status
# writer compare (resourceVersion, generation), and the uid the deployer's objects name their
# Gateway by (ownerReferences).
METADATA = (
    "name",
    "namespace",
    "uid",
    "labels",
    "generation",
    "resourceVersion",
    "creationTimestamp",
)
_ENDPOINT = ("addresses", "conditions", "zone", "nodeName")  # model/service.py's Endpoint


def kept(resource: Resource, body: JSON) -> JSON:
    """`body` with only what xdscp reads, apiVersion and kind filled in (list items of
    built-in kinds come without them)."""
    meta = body.get("metadata")
    if isinstance(meta, dict):
        meta = {k: meta[k] for k in METADATA if k in meta}
    out: JSON = {"apiVersion": resource.api_version, "kind": resource.kind, "metadata": meta}
    if resource.metadata_only:
        return out
    rest = {k: v for k, v in body.items() if k not in ("apiVersion", "kind", "metadata")}
    trim = _BY_KIND.get(resource.kind)
    out.update(trim(rest) if trim else rest)
    data = out.get("data")
    if resource.data_keys and isinstance(data, dict):
        out["data"] = {k: v for k, v in data.items() if k in resource.data_keys}
    return _interned(out) if resource in WITH_STATUS else out


def _interned(value: Any) -> Any:
    """`value` with every string one held for all. The bodies of the kinds whose status xdscp
    writes are kept, each from its own JSON parse: their namespace, kinds, controller name,
    condition types, reasons and messages were a copy per object, and of the model's strings
    (which it holds once). Containers are made anew: a body may be shared with nobody."""
    if type(value) is str:
        return sys.intern(value)
    if type(value) is dict:
        return {sys.intern(k): _interned(v) for k, v in value.items()}
    if type(value) is list:
        return [_interned(v) for v in value]
    return value


def _service(rest: JSON) -> JSON:
    spec = rest.get("spec")
    if not isinstance(spec, dict):
        return {"spec": spec} if "spec" in rest else {}
    return {"spec": {"ports": spec["ports"]} if "ports" in spec else {}}


def _endpoint_slice(rest: JSON) -> JSON:
    out: JSON = {k: rest[k] for k in ("addressType", "ports", "endpoints") if k in rest}
    endpoints = out.get("endpoints")
    if isinstance(endpoints, list):
        out["endpoints"] = [
            {k: e[k] for k in _ENDPOINT if k in e} if isinstance(e, dict) else e for e in endpoints
        ]
    return out


_BY_KIND: dict[str, Callable[[JSON], JSON]] = {
    "Service": _service,
    "EndpointSlice": _endpoint_slice,
}
