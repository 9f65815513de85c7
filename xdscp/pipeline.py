"""Model updates to served snapshots: translate, serialize, hand to the cache; return what is
served and what was found in it."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from collections.abc import Iterable, Iterator

import immutables

from xdscp.cache import SnapshotCache
from xdscp.envoyrules import violations
from xdscp.groups import GATEWAY, ROLE, UNNAMED
from xdscp.logs import clip
from xdscp.metrics import Metrics
from xdscp.model.backendconfigpolicy import BackendConfigPolicy
from xdscp.model.problems import Problem
from xdscp.model.resources import Key, Resources
from xdscp.quarantine import Quarantine
from xdscp.resourcetypes import SHORT_NAMES
from xdscp.served import Findings, Served
from xdscp.snapshot import Groups, Snapshot, by_group
from xdscp.sources import Update
from xdscp.status import Accepted, PolicyStatus
from xdscp.translate import Options, Translation, Translator

log = logging.getLogger("xdscp")


class Pipeline:
    def __init__(self, cache: SnapshotCache, metrics: Metrics, options: Options) -> None:
        self.cache = cache
        self.metrics = metrics
        self.options = options
        self.served: Served | None = None
        self.translator = Translator(options)  # only what a change touches is translated again
        self.quarantine = Quarantine()
        self._latest: Update | None = None
        self._translated: Resources | None = None  # the last input that translated
        self.warnings = PolicyWarnings()
        self._logged: tuple[Problem, ...] | None = None  # the problems logged (once per change)

    def apply(self, update: Update) -> Served | None:
        """Serve the update and return what is served. If translating it fails, the objects it
        changed are held at their last good version and the rest is served; if that fails too,
        the last good view stays served, marked stale (None before there is one)."""
        self._latest = update
        try:
            return self._serve(update)
        except Exception as err:
            failure = err
        why = f"translating it failed ({type(failure).__name__}: {clip(str(failure))})"
        if self._translated is not None and self.quarantine.blame(
            update.resources, self._translated, why
        ):
            try:
                return self._serve(update)
            except Exception as err:
                failure = err
        previous = self.served
        version = previous.snapshot.version if previous else "(none)"
        log.error("translation failed; still serving snapshot %s", version, exc_info=failure)
        self.metrics.stale.set(1)
        if previous is not None:
            self.served = dataclasses.replace(
                previous, stale=f"the latest input failed to translate: {clip(str(failure))}"
            )
        return self.served

    def verdict(self, type_url: str, serial: int, error: str | None) -> Served | None:
        """An Envoy's answer to a response cut from snapshot `serial`. A NACK holds back the
        objects behind what it refused and serves the rest again (returned); else None."""
        if error is None:
            self.quarantine.acked(type_url, serial)
            return None
        if self._latest is None or not self.quarantine.nacked(type_url, serial, error):
            return None
        return self.apply(self._latest)

    def _serve(self, update: Update) -> Served:
        started = time.perf_counter()
        previous = self.served
        resources = self.quarantine.confine(update.resources)
        translation = self.translator.translate(resources)
        snapshot = Snapshot.build(translation, previous.snapshot if previous else None)
        _check_envoy_rules(snapshot, translation)
        groups = by_group(snapshot, translation, previous.groups if previous else Groups())
        self._translated = resources
        self.quarantine.served_from(
            [snapshot.serial, *(g.serial for g in groups.values())], resources
        )
        held = self.quarantine.problems(update.resources)
        problems = tuple(sorted((*update.problems, *translation.problems, *held)))
        if self.warnings.update(translation, update.resources) or problems != self._logged:
            for problem in sorted((*problems, *self.warnings.every())):
                log.warning("%s", problem)
        self._logged = problems
        stale = (
            f"held at their last good version: {', '.join(p.object for p in held[:5])}"
            + (f" and {len(held) - 5} more" if len(held) > 5 else "")
            if held
            else ""
        )
        # The statuses changed since the findings last published, when the translation knows.
        in_step = previous is not None and previous.snapshot.translation == translation.base
        findings = Findings(
            problems,
            translation.statuses,
            tuple(translation.gateway_statuses),
            tuple(translation.route_statuses),
            translation.class_statuses,
            translation.changed_statuses if in_step and translation.base is not None else None,
        )
        served = self.served = Served(snapshot, groups, findings, stale)
        self.cache.publish(groups, _notes(translation))
        self.metrics.snapshot_build.observe(time.perf_counter() - started)
        self.metrics.snapshot_version.clear()
        self.metrics.snapshot_version.labels(snapshot.version).set(1)
        self.metrics.held.set(len(held))
        self.metrics.stale.set(1 if stale else 0)
        log.info("snapshot %s: %s", snapshot.version, _counts(snapshot))
        return served


def policy_warnings(statuses: Iterable[PolicyStatus], resources: Resources) -> Iterator[Problem]:
    """A policy accepted with a reservation (TargetNotFound, PartiallyValid), per target: what
    `xdscp validate` warns of and `serve` logs (its status says it too)."""
    for status in statuses:
        key = (BackendConfigPolicy.KIND, status.namespace, status.name)
        source = resources.origins.get(key, "")
        for target in status.ancestors:
            if target.accepted in (Accepted.TARGET_NOT_FOUND, Accepted.PARTIALLY_VALID):
                message = f"{target.accepted.value}: {target.accepted_message}"
                yield Problem(source, *key, "", message, warning=True)


class PolicyWarnings:
    """Every policy's warnings, kept up to date with what each translation changed: a change
    costs the policies it changed, not every policy."""

    def __init__(self) -> None:
        self.by_policy: immutables.Map[Key, tuple[Problem, ...]] = immutables.Map()
        self._translation: int | None = None  # the serial of the translation they are of
        self._resources: Resources | None = None  # the input whose origins they name

    def update(self, translation: Translation, resources: Resources) -> bool:
        """Those of `translation` (of `resources`): whether any is new or gone."""
        keys: Iterable[Key]
        if (
            translation.changed_statuses is None
            or translation.base is None
            or translation.base != self._translation
            or self._resources is None
        ):
            keys = itertools.chain(translation.statuses, self.by_policy)
        else:  # the policies whose status changed, and those that moved to another file
            moved = resources.changes_since(self._resources)
            keys = itertools.chain(
                translation.changed_statuses,
                (k[1:] for k in moved if k[0] == BackendConfigPolicy.KIND),
            )
        self._translation, self._resources = translation.serial, resources
        mutation, changed = self.by_policy.mutate(), False
        for key in keys:
            status = translation.statuses.get(key)
            found = tuple(policy_warnings((status,), resources)) if status is not None else ()
            if found != mutation.get(key, ()):
                changed = True
                if found:
                    mutation[key] = found
                else:
                    del mutation[key]
        if changed:
            self.by_policy = mutation.finish()
        return changed

    def every(self) -> Iterator[Problem]:
        return itertools.chain.from_iterable(self.by_policy.values())


class EnvoyRulesError(Exception):
    """A resource about to be served breaks a rule Envoy checks: it would be NACKed."""


def _check_envoy_rules(snapshot: Snapshot, translation: Translation) -> None:
    """Envoy's field rules on every resource this snapshot adds or changes."""
    for type_url, table in snapshot.resources.items():
        names = table.keys() if snapshot.changed is None else snapshot.changed[type_url]
        for name in sorted(names):
            message = translation.message(type_url, name)
            found = next(violations(message), None) if message is not None else None
            if found is not None:
                short = SHORT_NAMES[type_url]
                raise EnvoyRulesError(f"Envoy would refuse {short} {name}: {found[0]}: {found[1]}")


def _notes(translation: Translation) -> dict[str, str]:
    # The Gateways served: another controller's do not count.
    gateways = [(s.namespace, s.name) for s in translation.gateway_statuses]
    if len(gateways) < 2:
        return {}
    named = ", ".join("/".join(key) for key in gateways)
    return {
        UNNAMED: f"names no Gateway, and there are {len(gateways)} ({named}): serving clusters "
        f"only; name one in node.metadata.{ROLE} or node.metadata.{GATEWAY}"
    }


def _counts(snapshot: Snapshot) -> str:
    return ", ".join(f"{len(snapshot.resources[t])} {short}" for t, short in SHORT_NAMES.items())
