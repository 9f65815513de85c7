"""upstreamProxyProtocol: a PROXY protocol header in front of every upstream connection."""

from __future__ import annotations

from typing import Literal

from xdscp.model.policy.rules import Block


class UpstreamProxyProtocol(Block):
    version: Literal["V1", "V2"] = "V1"
