"""Equal parts of validated objects held once: at 10,000 Services most of the model is the same
ports, conditions and policy blocks over and over, and each pydantic instance costs ~0.5 KB.

`shared(obj)` is applied to each object as it is validated (model/load.py), before anyone else
sees it: its parts (every nested model, tuple of them, label, string) are replaced by an equal
one already held, if any. Only parts are shared, never a top-level object: an object's identity
says "unchanged" to the translator's memo and to `Resources.changes_since`.
"""

from __future__ import annotations

import sys
import weakref
from typing import Any, TypeVar

from pydantic import BaseModel

from xdscp.model.base import KubeObject

T = TypeVar("T", bound=KubeObject)

# Equal parts by (type, fields set, values, nested parts by identity); weak, so a part is held
# only while some object uses it. An entry for a part nobody else has costs ~0.2 KB.
_parts: weakref.WeakValueDictionary[tuple[Any, ...], BaseModel] = weakref.WeakValueDictionary()
# Which fields were written, one set per distinct set: 216 bytes per instance otherwise (29 MB
# at 10,000 Services). pydantic reads it (`model_fields_set`, `exclude_unset`) and adds to it
# only on assignment, which frozen models refuse; `model_copy` copies it first.
_fields_sets: dict[frozenset[str], set[str]] = {}
_UNSHAREABLE = object()  # a key component for a value that is not a key (a dict, a list)


def shared(obj: T) -> T:
    """`obj` with its parts replaced in place by equal ones already held (it is new: nobody
    else holds it yet)."""
    _fill(obj)
    return obj


def _fill(model: BaseModel) -> tuple[Any, ...] | None:
    """Share `model`'s parts; the key it can be shared by, None if it holds something mutable."""
    fields = model.__pydantic_fields_set__
    written = frozenset(fields)
    object.__setattr__(model, "__pydantic_fields_set__", _fields_sets.setdefault(written, fields))
    key: list[Any] = [type(model), written]
    shareable = not (model.__pydantic_extra__ or model.__pydantic_private__)  # nothing beside
    values = model.__dict__  # the fields, in their order (validated: every one is there)
    for name, value in values.items():
        values[name], component = _part(value)  # a key in place: no resize while iterating
        shareable = shareable and component is not _UNSHAREABLE
        key.append(component)
    return tuple(key) if shareable else None


def _part(value: Any) -> tuple[Any, Any]:
    """The value to hold instead of `value`, and what identifies it in a parent's key."""
    kind = type(value)
    if kind is str:
        value = sys.intern(value)
        return value, value
    if value is None:
        return None, None
    if kind is int or kind is bool:  # True == 1, yet they are not the same value
        return value, (kind, value)
    if isinstance(value, BaseModel):
        key = _fill(value)
        if key is None:
            return value, _UNSHAREABLE
        value = _parts.setdefault(key, value)
        return value, id(value)  # held by the parent, so the id stays its own
    if kind is tuple:
        parts = [_part(v) for v in value]
        return tuple(v for v, _ in parts), (tuple, *(c for _, c in parts))
    if kind is dict:  # labels; a free-form value (Any) may be the source's own: not changed
        # in place, and only its first level looked at
        return {_interned(k): _interned(v) for k, v in value.items()}, _UNSHAREABLE
    if kind is float:  # 0.0 == -0.0, yet they are not the same value
        return value, (float, repr(value))
    try:
        hash(value)
    except TypeError:  # a list
        return value, _UNSHAREABLE
    return value, (kind, value)


def _interned(value: Any) -> Any:
    return sys.intern(value) if type(value) is str else value
