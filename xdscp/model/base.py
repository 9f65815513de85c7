"""What every Kubernetes object here shares: camelCase fields, frozen values, metadata."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from xdscp.model.errors import unknown_field


class Spec(BaseModel):
    """A block of an API we own the schema of: unknown fields are errors.

    Scalars use the strict types of `xdscp.model.types`, as the API server would: "3" is no integer.
    Fields are read by their API names only: `tcp_keepalive` is an unknown field, as it is to the
    API server.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel)


class Lenient(BaseModel):
    """A block of an API we read a subset of (Service, Gateway): other fields are ignored, but
    not a field we read spelled in snake_case (`backend_refs`): the API server refuses that as
    an unknown field, and ignoring it would serve something other than what the user meant."""

    model_config = ConfigDict(frozen=True, extra="ignore", alias_generator=to_camel)

    @model_validator(mode="before")
    @classmethod
    def _no_python_names(cls, data: Any) -> Any:
        if isinstance(data, dict):
            aliases = _aliases(cls)
            for key in data:
                if isinstance(key, str) and "_" in key and to_camel(key) in aliases:
                    raise unknown_field(key)
        return data


@functools.cache
def _aliases(cls: type[BaseModel]) -> frozenset[str]:
    return frozenset(f.alias for f in cls.model_fields.values() if f.alias)


class ObjectMeta(Lenient):
    name: str = Field(min_length=1, max_length=253)
    namespace: str = "default"
    labels: dict[str, str] = Field(default_factory=dict)
    creation_timestamp: datetime | None = None
    generation: int = 0
    resource_version: str = ""


class ClusterMeta(ObjectMeta):
    """A cluster-scoped object has no namespace: the API server drops one if given."""

    namespace: str = ""

    @field_validator("namespace", mode="before")
    @classmethod
    def _no_namespace(cls, _: object) -> str:
        return ""


@dataclass(frozen=True)
class NameRule:
    what: str
    pattern: re.Pattern[str]
    length: int
    example: str

    def problem(self, name: str) -> str | None:
        if len(name) > self.length:
            return f"must be no more than {self.length} characters"
        if not self.pattern.fullmatch(name):
            return (
                f"{self.what} must consist of lower case alphanumeric characters{self.example}"
                f" (regex used for validation is '{self.pattern.pattern}')"
            )
        return None


_LABEL_1123 = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS_LABEL = NameRule(
    "a lowercase RFC 1123 label",
    re.compile(_LABEL_1123),
    63,
    " or '-', and must start and end with an alphanumeric character",
)
DNS_SUBDOMAIN = NameRule(
    "a lowercase RFC 1123 subdomain",
    re.compile(rf"{_LABEL_1123}(\.{_LABEL_1123})*"),
    253,
    ", '-' or '.', and must start and end with an alphanumeric character",
)
DNS_1035_LABEL = NameRule(
    "a DNS-1035 label",
    re.compile("[a-z]([-a-z0-9]*[a-z0-9])?"),
    63,
    " or '-', start with an alphabetic character, and end with an alphanumeric character",
)


class KubeObject(Lenient):
    """A top-level object. Subclasses name their apiVersion group and kind."""

    GROUP: ClassVar[str]
    KIND: ClassVar[str]
    VERSIONS: ClassVar[tuple[str, ...]] = ("v1",)
    # The API server's rule for this kind's names: a DNS-1123 subdomain unless a kind says
    # otherwise (a Service's name is a DNS-1035 label); namespaces are DNS-1123 labels. So no
    # two objects' Envoy names (`kube_<ns>_<svc>_<port>`) collide, and no control character
    # reaches Envoy.
    NAME_RULE: ClassVar[NameRule] = DNS_SUBDOMAIN
    NAMESPACED: ClassVar[bool] = True

    metadata: ObjectMeta

    def invalid(self) -> Iterator[tuple[str, str]]:
        """What the API server refuses beyond a schema, as (field path, message)."""
        name, namespace = self.metadata.name, self.metadata.namespace
        if message := self.NAME_RULE.problem(name):
            yield "metadata.name", f"Invalid value: {json.dumps(name)}: {message}"
        if self.NAMESPACED and (message := DNS_LABEL.problem(namespace)):
            yield "metadata.namespace", f"Invalid value: {json.dumps(namespace)}: {message}"

    @property
    def key(self) -> tuple[str, str]:
        return (self.metadata.namespace, self.metadata.name)

    @property
    def ref(self) -> str:
        return f"{self.KIND} {self.metadata.namespace}/{self.metadata.name}"


# A label key's name part, and a label value: up to 63 of [A-Za-z0-9-_.], alphanumeric ends.
_LABEL = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _label_problem(key: str, value: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if not name or len(name) > 63 or not _LABEL.match(name):
        return f"Invalid value: {key!r}: a label key's name must be 1-63 of [A-Za-z0-9-_.]"
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return f"Invalid value: {key!r}: a label key's prefix must be a DNS subdomain"
    if len(value) > 63 or not _LABEL.match(value):
        return f"Invalid value: {value!r}: a label value must be at most 63 of [A-Za-z0-9-_.]"
    return None


class StrictObjectMeta(ObjectMeta):
    """The metadata of a kind whose schema we own, checked as strict field validation checks
    it: every ObjectMeta field is known, anything else is an unknown field, labels are valid."""

    model_config = ConfigDict(extra="forbid")

    generate_name: str | None = None
    self_link: str | None = None
    uid: str | None = None
    deletion_timestamp: datetime | None = None
    deletion_grace_period_seconds: int | None = None
    annotations: dict[str, str] = Field(default_factory=dict)
    owner_references: list[Any] = Field(default_factory=list)
    finalizers: list[str] = Field(default_factory=list)
    managed_fields: list[Any] = Field(default_factory=list)

    @field_validator("labels")
    @classmethod
    def _qualified_labels(cls, labels: dict[str, str]) -> dict[str, str]:
        problems = [p for k, v in labels.items() if (p := _label_problem(k, v))]
        if problems:
            raise ValueError("; ".join(problems))
        return labels


class OwnedObject(KubeObject):
    """A top-level object of a kind whose CRD we ship: nothing beside its fields is allowed."""

    model_config = ConfigDict(extra="forbid")

    api_version: str
    kind: str
    metadata: StrictObjectMeta
    status: dict[str, Any] | None = None
