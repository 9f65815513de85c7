"""Scalar types as an OpenAPI schema states them: strict, with the schema's bounds."""

from typing import Annotated

from pydantic import Field, Strict

Int32 = Annotated[int, Strict(), Field(ge=-(2**31), le=2**31 - 1)]
NonNegInt32 = Annotated[int, Strict(), Field(ge=0, le=2**31 - 1)]
PositiveInt32 = Annotated[int, Strict(), Field(ge=1, le=2**31 - 1)]
Port = Annotated[int, Strict(), Field(ge=1, le=65535)]
