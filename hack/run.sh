#!/usr/bin/env bash
# `make run`: the operator against the local cluster, with the examples applied and shown Ready.
# The operator runs with the chart's ServiceAccount token, so with exactly the chart's RBAC.
# The operator stays in the foreground until interrupted; `make cluster-down` stops the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
kubectl=$(.venv/bin/python -c 'from devcluster.components import binary; print(binary("kubectl"))')

KUBECONFIG=.stratus/operator.kubeconfig STRATUS_CONFIG=.stratus/operator-config.yaml \
  .venv/bin/stratus run --standalone --liveness=http://127.0.0.1:8080/healthz >.stratus/logs/operator.log 2>&1 &
operator=$!
trap 'kill $operator 2>/dev/null; wait $operator 2>/dev/null' EXIT INT TERM

# The Project first: what lives inside it needs its namespace and counted quota.
"$kubectl" apply -f examples/flavors.yaml -f examples/project.yaml
"$kubectl" wait --for=condition=Ready --timeout=180s project/acme
"$kubectl" apply -k examples/
echo "waiting for the examples to become Ready ..."
"$kubectl" kustomize examples/ | "$kubectl" wait --for=condition=Ready --timeout=180s -f -
"$kubectl" get stratus -A
echo
echo "Stratus is running (log: .stratus/logs/operator.log). KUBECONFIG=$KUBECONFIG"
echo "Press Ctrl-C to stop the operator; 'make cluster-down' stops the local cluster."
wait $operator
