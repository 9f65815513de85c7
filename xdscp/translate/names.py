"""Envoy resource names, as kgateway spells them, so dashboards and alerts carry over."""


def service_cluster(namespace: str, service: str, port: int) -> str:
    return f"kube_{namespace}_{service}_{port}"


def backend_cluster(namespace: str, backend: str) -> str:
    return f"backend_{namespace}_{backend}_0"


def listener(gateway_namespace: str, gateway: str, listener_name: str) -> str:
    return f"{gateway_namespace}/{gateway}/{listener_name}"


# The endpoints of the proxies themselves (--local-cluster): the name a bootstrap gives as
# cluster_manager.local_cluster_name, the same for every install.
LOCAL_CLUSTER = "xdscp_local"
