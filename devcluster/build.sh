#!/usr/bin/env bash
# Builds the local control plane's binaries from Go modules, once per pinned version.
# Usage: devcluster/build.sh [component...]   (default: all)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=devcluster/versions.env
source "$here/versions.env"
cache=${STRATUS_CACHE:-$HOME/.cache/stratus}
bin="$cache/bin"
mkdir -p "$bin" "$cache/build"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false

log() { printf '[build] %s\n' "$*" >&2; }

# new_module DIR NAME: an empty Go module to build third-party commands in.
new_module() {
  rm -rf "$1" && mkdir -p "$1" && cd "$1"
  go mod init "stratus.local/devcluster/$2" >/dev/null 2>&1
}

# The k8s.io/kubernetes module points its staging modules at ./staging; a consumer must
# replace each with the published v0.x release that matches, read from upstream's own go.mod.
kubernetes_replaces() {
  local gomod staging_version
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  staging_version="v0.${KUBERNETES_VERSION#v1.}"
  grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$gomod" | awk '{print $1}' | sort -u |
    while read -r module; do echo "-replace=$module=$module@$staging_version"; done
}

build_kubernetes() {
  local out="$bin/kubernetes-$KUBERNETES_VERSION"
  [ -x "$out/kube-apiserver" ] && [ -x "$out/kubectl" ] && return 0
  log "kubernetes $KUBERNETES_VERSION (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl)"
  new_module "$cache/build/kubernetes" kubernetes
  # shellcheck disable=SC2046
  go mod edit $(kubernetes_replaces)
  local cmds=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  local packages=("${cmds[@]/#/k8s.io/kubernetes/cmd/}")
  go get "${packages[@]/%/@$KUBERNETES_VERSION}"
  local minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
  local ldflags="-s -w" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  mkdir -p "$out.tmp"
  go build -trimpath -ldflags "$ldflags" -o "$out.tmp/" "${packages[@]}"
  rm -rf "$out" && mv "$out.tmp" "$out"
}

# go_install NAME MODULE_PACKAGE VERSION [LDFLAGS]: one command from a tagged module.
go_install() {
  local name=$1 package=$2 version=$3 ldflags=${4:-}
  local out="$bin/$name-$version"
  [ -x "$out/$name" ] && return 0
  log "$name $version"
  mkdir -p "$out.tmp"
  GOBIN="$out.tmp" go install -trimpath -ldflags "-s -w $ldflags" "$package@$version"
  mv "$out.tmp/"* "$out.tmp/$name" 2>/dev/null || true
  rm -rf "$out" && mv "$out.tmp" "$out"
}

build_etcd() {
  # etcd's own main lives in a module with replace directives, so build a tiny main over etcdmain.
  local out="$bin/etcd-$ETCD_VERSION"
  [ -x "$out/etcd" ] && return 0
  log "etcd $ETCD_VERSION"
  new_module "$cache/build/etcd" etcd
  cat > main.go <<'GO'
// Command etcd runs etcd's server for the Stratus local control plane.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  go mod tidy
  mkdir -p "$out.tmp"
  go build -trimpath -ldflags "-s -w" -o "$out.tmp/etcd" .
  rm -rf "$out" && mv "$out.tmp" "$out"
}

build_kwok() {
  go_install kwok sigs.k8s.io/kwok/cmd/kwok "$KWOK_VERSION"
  # KWOK simulates nothing without stages; take upstream's own from the same module.
  local stages="$bin/kwok-$KWOK_VERSION/stages.yaml" dir
  [ -s "$stages" ] && return 0
  dir=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  for file in "$dir"/kustomize/stage/node/fast/node-*.yaml "$dir"/kustomize/stage/node/heartbeat-with-lease/node-*.yaml \
    "$dir"/kustomize/stage/pod/fast/pod-*.yaml; do
    printf -- '---\n'; cat "$file"
  done > "$stages.tmp" && mv "$stages.tmp" "$stages"
}
build_minio() { go_install minio github.com/minio/minio "$MINIO_VERSION"; }
build_helm() {
  go_install helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" \
    "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
}

components=("$@")
[ ${#components[@]} -gt 0 ] || components=(kubernetes etcd kwok minio helm)
for component in "${components[@]}"; do
  ( "build_$component" )
done
log "binaries in $bin"
