"""Objects held at their last good version because what they translate to failed: Envoy NACKed
it, or translating it raised. Everything else keeps flowing.

Blame goes to the objects that changed between the last input known good (for a NACK: the
input of the newest snapshot Envoy ACKed of that type; for a translation failure: the last
input that translated) and the failing one, among the kinds that make the refused type. An
object held serves its last good version, or nothing if it had none, until it changes: then
it is tried again. Objects changed in the same update as the culprit are held with it (they
reappear on their next change). Before anything is known good (no ACK of that type yet, no
translation yet) nothing is held: Envoy keeps what it last accepted, and the NACK is
reported on the stream as always.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass

from xdscp.logs import clip
from xdscp.model.base import KubeObject
from xdscp.model.problems import Problem
from xdscp.model.resources import ObjectKey, Resources
from xdscp.resourcetypes import CLUSTER, ENDPOINT, LISTENER, ROUTE, SHORT_NAMES

# The kinds whose objects make each type's resources (a type not here: every kind).
MADE_FROM = {
    CLUSTER: {"Service", "Backend", "BackendConfigPolicy"},
    ENDPOINT: {"Service", "EndpointSlice", "Node"},
    LISTENER: {"Gateway"},
    ROUTE: {"HTTPRoute", "Gateway", "Service", "Backend", "ReferenceGrant"},
}
# An object without a file read from the API server: its held version is then reported as a
# problem of the object there (the status writers take those), as Kubernetes mode names it.
API_SERVER = "kubernetes"
# Inputs remembered (one per update served), to map an answer to the input behind it: an
# Envoy answers within seconds, and each input shares its objects with the next.
_KEPT_INPUTS = 16


@dataclass(frozen=True)
class Held:
    bad: KubeObject  # the version refused
    good: KubeObject | None  # what is served instead (None: nothing)
    why: str


class Quarantine:
    def __init__(self) -> None:
        self.held: dict[ObjectKey, Held] = {}
        self._inputs: OrderedDict[int, Resources] = OrderedDict()  # generation -> input
        self._generation_of: dict[int, int] = {}  # snapshot serial -> the first input it served
        self._generation = 0
        self._good: dict[str, tuple[int, Resources]] = {}  # type -> newest ACKed input
        # The last input confined, the view it was confined to, and what that view serves in
        # place of the input's objects (None: left out).
        self._given: Resources | None = None
        self._confined: Resources | None = None
        self._applied: dict[ObjectKey, KubeObject | None] = {}

    def served_from(self, serials: list[int], resources: Resources) -> None:
        """Remember which input the snapshots (by serial, one per node group) were built from;
        a snapshot served again unchanged keeps the input that first made it."""
        self._generation += 1
        self._inputs[self._generation] = resources
        for serial in serials:
            self._generation_of.setdefault(serial, self._generation)
        if len(self._inputs) > _KEPT_INPUTS:
            self._inputs.popitem(last=False)
            kept = self._inputs.keys()
            self._generation_of = {s: g for s, g in self._generation_of.items() if g in kept}

    def _input(self, serial: int) -> Resources | None:
        generation = self._generation_of.get(serial)
        return None if generation is None else self._inputs.get(generation)

    def acked(self, type_url: str, serial: int) -> None:
        resources = self._input(serial)
        if resources is not None and serial >= self._good.get(type_url, (0, None))[0]:
            self._good[type_url] = (serial, resources)

    def nacked(self, type_url: str, serial: int, error: str) -> bool:
        """Hold what the refused input changed; whether anything new is held."""
        refused, acked = self._input(serial), self._good.get(type_url)
        if refused is None or acked is None:
            # Nothing of this type is known good yet (a first configuration, or xdscp newly
            # started beside Envoys that hold an older one): blaming every object would serve
            # an empty type. The NACK stays as Envoy leaves it: the last version it accepted.
            return False
        good = acked[1]
        why = f"Envoy refused the {SHORT_NAMES.get(type_url, type_url)} it translates to: "
        return self.blame(refused, good, why + clip(error), MADE_FROM.get(type_url), error)

    def blame(
        self,
        failing: Resources,
        good: Resources,
        why: str,
        kinds: set[str] | None = None,
        error: str = "",
    ) -> bool:
        """Hold what changed from `good` to `failing`; if `error` names some of those objects
        (Envoy names a cluster or listener it refuses: `kube_<ns>_<name>_<port>`), only those."""
        before, after = dict(good.tables()), dict(failing.tables())
        suspects: dict[ObjectKey, tuple[KubeObject, KubeObject | None]] = {}
        for key in sorted(failing.changes_since(good)):
            kind, name = key[0], key[1:]
            obj, was = after[kind].get(name), before[kind].get(name)
            if (
                obj is not None  # removed: nothing to hold
                and (kinds is None or kind in kinds)
                and key not in self.held
                and (was is None or (was is not obj and was != obj))
            ):
                suspects[key] = (obj, was)
        named = {k: found for k, found in suspects.items() if _named_in(k, error)}
        for key, (obj, was) in (named or suspects).items():
            self.held[key] = Held(obj, was, why)
        return bool(suspects)

    def confine(self, resources: Resources) -> Resources:
        """The input with every held object at its last good version (or left out). An object
        that changed since it was refused is released: it is tried again.

        The view is made from the last one confined by replacing what changed since (in the
        input or in what is held), so one held object does not cost a copy of every object
        per update, and what reads the views learns what changed without comparing them."""
        tables = dict(resources.tables())
        for key, held in list(self.held.items()):
            current = tables[key[0]].get(key[1:])
            if current is None or (current is not held.bad and current != held.bad):
                del self.held[key]
        given, confined, applied = self._given, self._confined, self._applied
        self._given = resources
        if not self.held and not applied:  # (the last view confined held nothing back either)
            self._confined, self._applied = resources, {}
            return resources
        if given is None or confined is None:
            given = confined = resources
        serving = {key: held.good for key, held in self.held.items()}
        objects: list[KubeObject] = []
        removed: list[ObjectKey] = []
        before = dict(confined.tables())
        for key in resources.changes_since(given) | applied.keys() | serving.keys():
            kind, name = key[0], key[1:]
            wanted = serving[key] if key in serving else tables[kind].get(name)
            if wanted is None:
                removed.append(key)
            elif wanted is not before[kind].get(name):
                objects.append(wanted)
        self._confined = confined.replacing(objects, removed, resources.origins)
        self._applied = serving
        return self._confined

    def problems(self, resources: Resources) -> list[Problem]:
        return [
            Problem(
                resources.origins.get(key, API_SERVER),
                *key,
                "",
                f"{held.why}; "
                + ("serving its last good version" if held.good else "not served")
                + " until it changes",
            )
            for key, held in sorted(self.held.items())
        ]


def _named_in(key: ObjectKey, error: str) -> bool:
    """Whether Envoy's message names the object as xdscp's resource names embed it
    (`kube_<ns>_<name>_<port>`, `<ns>/<gateway>/<listener>`): names hold no `_` or `/`."""
    _, namespace, name = key
    edge = "A-Za-z0-9.-"
    pattern = rf"(?<![{edge}]){re.escape(namespace)}[_/]{re.escape(name)}(?![{edge}])"
    return bool(error) and re.search(pattern, error) is not None
