#!/usr/bin/env bash
# Stratus on a real kind cluster, for users with Docker: kind, then Multus and the
# MultiNetworkPolicy CRD, KubeVirt, CDI, the CSI snapshot CRDs and controller, MinIO and (with
# --kata) Kata Containers, each at a pinned version, then the operator image and the Helm chart.
# It needs docker, kind, kubectl, helm and internet access; `make run` is the way without Docker.
#
# Usage: hack/kind-up.sh [--kata]
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=stratus
MULTUS_VERSION=v4.2.3
MULTI_NETWORKPOLICY_VERSION=v1.0.1
KUBEVIRT_VERSION=v1.6.1
CDI_VERSION=v1.63.1
SNAPSHOTTER_VERSION=v8.4.0
MINIO_IMAGE=quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z
KATA_VERSION=3.21.0
IMAGE=stratus-operator:dev
GITHUB=https://github.com
RAW=https://raw.githubusercontent.com

kata=false
[ "${1:-}" = "--kata" ] && kata=true

step() { printf '\n==> %s\n' "$*"; }

step "kind cluster $CLUSTER (one control plane, three workers in zone-a/b/c)"
kind get clusters | grep -qx "$CLUSTER" || kind create cluster --config kind-config.yaml

step "Multus $MULTUS_VERSION"
kubectl apply -f "$RAW/k8snetworkplumbingwg/multus-cni/$MULTUS_VERSION/deployments/multus-daemonset-thick.yml"

step "MultiNetworkPolicy $MULTI_NETWORKPOLICY_VERSION (SecurityGroups on Stratus Networks)"
kubectl apply -f "$RAW/k8snetworkplumbingwg/multi-networkpolicy/$MULTI_NETWORKPOLICY_VERSION/scheme.yml"
echo "the CRD only: enforcing it takes the multi-networkpolicy-iptables daemon (docs/api.md)"

step "KubeVirt $KUBEVIRT_VERSION"
kubectl apply -f "$GITHUB/kubevirt/kubevirt/releases/download/$KUBEVIRT_VERSION/kubevirt-operator.yaml"
kubectl apply -f "$GITHUB/kubevirt/kubevirt/releases/download/$KUBEVIRT_VERSION/kubevirt-cr.yaml"
if ! docker exec "$CLUSTER-worker" test -c /dev/kvm; then
  echo "no /dev/kvm in the nodes: KubeVirt will emulate (slow, but it runs)"
  kubectl -n kubevirt patch kubevirt kubevirt --type merge \
    -p '{"spec":{"configuration":{"developerConfiguration":{"useEmulation":true}}}}'
fi
# Declarative volume hot-plug, which Servers use to attach Volumes live.
kubectl -n kubevirt patch kubevirt kubevirt --type merge \
  -p '{"spec":{"configuration":{"vmRolloutStrategy":"LiveUpdate","developerConfiguration":{"featureGates":["DeclarativeHotplugVolumes"]}}}}'

step "CDI $CDI_VERSION"
kubectl apply -f "$GITHUB/kubevirt/containerized-data-importer/releases/download/$CDI_VERSION/cdi-operator.yaml"
kubectl apply -f "$GITHUB/kubevirt/containerized-data-importer/releases/download/$CDI_VERSION/cdi-cr.yaml"

step "CSI snapshot CRDs and controller $SNAPSHOTTER_VERSION"
kubectl kustomize "$GITHUB/kubernetes-csi/external-snapshotter/client/config/crd?ref=$SNAPSHOTTER_VERSION" | kubectl apply -f -
kubectl -n kube-system kustomize "$GITHUB/kubernetes-csi/external-snapshotter/deploy/kubernetes/snapshot-controller?ref=$SNAPSHOTTER_VERSION" |
  kubectl -n kube-system apply -f -
echo "kind's local-path storage cannot take snapshots: Snapshots need a CSI driver that can"

step "MinIO, and its admin keys as the Secret the operator reads"
kubectl create namespace stratus-system --dry-run=client -o yaml | kubectl apply -f -
if ! kubectl -n stratus-system get secret stratus-object-store >/dev/null 2>&1; then
  kubectl -n stratus-system create secret generic stratus-object-store \
    --from-literal=accessKey=stratus-admin \
    --from-literal=secretKey="$(head -c 30 /dev/urandom | base64 | tr -d '/+=')"
fi
kubectl apply -f - <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: minio, namespace: stratus-system}
spec:
  selector: {matchLabels: {app: minio}}
  template:
    metadata: {labels: {app: minio}}
    spec:
      containers:
        - name: minio
          image: $MINIO_IMAGE
          args: [server, /data]
          env:
            - name: MINIO_ROOT_USER
              valueFrom: {secretKeyRef: {name: stratus-object-store, key: accessKey}}
            - name: MINIO_ROOT_PASSWORD
              valueFrom: {secretKeyRef: {name: stratus-object-store, key: secretKey}}
          ports: [{containerPort: 9000}]
          volumeMounts: [{name: data, mountPath: /data}]
      volumes: [{name: data, emptyDir: {}}]
---
apiVersion: v1
kind: Service
metadata: {name: minio, namespace: stratus-system}
spec:
  selector: {app: minio}
  ports: [{port: 9000, targetPort: 9000}]
EOF

if $kata; then
  step "Kata Containers $KATA_VERSION (needs nested virtualisation)"
  kubectl apply -k "$GITHUB/kata-containers/kata-containers/tools/packaging/kata-deploy/kata-deploy/overlays/k8s?ref=$KATA_VERSION"
  kubectl apply -f "$RAW/kata-containers/kata-containers/$KATA_VERSION/tools/packaging/kata-deploy/runtimeclasses/kata-runtimeClasses.yaml"
fi

step "the operator image $IMAGE, loaded into the nodes"
docker build -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$CLUSTER"

step "waiting for KubeVirt and CDI"
kubectl -n kubevirt wait kubevirt kubevirt --for=condition=Available --timeout=15m
kubectl wait cdi cdi --for=condition=Available --timeout=15m

step "Stratus"
runtime_class=kata
if $kata; then runtime_class="kata-qemu"; fi
helm upgrade --install stratus charts/stratus --namespace stratus-system \
  --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE#*:}" --set image.pullPolicy=Never \
  --set config.kataRuntimeClass="$runtime_class"
kubectl -n stratus-system rollout status deployment/stratus-operator --timeout=5m

step "Stratus is running; next:"
echo "  kubectl apply -f examples/flavors.yaml -f examples/project.yaml"
echo "  kubectl wait --for=condition=Ready project/acme && kubectl apply -k examples/"
echo "  kubectl get stratus -A"
