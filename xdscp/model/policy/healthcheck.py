"""healthCheck: active HTTP or gRPC health checking of each endpoint."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, ValidationInfo

from xdscp.model.duration import DurationField, envoy_positive
from xdscp.model.errors import rule_error
from xdscp.model.policy.rules import Block, Rule, present
from xdscp.model.types import NonNegInt32, Str

# Envoy sends these as header values (:path, :authority) and refuses control characters.
_HEADER_VALUE = re.compile(r"[^\x00\n\r]*")


def _header_value(value: str, info: ValidationInfo) -> str:
    if not _HEADER_VALUE.fullmatch(value):
        raise rule_error(f"Envoy requires {info.field_name} to be a valid HTTP header value")
    return value


def _non_empty_path(value: str) -> str:
    if not value:
        raise rule_error("Envoy requires a non-empty path")
    return value


HeaderValue = Annotated[Str, AfterValidator(_header_value)]
HealthCheckDuration = Annotated[DurationField, envoy_positive]


class HttpHealthCheck(Block):
    path: Annotated[HeaderValue, AfterValidator(_non_empty_path)]
    host: HeaderValue | None = None
    method: Literal["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH"] | None = (
        None
    )


class GrpcHealthCheck(Block):
    service_name: Str | None = None
    authority: HeaderValue | None = None


class HealthCheck(Block):
    RULES = (
        Rule(
            lambda d: present(d, "http") != present(d, "grpc"),
            "exactly one of http or grpc must be set",
        ),
    )

    timeout: HealthCheckDuration
    interval: HealthCheckDuration
    unhealthy_threshold: NonNegInt32
    healthy_threshold: NonNegInt32
    http: HttpHealthCheck | None = None
    grpc: GrpcHealthCheck | None = None
