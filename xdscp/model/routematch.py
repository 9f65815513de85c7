"""An HTTPRoute rule's matches: path, headers, query parameters and method.

Regular expressions are checked as Envoy compiles them (RE2, with its program size limit), not
as Python's `re` would.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import re2
from pydantic import Field, StringConstraints, model_validator

from xdscp.model.base import Lenient
from xdscp.model.gatewayapi import HeaderName, Open, unique

# Envoy compiles regular expressions with RE2 and refuses a program larger than this (its
# `re2.max_program_size.error_level` default): Python's `re` would accept what Envoy NACKs.
RE2_MAX_PROGRAM_SIZE = 100
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
# The CRD's CEL: the characters an Exact or PathPrefix path may hold (RFC 3986 pchar and '/').
_PATH_CHARACTERS = r"^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$"


def _check_regex(pattern: str) -> None:
    try:
        size = re2.compile(pattern, _RE2_OPTIONS).programsize
    except re2.error as err:
        reason = err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else err
        raise ValueError(f"not a valid RE2 regular expression: {reason}") from None
    if size > RE2_MAX_PROGRAM_SIZE:
        raise ValueError(
            f"RE2 program size {size} is more than Envoy's limit of {RE2_MAX_PROGRAM_SIZE}"
        )


class PathMatch(Lenient):
    type: Literal["Exact", "PathPrefix", "RegularExpression"] = "PathPrefix"
    value: Annotated[str, StringConstraints(max_length=1024)] = "/"

    @model_validator(mode="after")
    def _valid_path(self) -> PathMatch:
        # The CRD's CEL: Exact and PathPrefix values are absolute paths without `//`, `/./`,
        # `/../`, `%2f`, `%2F` or `#` (what would make two paths mean one).
        if self.type == "RegularExpression":
            _check_regex(self.value)
            return self
        if not self.value.startswith("/"):
            raise ValueError(
                "value must be an absolute path and start with '/' when type one of "
                "['Exact', 'PathPrefix']"
            )
        for bad in ("//", "/./", "/../", "%2f", "%2F", "#"):
            if bad in self.value:
                raise ValueError(
                    f"value must not contain {bad!r} when type one of ['Exact', 'PathPrefix']"
                )
        if self.value.endswith(("/..", "/.")):
            raise ValueError(
                "value must not end with '/..' or '/.' when type one of ['Exact', 'PathPrefix']"
            )
        if not re.fullmatch(_PATH_CHARACTERS, self.value):
            raise ValueError(
                f"must only contain valid characters (matching {_PATH_CHARACTERS}) for types "
                "['Exact', 'PathPrefix']"
            )
        return self


class HeaderMatch(Lenient):
    type: Literal["Exact", "RegularExpression"] = "Exact"
    name: HeaderName
    value: Annotated[str, StringConstraints(min_length=1, max_length=4096)]

    @model_validator(mode="after")
    def _valid_regex(self) -> HeaderMatch:
        if self.type == "RegularExpression":
            _check_regex(self.value)
        return self


class QueryParamMatch(HeaderMatch):
    pass


Method = Literal["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]


class RouteMatch(Open):
    path: PathMatch = PathMatch()
    headers: tuple[HeaderMatch, ...] = Field(default=(), max_length=16)
    query_params: tuple[QueryParamMatch, ...] = Field(default=(), max_length=16)
    method: Method | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> RouteMatch:
        unique("headers", [h.name.lower() for h in self.headers])
        unique("queryParams", [q.name for q in self.query_params])
        return self
