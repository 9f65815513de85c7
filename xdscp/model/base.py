"""What every Kubernetes object here shares: camelCase fields, frozen values, metadata."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field
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

    metadata: ObjectMeta

    @property
    def key(self) -> tuple[str, str]:
        return (self.metadata.namespace, self.metadata.name)

    @property
    def ref(self) -> str:
        return f"{self.KIND} {self.metadata.namespace}/{self.metadata.name}"
