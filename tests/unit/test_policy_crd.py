"""The model is the CRD: the same field paths, defaults and enums as deploy/crds."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from xdscp.model.backendconfigpolicy import BackendConfigPolicySpec
from xdscp.model.duration import Duration

CRD = Path(__file__).parents[2] / "deploy" / "crds" / "backendconfigpolicies.yaml"


def _models(annotation: Any) -> Iterator[tuple[type[BaseModel], bool]]:
    """The model classes inside an annotation, and whether each sits in a list."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _models(typing.get_args(annotation)[0])
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            yield from _models(arg)
    elif origin is tuple:
        yield from ((model, True) for model, _ in _models(typing.get_args(annotation)[0]))
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, False


def model_fields(
    model: type[BaseModel] = BackendConfigPolicySpec, prefix: str = "spec"
) -> Iterator[tuple[str, Any]]:
    """(path, pydantic FieldInfo) for every field, paths as users write them."""
    for name, info in model.model_fields.items():
        path = f"{prefix}.{info.alias or name}"
        yield path, info
        for inner, listed in _models(info.annotation):
            yield from model_fields(inner, path + ("[]" if listed else ""))


def model_paths() -> list[str]:
    return [path for path, _ in model_fields()]


def _crd_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema["properties"]["spec"]  # type: ignore[no-any-return]


def crd_fields(
    node: dict[str, Any] | None = None, prefix: str = "spec"
) -> Iterator[tuple[str, Any]]:
    node = _crd_schema() if node is None else node
    for name, child in node.get("properties", {}).items():
        path = f"{prefix}.{name}"
        yield path, child
        if "items" in child:
            yield from crd_fields(child["items"], path + "[]")
        yield from crd_fields(child, path)


def test_model_has_every_crd_field_and_no_other() -> None:
    assert sorted(model_paths()) == sorted(path for path, _ in crd_fields())


def test_model_defaults_are_the_crd_defaults() -> None:
    model = dict(model_fields())
    for path, schema in crd_fields():
        info = model[path]
        default = info.default if not info.is_required() else None
        default = default.text if isinstance(default, Duration) else default
        assert default == schema.get("default"), path


def test_model_enums_are_the_crd_enums() -> None:
    model = dict(model_fields())
    for path, schema in crd_fields():
        if "enum" in schema:
            annotation = model[path].annotation
            if typing.get_origin(annotation) is not typing.Literal:  # Optional[Literal[...]]
                annotation = typing.get_args(annotation)[0]
            assert list(typing.get_args(annotation)) == schema["enum"], path
