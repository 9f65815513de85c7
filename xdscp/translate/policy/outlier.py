"""outlierDetection: passive health checking; the CRD defaults always fill four fields."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2, outlier_detection_pb2

from xdscp.model.policy.outlier import OutlierDetection
from xdscp.translate import protos
from xdscp.translate.policy.context import ClusterContext
from xdscp.translate.policy.fields import put_value
from xdscp.translate.policy.fragment import Fragment


def apply_outlier_detection(value: OutlierDetection, _: ClusterContext) -> Fragment:
    outlier = outlier_detection_pb2.OutlierDetection(
        interval=protos.duration(value.interval),
        base_ejection_time=protos.duration(value.base_ejection_time),
    )
    put_value(outlier.consecutive_5xx, value.consecutive_5xx)
    put_value(outlier.max_ejection_percent, value.max_ejection_percent)
    put_value(outlier.enforcing_consecutive_5xx, value.enforcing_consecutive_5xx)
    if value.split_external_local_origin_errors is not None:
        outlier.split_external_local_origin_errors = value.split_external_local_origin_errors
    put_value(outlier.consecutive_local_origin_failure, value.consecutive_local_origin_failure)
    put_value(
        outlier.enforcing_consecutive_local_origin_failure,
        value.enforcing_consecutive_local_origin_failure,
    )
    return Fragment(cluster_pb2.Cluster(outlier_detection=outlier))
