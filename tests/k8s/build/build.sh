#!/usr/bin/env bash
# Builds kube-apiserver, kubectl and etcd from their pinned Go modules, once, into
# ~/.cache/xdscp/k8s/<versions>/bin, helm into ~/.cache/xdscp/k8s/helm-<version>/bin,
# and fetches the Gateway API CRDs beside them.
# A second run only prints "reusing ...". XDSCP_K8S_BIN=<dir with the three
# binaries> skips the build. See tests/k8s/README.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.sh
source "$here/versions.sh"

export GOTOOLCHAIN=local CGO_ENABLED=0
# -mod=readonly: build exactly the committed go.mod/go.sum. -buildvcs=false: the
# modules sit inside our git checkout, whose state must not leak into the binaries.
export GOFLAGS="-mod=readonly -buildvcs=false"
export GOMODCACHE="$XDSCP_GO_CACHE/mod" GOCACHE="$XDSCP_GO_CACHE/build"
go=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
binaries=(kube-apiserver kubectl etcd)
crd_dir="$XDSCP_CACHE/k8s/gateway-api-$GATEWAY_API_VERSION"

have_binaries() {
    local b
    for b in "${binaries[@]}"; do [[ -x $1/$b ]] || return 1; done
}

k8s_ldflags() {
    local pkg minor=${K8S_VERSION#v1.}
    minor=${minor%%.*}
    # -s -w: no symbol tables; smaller binaries and a cheaper link. The version
    # variables make /version and `kubectl version` report the real release.
    printf '%s' "-s -w"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        printf ' -X %s' "$pkg.gitVersion=$K8S_VERSION" "$pkg.gitMajor=1" \
            "$pkg.gitMinor=$minor" "$pkg.gitTreeState=clean"
    done
}

build_binaries() {
    local out=$1 tmp="$1.partial"
    local start=$SECONDS
    echo "building kube-apiserver, kubectl $K8S_VERSION and etcd $ETCD_VERSION into $out"
    echo "(a cold build takes 10-20 minutes on 2 cores)"
    rm -rf "$tmp" && mkdir -p "$tmp"
    # -p 2: two packages at a time keeps peak memory to a few GiB.
    (cd "$here/apiserver" && "$go" build -p 2 -trimpath -tags selinux,notest \
        -ldflags "$(k8s_ldflags)" -o "$tmp/" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl)
    (cd "$here/etcd" && "$go" build -p 2 -trimpath -ldflags "-s -w" -o "$tmp/etcd" \
        go.etcd.io/etcd/server/v3)
    "$tmp/kube-apiserver" --version
    "$tmp/etcd" --version | head -n 1
    # Publish all three at once, so an interrupted build is never mistaken for a finished one.
    rm -rf "$out" && mv "$tmp" "$out"
    echo "built in $((SECONDS - start)) s"
}

build_helm() {
    local out=$1 tmp="$1.partial"
    local start=$SECONDS
    echo "building helm $HELM_VERSION into $out (a few minutes when cold)"
    rm -rf "$tmp" && mkdir -p "$tmp"
    # The version variable makes `helm version` report the release, as upstream's Makefile does.
    (cd "$here/helm" && "$go" build -p 2 -trimpath \
        -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
        -o "$tmp/helm" helm.sh/helm/v4/cmd/helm)
    "$tmp/helm" version --short
    rm -rf "$out" && mv "$tmp" "$out"
    echo "built helm in $((SECONDS - start)) s"
}

fetch_gateway_api_crds() {
    local json dir sum f tmp="$crd_dir.partial"
    # The hash is checked against versions.sh instead of the checksum database.
    json=$(GOSUMDB=off GOFLAGS=-mod=mod "$go" mod download -json \
        "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION")
    dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$json")
    sum=$(sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p' <<<"$json")
    if [[ $sum != "$GATEWAY_API_SUM" ]]; then
        echo "gateway-api $GATEWAY_API_VERSION: got $sum, want $GATEWAY_API_SUM" >&2
        exit 1
    fi
    rm -rf "$tmp" && mkdir -p "$tmp"
    # Only CRDs: config/crd/standard also holds a ValidatingAdmissionPolicy.
    for f in "$dir"/config/crd/standard/*.yaml; do
        if ! grep -q '^kind: ValidatingAdmissionPolicy' "$f"; then cp "$f" "$tmp/"; fi
    done
    chmod -R u+w "$tmp"
    rm -rf "$crd_dir" && mv "$tmp" "$crd_dir"
    echo "Gateway API $GATEWAY_API_VERSION CRDs in $crd_dir"
}

main() {
    mkdir -p "$XDSCP_CACHE/k8s"
    # One build at a time: two concurrent `make k8s` would both need several GiB.
    exec 9>"$XDSCP_CACHE/k8s/.lock"
    flock 9

    if [[ -n ${XDSCP_K8S_BIN:-} ]]; then
        have_binaries "$XDSCP_K8S_BIN" ||
            { echo "XDSCP_K8S_BIN=$XDSCP_K8S_BIN lacks one of: ${binaries[*]}" >&2; exit 1; }
        echo "reusing prebuilt binaries in XDSCP_K8S_BIN=$XDSCP_K8S_BIN"
    elif have_binaries "$K8S_CACHE_DIR/bin"; then
        echo "reusing $K8S_CACHE_DIR/bin"
    else
        build_binaries "$K8S_CACHE_DIR/bin"
    fi

    if [[ -n ${XDSCP_HELM:-} ]]; then
        [[ -x $XDSCP_HELM ]] || { echo "XDSCP_HELM=$XDSCP_HELM is not executable" >&2; exit 1; }
        echo "reusing helm XDSCP_HELM=$XDSCP_HELM"
    elif [[ -x $HELM_CACHE_DIR/bin/helm ]]; then
        echo "reusing $HELM_CACHE_DIR/bin/helm"
    else
        build_helm "$HELM_CACHE_DIR/bin"
    fi

    if [[ -n ${XDSCP_GATEWAY_API_CRDS:-} ]]; then
        echo "reusing Gateway API CRDs in XDSCP_GATEWAY_API_CRDS=$XDSCP_GATEWAY_API_CRDS"
    elif compgen -G "$crd_dir/*.yaml" >/dev/null; then
        echo "reusing $crd_dir"
    else
        fetch_gateway_api_crds
    fi
}

main "$@"
