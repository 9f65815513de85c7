"""How a spec block is admitted: nulls pruned, then its schema and its CEL rules, all reported.

The API server checks an object's CEL rules even when a field inside it failed its schema, and
reports both. Pydantic skips an object's own validators once a field failed, so `Block` runs its
rules on the raw object (where CEL's `has()` is just presence) and merges the two error lists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import (
    AfterValidator,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails

from xdscp.model.base import Spec
from xdscp.model.errors import RULE, rule_error


@dataclass(frozen=True)
class Rule:
    """A CEL rule of the CRD: a check of the raw object, and kgateway's message when it fails."""

    holds: Callable[[Mapping[str, Any]], bool]
    message: str


def present(data: Mapping[str, Any], field: str) -> bool:
    """CEL's `has(self.<field>)`."""
    return field in data


def _count(data: Mapping[str, Any], fields: tuple[str, ...]) -> int:
    return sum(present(data, f) for f in fields)


def exactly_one(*fields: str) -> Rule:
    return Rule(
        lambda d: _count(d, fields) == 1,
        f"exactly one of the fields in [{' '.join(fields)}] must be set",
    )


def at_most_one(*fields: str) -> Rule:
    return Rule(
        lambda d: _count(d, fields) <= 1,
        f"at most one of the fields in [{' '.join(fields)}] may be set",
    )


def at_least_one(*fields: str, message: str | None = None) -> Rule:
    return Rule(
        lambda d: _count(d, fields) >= 1,
        message or f"at least one of the fields in [{' '.join(fields)}] must be set",
    )


def admit(value: Any, handler: ValidatorFunctionWrapHandler, broken: list[str], title: str) -> Any:
    """Validate `value`; if rules are broken, raise their errors beside the schema's own."""
    if not broken:
        return handler(value)
    errors = [InitErrorDetails(type=rule_error(m), loc=(), input=value) for m in broken]
    try:
        handler(value)
    except ValidationError as err:
        errors = [*_again(err), *errors]
    raise ValidationError.from_exception_data(title, errors)


def _again(err: ValidationError) -> list[InitErrorDetails]:
    """Errors of an inner validation, in the form that raises them again."""
    again = []
    for detail in err.errors(include_url=False):
        ctx = detail.get("ctx", {})
        kind = rule_error(ctx["message"]) if detail["type"] == RULE else detail["type"]
        item = InitErrorDetails(type=kind, loc=detail["loc"], input=detail["input"])
        if ctx and detail["type"] != RULE:
            item["ctx"] = ctx
        again.append(item)
    return again


class Block(Spec):
    """A spec block of the CRD. Subclasses list their object-level CEL rules in RULES."""

    RULES: ClassVar[tuple[Rule, ...]] = ()

    @model_validator(mode="wrap")
    @classmethod
    def _admit(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if not isinstance(data, dict):
            return handler(data)
        # The API server prunes nulls before defaulting: `interval: null` means "use the default".
        data = {k: v for k, v in data.items() if v is not None}
        # Rules read fields as the CRD names them; Python callers may use the Python names.
        aliases = {name: info.alias or name for name, info in cls.model_fields.items()}
        as_written = {aliases.get(k, k): v for k, v in data.items()}
        broken = [rule.message for rule in cls.RULES if not rule.holds(as_written)]
        return admit(data, handler, broken, cls.__name__)


def envoy_bounds(low: int | None = None, high: int | None = None) -> AfterValidator:
    """Bounds Envoy enforces although the CRD does not (Envoy would refuse the whole cluster)."""

    def check(value: int, info: ValidationInfo) -> int:
        field = to_camel(info.field_name or "value")
        if low is not None and value < low:
            raise rule_error(f"Envoy requires {field} to be at least {low}")
        if high is not None and value > high:
            raise rule_error(f"Envoy requires {field} to be at most {high}")
        return value

    return AfterValidator(check)
