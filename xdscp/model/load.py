"""Documents (parsed YAML or Kubernetes JSON) to typed objects, with every problem as data."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from xdscp.model.backendconfigpolicy import Backend, BackendConfigPolicy
from xdscp.model.base import KubeObject
from xdscp.model.catalog import unknown_kind
from xdscp.model.errors import describe
from xdscp.model.gateway import Gateway, GatewayClass
from xdscp.model.httproute import HTTPRoute
from xdscp.model.node import Node
from xdscp.model.problems import Problem
from xdscp.model.referencegrant import ReferenceGrant
from xdscp.model.resources import ObjectKey
from xdscp.model.secret import Secret
from xdscp.model.service import EndpointSlice, Service
from xdscp.model.share import shared

# Every kind xdscp reads, in one visible list.
KINDS: tuple[type[KubeObject], ...] = (
    Service,
    EndpointSlice,
    GatewayClass,
    Gateway,
    HTTPRoute,
    ReferenceGrant,
    BackendConfigPolicy,
    Backend,
    Node,
    Secret,
)
_BY_GROUP_KIND = {(k.GROUP, k.KIND): k for k in KINDS}


@dataclass(frozen=True)
class Document:
    source: str  # where it came from, for messages: a file path, or "kubernetes"
    body: Any


@dataclass
class Loaded:
    objects: dict[ObjectKey, KubeObject] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def load(docs: Iterable[Document], previous: Mapping[ObjectKey, KubeObject]) -> Loaded:
    """Validate each document; an invalid one keeps the previous good version of its object.

    A kind xdscp does not read (a Deployment beside the Service) is reported as ignored, with
    a warning; an unknown kind of a group xdscp reads (`BackendConfigPolicyy`) is an error.
    """
    loaded = Loaded()
    for doc in docs:
        for body in _items(doc.body):
            _load_one(Document(doc.source, body), previous, loaded)
    return loaded


def _items(body: Any) -> Iterable[Any]:
    # `kubectl get -o yaml` writes a List; accept what users paste from it.
    if (
        isinstance(body, dict)
        and body.get("kind") == "List"
        and isinstance(body.get("items"), list)
    ):
        items: list[Any] = body["items"]
        return items
    return [body]


def _load_one(doc: Document, previous: Mapping[ObjectKey, KubeObject], out: Loaded) -> None:
    body = doc.body
    if body is None:  # an empty document between two `---`
        return
    if not isinstance(body, dict):
        out.problems.append(Problem(doc.source, "", "", "", "", "a document must be a mapping"))
        return
    kind, namespace, name = _identity(body)

    def problem(field_path: str, message: str, warning: bool = False) -> Problem:
        return Problem(doc.source, kind, namespace, name, field_path, message, warning)

    api_version = body.get("apiVersion")
    if not isinstance(api_version, str) or not isinstance(body.get("kind"), str):
        out.problems.append(problem("", "apiVersion and kind must be set"))
        return
    group, _, version = api_version.rpartition("/")
    cls = _BY_GROUP_KIND.get((group, kind))
    if cls is None:
        typo = unknown_kind(group, kind)
        if typo:
            out.problems.append(problem("kind", typo))
        else:
            message = f"{api_version} {kind} is not read by xdscp; ignored"
            out.problems.append(problem("", message, warning=True))
        return
    if not cls.NAMESPACED:  # the API server drops a namespace given to a Node; so do we
        namespace = ""
    if version not in cls.VERSIONS:
        out.problems.append(
            problem("apiVersion", f"{api_version} is not served; use {_api_version(cls)}")
        )
        return
    key = (kind, namespace, name)
    try:
        obj = cls.model_validate(body)
        refused = list(obj.invalid())
    except ValidationError as err:
        refused = list(describe(err))
    if refused:
        out.problems.extend(problem(path, message) for path, message in refused)
        if key in previous:
            out.objects[key] = previous[key]
        return
    if key in out.objects:
        out.problems.append(problem("metadata.name", "duplicate: defined more than once"))
        return
    out.objects[key] = shared(obj)


def _identity(body: dict[str, Any]) -> ObjectKey:
    meta = body.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    kind, namespace, name = body.get("kind"), meta.get("namespace"), meta.get("name")
    return (
        kind if isinstance(kind, str) else "",
        namespace if isinstance(namespace, str) else "default",
        name if isinstance(name, str) else "",
    )


def _api_version(cls: type[KubeObject]) -> str:
    return f"{cls.GROUP}/{cls.VERSIONS[0]}" if cls.GROUP else cls.VERSIONS[0]
