"""The APPLY table: one step per configuring spec field, in an order that wraps sockets right."""

from __future__ import annotations

from typing import Any

from envoy.config.cluster.v3 import cluster_pb2

from xdscp.model.backendconfigpolicy import BackendConfigPolicySpec
from xdscp.model.policy.spec import TARGETING
from xdscp.translate.policy import APPLY, ClusterContext
from xdscp.translate.policy.httpoptions import mutate_http_options, set_http2


def test_every_configuring_field_has_one_step() -> None:
    assert set(APPLY) == set(BackendConfigPolicySpec.model_fields) - TARGETING


def test_sockets_are_built_inside_out() -> None:
    order = list(APPLY)
    assert order.index("tls") < order.index("upstream_proxy_protocol")
    protocol = ("common_http_protocol_options", "http1_protocol_options", "http2_protocol_options")
    assert all(order.index(p) < order.index("tls") for p in protocol)


def test_http_options_keep_what_earlier_steps_set() -> None:
    cluster = cluster_pb2.Cluster(name="c")
    mutate_http_options(cluster, set_http2)
    spec = BackendConfigPolicySpec.model_validate(
        {"commonHttpProtocolOptions": {"idleTimeout": "1s"}}
    )
    APPLY["common_http_protocol_options"](
        spec.common_http_protocol_options, cluster, ClusterContext(http2=True)
    )

    def check(options: Any) -> None:
        assert options.explicit_http_config.HasField("http2_protocol_options")
        assert options.common_http_protocol_options.idle_timeout.seconds == 1

    mutate_http_options(cluster, check)
