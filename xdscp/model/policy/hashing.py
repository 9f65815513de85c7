"""hashPolicies: what ringHash and maglev hash a request on."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from xdscp.model.duration import DurationField
from xdscp.model.policy.rules import Block, exactly_one
from xdscp.model.types import Bool, NonEmptyStr, Str


class Header(Block):
    name: NonEmptyStr


class Cookie(Block):
    name: NonEmptyStr
    path: Str | None = None
    ttl: DurationField | None = None
    secure: Bool | None = None
    http_only: Bool | None = None
    same_site: Literal["Strict", "Lax", "None"] | None = None


class SourceIP(Block):
    pass


class HashPolicy(Block):
    RULES = (exactly_one("header", "cookie", "sourceIP"),)

    header: Header | None = None
    cookie: Cookie | None = None
    source_ip: SourceIP | None = Field(default=None, alias="sourceIP")
    terminal: Bool | None = None


HashPolicies = Annotated[tuple[HashPolicy, ...], Field(min_length=1, max_length=16)]
