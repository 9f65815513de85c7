"""What every Kubernetes object here shares: camelCase fields, frozen values, metadata."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel


class Spec(BaseModel):
    """A block of an API we own the schema of: unknown fields are errors.

    Scalars use the strict types of `xdscp.model.types`, as the API server would: "3" is no integer.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


class Lenient(BaseModel):
    """A block of an API we read a subset of (Service, Gateway): other fields are ignored."""

    model_config = ConfigDict(
        frozen=True, extra="ignore", alias_generator=to_camel, populate_by_name=True
    )


class ObjectMeta(Lenient):
    name: str = Field(min_length=1, max_length=253)
    namespace: str = "default"
    labels: dict[str, str] = Field(default_factory=dict)
    creation_timestamp: datetime | None = None
    generation: int = 0
    resource_version: str = ""


class KubeObject(Lenient):
    """A top-level object. Subclasses name their apiVersion group and kind."""

    GROUP: ClassVar[str]
    KIND: ClassVar[str]
    VERSIONS: ClassVar[tuple[str, ...]] = ("v1",)
    NAMESPACED: ClassVar[bool] = True

    metadata: ObjectMeta

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
