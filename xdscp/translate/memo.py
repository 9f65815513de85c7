"""Results kept from one translation to the next are reused while their inputs are the very
same objects: sources keep an unchanged object's identity (a file that did not change is not
parsed again; a Kubernetes object is validated once per change)."""

from __future__ import annotations

import operator


def same_objects(kept: tuple[object, ...], inputs: tuple[object, ...]) -> bool:
    """The very same objects, in order (identity, not equality: equality costs a deep walk)."""
    return len(kept) == len(inputs) and all(map(operator.is_, kept, inputs))
