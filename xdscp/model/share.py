"""Equal parts of validated objects held once: at 10,000 Services most of the model is the same
ports, conditions and policy blocks over and over, and each pydantic instance costs ~0.5 KB.

`shared(obj)` is applied to each object as it is validated (model/load.py), before anyone else
sees it: its parts (every nested model, tuple of them, label, string) are replaced by an equal
one already held, if any. Only parts are shared, never a top-level object: an object's identity
says "unchanged" to the translator and to `Resources.changes_since`.
"""

from __future__ import annotations

import sys
import weakref
from typing import Any, TypeVar

from pydantic import BaseModel

from xdscp.model.base import KubeObject

T = TypeVar("T", bound=KubeObject)

# Parts by the hash of what they are equal by (`_fill`); weak, so a part is held only while
# some object uses it. Keyed by the hash alone (a hit is compared with the part): a part nobody
# else has costs its entry, ~0.15 KB, where keeping keys cost ~0.7 KB (21 MB at 10,000 Services).
_parts: weakref.WeakValueDictionary[int, BaseModel] = weakref.WeakValueDictionary()
# Which fields were written, one set per distinct set: 216 bytes per instance otherwise (29 MB
# at 10,000 Services). pydantic reads it (`model_fields_set`, `exclude_unset`) and adds to it
# only on assignment, which frozen models refuse; `model_copy` copies it first.
_fields_sets: dict[frozenset[str], set[str]] = {}


_UNSHAREABLE = object()  # what a mutable value (a dict, a list) is equal by: nothing


def shared(obj: T) -> T:
    """`obj` with its parts replaced in place by equal ones already held (it is new: nobody
    else holds it yet)."""
    _fill(obj)
    return obj


def _fill(model: BaseModel) -> tuple[Any, ...] | None:
    """Share `model`'s parts in place. Returns what it is equal by (its type, the fields
    written, its values: nested parts, shared already, by identity), None if it is not to be
    shared."""
    fields = model.__pydantic_fields_set__
    fields = _fields_sets.setdefault(frozenset(fields), fields)
    object.__setattr__(model, "__pydantic_fields_set__", fields)
    key = [type(model), id(fields)]
    values = model.__dict__  # the fields, in their order (validated: every one is there)
    for name, value in values.items():
        values[name] = value = _part(value)  # a key in place: no resize while iterating
        key.append(_component(value))
    if _UNSHAREABLE in key or model.__pydantic_extra__ or model.__pydantic_private__:
        return None  # mutable, or with values beside the schema's
    return tuple(key)


def _part(value: Any) -> Any:
    """The value to hold instead of `value`."""
    kind = type(value)
    if kind is str:
        return sys.intern(value)
    if value is None or kind is int or kind is bool:
        return value
    if kind is tuple:
        return tuple(_part(v) for v in value)
    if kind is dict:  # labels; a free-form value (Any) may be the source's own: not changed
        # in place, and only its first level looked at
        return {_interned(k): _interned(v) for k, v in value.items()}
    if isinstance(value, BaseModel):
        key = _fill(value)
        if key is None:
            return value
        try:
            hashed = hash(key)
        except TypeError:  # a value of no hash
            return value
        found = _parts.setdefault(hashed, value)
        return found if _same(found, value) else value  # else: two keys of one hash
    return value


def _same(found: BaseModel, part: BaseModel) -> bool:
    """Whether a part found by its key's hash is equal to `part` (only a difference that
    equality does not see, True for 1, would also need the hashes of two keys to collide)."""
    return found is part or (
        type(found) is type(part)
        and found.__pydantic_fields_set__ is part.__pydantic_fields_set__
        and found.__dict__ == part.__dict__
    )


def _component(value: Any) -> Any:
    kind = type(value)
    if kind is str or value is None:
        return value
    if kind is tuple:
        parts = tuple(map(_component, value))
        return _UNSHAREABLE if _UNSHAREABLE in parts else (tuple, *parts)
    if kind is dict or kind is list:
        return _UNSHAREABLE
    if kind is float:  # 0.0 == -0.0, yet they are not the same value
        return (float, repr(value))
    if isinstance(value, BaseModel):
        return id(value)
    return (kind, value)  # True == 1, yet they are not the same value


def _interned(value: Any) -> Any:
    return sys.intern(value) if type(value) is str else value
