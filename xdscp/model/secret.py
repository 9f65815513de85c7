"""Secret: the client certificate, key and CA a policy's `tls.secretRef` names.

Only the keys TLS uses are decoded and kept (tls.crt, tls.key, ca.crt); whatever else a Secret
holds is never read. Values never appear in a repr or an error message: an error names the key,
never the value.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import Field, field_validator, model_validator

from xdscp.model.base import KubeObject
from xdscp.model.errors import secret_error

TLS_CRT, TLS_KEY, CA_CRT = "tls.crt", "tls.key", "ca.crt"
KEYS = (TLS_CRT, TLS_KEY, CA_CRT)
TLS_TYPE, OPAQUE_TYPE = "kubernetes.io/tls", "Opaque"
TYPES = (TLS_TYPE, OPAQUE_TYPE)  # the types whose keys xdscp reads


class Secret(KubeObject):
    GROUP = ""
    KIND = "Secret"

    type: str = Field(default=OPAQUE_TYPE, strict=True)
    # The TLS keys, decoded; `stringData` (plain text, as `kubectl apply` accepts it) wins
    # over `data` for the same key, as the API server merges them.
    data: Mapping[str, bytes] = Field(default_factory=dict, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _merge_string_data(cls, body: Any) -> Any:
        if not isinstance(body, dict) or "stringData" not in body:
            return body
        return {**body, "data": (_decoded(body.get("data")), _plain(body["stringData"]))}

    @field_validator("data", mode="before")
    @classmethod
    def _decode(cls, value: Any) -> dict[str, bytes]:
        if isinstance(value, tuple):  # (data decoded, stringData) from _merge_string_data
            decoded, plain = value
            return {**decoded, **plain}
        return _decoded(value)


def _decoded(data: object) -> dict[str, bytes]:
    return _values(data, "data", _base64)


def _plain(data: object) -> dict[str, bytes]:
    return _values(data, "stringData", lambda _, value: value.encode())


def _values(data: object, where: str, decode: Callable[[str, str], bytes]) -> dict[str, bytes]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise secret_error(f"{where} must be a map of keys to strings")
    out = {}
    for key in KEYS:
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise secret_error(f"{where}.{key} must be a string")
        out[key] = decode(key, value)
    return out


def _base64(key: str, value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise secret_error(f"data.{key} is not valid base64") from None
