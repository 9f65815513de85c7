"""Translations edited by hand: what a translator that got something wrong would hand over."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2

from xdscp.translate import Translation
from xdscp.translate.protos import encode


def edited(
    translation: Translation, type_url: str, names: list[str], edit: Callable[[Any], None]
) -> Translation:
    """`translation` with the resources `names` of `type_url` decoded, edited, encoded again."""
    table = dict(translation.resources[type_url])
    for name in names:
        message = translation.message(type_url, name)
        assert message is not None, name
        edit(message)
        table[name] = encode(message)
    return replace(translation, resources={**translation.resources, type_url: table})


def zero_timeout(cluster: cluster_pb2.Cluster) -> None:
    """A connect timeout of 0 s, set: Envoy's rule says more than 0."""
    cluster.connect_timeout.Clear()
    cluster.connect_timeout.SetInParent()
