"""Gateway API's shared vocabulary: its group, the string types its CRDs bound, and `Open`,
the base of blocks xdscp implements part of.

Objects are read the way Gateway API's CRDs validate them (enums, bounds, the cross-field
rules of their CEL), so a file xdscp accepts is one the API server accepts.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, StringConstraints

from xdscp.model.base import Lenient

GROUP = "gateway.networking.k8s.io"

# Gateway API's HTTPHeaderName: an RFC 7230 token, at most 256 characters.
HeaderName = Annotated[
    str, StringConstraints(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$")
]
# Gateway API's PreciseHostname: a DNS name, no wildcard.
_HOSTNAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
PreciseHostname = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=_HOSTNAME)]
# Gateway API's Hostname: a DNS name, optionally with a leading `*.`.
RouteHostname = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=r"^(\*\.)?" + _HOSTNAME[1:])
]
ObjectName = Annotated[str, StringConstraints(min_length=1, max_length=253)]
SectionName = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
]


def unique(field: str, names: list[str]) -> None:
    if len(set(names)) != len(names):
        raise ValueError(f"{field}: names must be unique")


def camel(field: str) -> str:
    head, *rest = field.split("_")
    return head + "".join(part.capitalize() for part in rest)


class Open(Lenient):
    """A block xdscp implements part of: the fields it does not know are kept, to be reported."""

    model_config = ConfigDict(extra="allow")

    @property
    def unsupported(self) -> tuple[str, ...]:
        return tuple(sorted(self.model_extra or ()))
