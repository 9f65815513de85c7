"""Keeping CPython's full garbage collections off the event loop's path.

At 10,000 Services the model, the translation and the snapshots are ~600,000 objects that live
as long as they are served. A full collection walks all of them (~0.3-1 s with the event loop
stopped) whenever enough younger objects have survived, so it lands in the middle of serving.
Moved to the permanent generation (`gc.freeze`) after a big update, they are left out of every
later collection, which then walks only what was made since. A replaced object is still freed
as soon as nothing refers to it (reference counting); only a reference cycle among frozen
objects would outlive its use, and the served objects form none.
"""

from __future__ import annotations

import gc

from xdscp.served import Served

# Resources an update changes before what it made is frozen: a first view, a relist, a
# directory replaced. A few changes at a time are left to the young generations.
BIG_UPDATE = 1000


def settle(served: Served | None) -> None:
    """After `served` was published: freeze the heap if the update made many objects."""
    if served is None:
        return
    changed = served.snapshot.changed
    if changed is None or sum(map(len, changed.values())) >= BIG_UPDATE:
        gc.collect(1)  # the young garbage first: what is frozen is never collected
        gc.freeze()
