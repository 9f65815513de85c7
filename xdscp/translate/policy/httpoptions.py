"""The cluster's HttpProtocolOptions extension, which several blocks change in turn."""

from __future__ import annotations

from collections.abc import Callable

from envoy.config.cluster.v3 import cluster_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2

from xdscp.translate import protos

HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def mutate_http_options(
    cluster: cluster_pb2.Cluster,
    change: Callable[[http_protocol_options_pb2.HttpProtocolOptions], None],
) -> None:
    """Read, change and write back the options, keeping what earlier steps put there."""
    options = http_protocol_options_pb2.HttpProtocolOptions()
    extensions = cluster.typed_extension_protocol_options
    if HTTP_PROTOCOL_OPTIONS in extensions:
        extensions[HTTP_PROTOCOL_OPTIONS].Unpack(options)
    change(options)
    extensions[HTTP_PROTOCOL_OPTIONS].CopyFrom(protos.pack(options))


def set_http2(options: http_protocol_options_pb2.HttpProtocolOptions) -> None:
    """HTTP/2 to the upstream, Envoy's defaults otherwise (as kgateway's backend init does)."""
    options.explicit_http_config.http2_protocol_options.SetInParent()


def explicit_http_config(options: http_protocol_options_pb2.HttpProtocolOptions) -> bool:
    return bool(options.WhichOneof("upstream_protocol_options") is not None)
