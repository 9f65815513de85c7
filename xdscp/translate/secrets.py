"""Secrets a policy's `tls.secretRef` names: checked as Envoy will use them, served over SDS.

A cluster names its certificate and CA by SDS names derived from the Secret, never their
bytes: rotating a Secret changes only the SDS resources, so the cluster is not re-sent nor
re-warmed, and keys stay out of cluster dumps. A Secret that goes missing or turns bad keeps
the last good contents served (passed in by the caller), and says so on the policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2
from immutables import Map

from xdscp.model.resources import Key
from xdscp.model.secret import CA_CRT, KEYS, TLS_CRT, TLS_KEY, TLS_TYPE, TYPES, Secret
from xdscp.translate.multimap import relink

# kgateway's name for the system CA bundle: a static secret in Envoy's bootstrap.
SYSTEM_CA_CERT = "SYSTEM_CA_CERT"


def certificate_name(key: Key) -> str:
    """The SDS name of a Secret's client certificate and key."""
    return "/".join(key)


def ca_name(key: Key) -> str:
    """The SDS name of a Secret's CA (a Secret's name has no '/', so neither name clashes)."""
    return f"{certificate_name(key)}/{CA_CRT}"


@dataclass(frozen=True, eq=False)
class Material:
    """What a Secret gives Envoy, checked: PEM certificates, the key that matches the first."""

    certificate_chain: bytes | None = field(default=None, repr=False)
    private_key: bytes | None = field(default=None, repr=False)
    ca: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, eq=False)
class Resolved:
    """A policy's Secret: the one whose SDS names its clusters use (`key`), what Envoy is
    served of it (None: nothing good yet), and what is wrong."""

    key: Key
    material: Material | None
    cause: str | None = None  # what is wrong with the Secret named
    consequence: str = ""  # what is served meanwhile

    @property
    def problem(self) -> str | None:
        if self.cause is None:
            return None
        return f"{self.cause}; {self.consequence}" if self.consequence else self.cause


@dataclass(frozen=True)
class Memory:
    """What one translation served, for the next: each Secret's last good contents, and the
    Secret each policy's tls last used with good contents (policy -> Secret)."""

    materials: Mapping[Key, Material] = field(default_factory=Map)
    used: Mapping[Key, Key] = field(default_factory=Map)


FIRST = Memory()  # before any translation: nothing served yet


@dataclass(frozen=True)
class Ledger:
    """Each tls policy's Secret as resolved, kept from one translation to the next; only the
    policies whose Secret, reference or memory changed are resolved again (`update`)."""

    memory: Memory = FIRST  # what the last translation served
    refs: Map[Key, Key] = field(default_factory=Map)  # policy -> the Secret its winning tls names
    resolved: Map[Key, Resolved] = field(default_factory=Map)  # policy -> what it is served
    users: Map[Key, frozenset[Key]] = field(default_factory=Map)  # Secret -> the policies naming it
    fallbacks: Map[Key, frozenset[Key]] = field(
        default_factory=Map
    )  # Secret -> the policies served it last
    served: Map[Key, frozenset[Key]] = field(
        default_factory=Map
    )  # Secret -> the policies served it now
    # Secret -> (object, as it is, last good contents, what it resolves to): one Resolved per
    # Secret while these are the same, however many policies name it.
    checked: Map[Key, tuple[Secret | None, Resolved, Material | None, Resolved]] = field(
        default_factory=Map
    )
    instead: Map[Key, tuple[Resolved, Resolved, Resolved]] = field(
        default_factory=Map
    )  # see _keep_using
    # What changed in `memory` last time: the Secrets whose contents, the policies whose Secret.
    stale: frozenset[Key] = frozenset()
    moved: frozenset[Key] = frozenset()
    # Whether a translation was made with it: the first makes `memory` anew, from what it serves.
    begun: bool = False

    @classmethod
    def starting(cls, last: Memory) -> Ledger:
        """Before the first translation, with what an earlier one served (`last`)."""
        return cls(memory=Memory(Map(last.materials), Map(last.used)))

    def update(
        self,
        refs: Mapping[Key, Key | None],
        secrets: Mapping[Key, Secret],
        changed: Iterable[Key],
    ) -> tuple[Ledger, set[Key], frozenset[Key]]:
        """The ledger after `refs` (policy -> the Secret its tls names now, None: none) and
        the `changed` Secrets; with the policies whose resolution is another object and the
        Secrets whose served contents changed.

        A Secret that is missing or bad serves its last good contents. A policy that names a
        Secret never seen good (a typo, one not made yet) keeps the Secret it used before, so
        its clusters keep their last good TLS; with none before, they name the missing one
        and Envoy waits for it, never sending plain text.
        """
        step = _LedgerStep(self, secrets)
        dirty = set(refs) | self.moved
        for key in {*changed, *self.stale}:
            dirty |= self.users.get(key, frozenset()) | self.fallbacks.get(key, frozenset())
        return step.run(refs, dirty)


class _LedgerStep:
    def __init__(self, ledger: Ledger, secrets: Mapping[Key, Secret]) -> None:
        self.ledger, self.secrets, self.last = ledger, secrets, ledger.memory
        self.checked = ledger.checked.mutate()
        self.instead = ledger.instead.mutate()

    def run(
        self, refs: Mapping[Key, Key | None], dirty: set[Key]
    ) -> tuple[Ledger, set[Key], frozenset[Key]]:
        ledger = self.ledger
        all_refs, users = ledger.refs.mutate(), ledger.users.mutate()
        for policy, key in refs.items():
            old = all_refs.get(policy)
            if old == key:
                continue
            if old is not None:
                relink(users, old, policy, False)
            if key is None:
                del all_refs[policy]
            else:
                all_refs[policy] = key
                relink(users, key, policy, True)
        resolved, served = ledger.resolved.mutate(), ledger.served.mutate()
        materials, used = ledger.memory.materials, ledger.memory.used
        assert isinstance(materials, Map) and isinstance(used, Map)
        if not ledger.begun:
            materials, used = Map[Key, Material](), Map[Key, Key]()
        materials_now, used_now = materials.mutate(), used.mutate()
        fallbacks = ledger.fallbacks.mutate()
        touched: set[Key] = set()  # Secrets whose served policies changed
        changed: set[Key] = set()
        moved: set[Key] = set()
        for policy in dirty:
            key = all_refs.get(policy)
            before = resolved.get(policy)
            after = self._resolve(policy, key) if key is not None else None
            if after is before:
                continue
            changed.add(policy)
            if after is None:
                del resolved[policy]
                self.instead.pop(policy, None)
            else:
                resolved[policy] = after
            was = before.key if before is not None and before.material is not None else None
            material = after.material if after is not None else None
            now = after.key if after is not None and material is not None else None
            if was is not None:
                relink(served, was, policy, False)
                touched.add(was)
            if now is not None and material is not None:
                relink(served, now, policy, True)
                materials_now[now] = material
                touched.add(now)
            if was != now:
                moved.add(policy)
                if was is not None:
                    relink(fallbacks, was, policy, False)
                    del used_now[policy]
                if now is not None:
                    relink(fallbacks, now, policy, True)
                    used_now[policy] = now
        for key in touched:
            if key not in served:
                materials_now.pop(key, None)
        if not ledger.begun:
            touched.update(self.last.materials)
        stale = frozenset(
            k for k in touched if materials_now.get(k) is not self.last.materials.get(k)
        )
        for key in touched | {k for p in dirty if (k := all_refs.get(p)) is not None}:
            if key not in users and key not in fallbacks:
                self.checked.pop(key, None)
        return (
            Ledger(
                Memory(materials_now.finish(), used_now.finish()),
                all_refs.finish(),
                resolved.finish(),
                users.finish(),
                fallbacks.finish(),
                served.finish(),
                self.checked.finish(),
                self.instead.finish(),
                stale,
                frozenset(moved),
                begun=True,
            ),
            changed,
            stale,
        )

    def _resolve(self, policy: Key, key: Key) -> Resolved:
        now, before = self._secret(key), self.last.used.get(policy)
        if now.material is None and before is not None and before != key:
            earlier = self._secret(before)
            if earlier.material is not None:
                kept = self.instead.get(policy)
                if kept is not None and kept[0] is now and kept[1] is earlier:
                    return kept[2]
                result = _keep_using(now, earlier)
                self.instead[policy] = (now, earlier, result)
                return result
        return now

    def _secret(self, key: Key) -> Resolved:
        found, kept = self.secrets.get(key), self.last.materials.get(key)
        entry = self.checked.get(key)
        if entry is not None and entry[0] is found:
            now = entry[1]
            if now.problem is None or entry[2] is kept:
                return entry[3]
        else:
            now = resolve(key, found)
        result = now if now.problem is None else keep_last_good(now, kept)
        self.checked[key] = (found, now, kept, result)
        return result


def _keep_using(now: Resolved, earlier: Resolved) -> Resolved:
    kept = f"its clusters keep Secret {certificate_name(earlier.key)}, the last good one"
    return Resolved(earlier.key, earlier.material, now.cause, kept)


class _Bad(Exception):
    """A Secret's contents that Envoy would refuse; the message never shows a value."""


def resolve(key: Key, secret: Secret | None) -> Resolved:
    """The Secret as it is now, checked; without regard to any earlier version."""
    where = f"Secret {certificate_name(key)}"
    if secret is None:
        return Resolved(
            key, None, f"{where} not found (a policy may refer only to its own namespace's)"
        )
    try:
        return Resolved(key, _material(secret))
    except _Bad as bad:
        return Resolved(key, None, f"{where}: {bad}")


def keep_last_good(now: Resolved, kept: Material | None) -> Resolved:
    """A bad or missing Secret: its last good contents stay served, and the problem says so."""
    if kept is None:
        return Resolved(now.key, None, now.cause, "connections fail until it is fixed")
    return Resolved(now.key, kept, now.cause, "Envoy keeps its last good version")


def sds_secrets(key: Key, material: Material) -> dict[str, secret_pb2.Secret]:
    """The SDS resources for one Secret's material, by name."""
    out = {}
    if material.certificate_chain is not None and material.private_key is not None:
        name = certificate_name(key)
        out[name] = secret_pb2.Secret(
            name=name,
            tls_certificate=common_pb2.TlsCertificate(
                certificate_chain=base_pb2.DataSource(inline_bytes=material.certificate_chain),
                private_key=base_pb2.DataSource(inline_bytes=material.private_key),
            ),
        )
    if material.ca is not None:
        name = ca_name(key)
        out[name] = secret_pb2.Secret(
            name=name,
            validation_context=common_pb2.CertificateValidationContext(
                trusted_ca=base_pb2.DataSource(inline_bytes=material.ca)
            ),
        )
    return out


def _material(secret: Secret) -> Material:
    if secret.type not in TYPES:
        raise _Bad(f"type {secret.type} holds no TLS material; use {' or '.join(TYPES)}")
    data = secret.data
    if not any(k in data for k in KEYS):
        raise _Bad(f"has none of {', '.join(KEYS)}")
    has_pair = TLS_CRT in data or TLS_KEY in data
    if secret.type == TLS_TYPE and not has_pair:
        raise _Bad(f"a {TLS_TYPE} Secret needs {TLS_CRT} and {TLS_KEY}")
    if has_pair and not (TLS_CRT in data and TLS_KEY in data):
        raise _Bad(f"{TLS_CRT} and {TLS_KEY} must be given together")
    # Read with `cryptography` only when there is a Secret to read: it is ~16 MiB of a process
    # that serves no TLS Secret.
    from xdscp.translate import pem

    try:
        chain = pem.chain_for_key(data[TLS_CRT], data[TLS_KEY]) if has_pair else None
        ca = pem.certificates(data[CA_CRT], CA_CRT) if CA_CRT in data else None
    except pem.Unusable as unusable:
        raise _Bad(str(unusable)) from None
    return Material(chain, data[TLS_KEY] if has_pair else None, ca)
