# Pinned versions of the Kubernetes test binaries; sourced by build.sh and gen-gomod.sh.
# Changing one means: edit here, run gen-gomod.sh, commit the regenerated go.mod/go.sum.
K8S_VERSION=v1.37.2
K8S_STAGING_VERSION=v0.37.2
ETCD_VERSION=v3.7.3
GATEWAY_API_VERSION=v1.6.1

XDSCP_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/xdscp
# Binaries and CRDs, keyed by version so a bump never reuses stale builds.
K8S_CACHE_DIR=$XDSCP_CACHE/k8s/$K8S_VERSION-etcd${ETCD_VERSION#v}
# Module and build caches outside the checkout, so a clean clone reuses them.
XDSCP_GO_CACHE=$XDSCP_CACHE/go
# go.sum hash of the Gateway API module zip: checked after download, so the CRDs are
# pinned even where the checksum database cannot be reached (GOSUMDB=off below).
GATEWAY_API_SUM=h1:mock6phZbI6rvZerwrVNk7hVNymQgHo+6sJ81Ia7ftY=
# helm, built from its Go module (helm/go.mod) into its own cache dir beside the binaries above.
HELM_VERSION=v4.3.2
HELM_CACHE_DIR=$XDSCP_CACHE/k8s/helm-$HELM_VERSION
