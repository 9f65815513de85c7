"""Scalar types as an OpenAPI schema states them: strict, with the schema's bounds.

Strict, because the API server is: "3" is no integer and 1 is no boolean. But a JSON number
with no fraction is an integer to it (3.0 is admitted and stored as 3), so it is here too.
The CRD says int32 or int64 without the API server enforcing it; kgateway's Go decoder then
fails on a larger value, so these types enforce the format's range as well.
"""

from typing import Annotated

from pydantic import BeforeValidator, Field, Strict, StrictBool, StrictStr


def _integral(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Applied before the strict check (an annotation wraps those before it).
_Integer = BeforeValidator(_integral)

_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1

Int32 = Annotated[int, Strict(), _Integer, Field(ge=-(2**31), le=_INT32_MAX)]
NonNegInt32 = Annotated[int, Strict(), _Integer, Field(ge=0, le=_INT32_MAX)]
PositiveInt32 = Annotated[int, Strict(), _Integer, Field(ge=1, le=_INT32_MAX)]
NonNegInt64 = Annotated[int, Strict(), _Integer, Field(ge=0, le=_INT64_MAX)]
PositiveInt64 = Annotated[int, Strict(), _Integer, Field(ge=1, le=_INT64_MAX)]
Percent = Annotated[int, Strict(), _Integer, Field(ge=0, le=100)]
Port = Annotated[int, Strict(), _Integer, Field(ge=1, le=65535)]

Bool = StrictBool
Str = StrictStr
NonEmptyStr = Annotated[str, Strict(), Field(min_length=1)]
