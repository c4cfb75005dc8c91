#!/usr/bin/env bash
# `make run`: the operator against the local cluster, with the examples applied and shown Ready,
# and the console, whose address and a sign-in token for the example tenant it prints.
# The operator runs with the chart's ServiceAccount token, so with exactly the chart's RBAC; the
# console holds no credentials of its own and acts with the token of whoever signs in.
# Both stay until interrupted; `make cluster-down` stops the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
kubectl=$(.venv/bin/python -c 'from devcluster.components import binary; print(binary("kubectl"))')

KUBECONFIG=.stratus/operator.kubeconfig STRATUS_CONFIG=.stratus/operator-config.yaml \
  .venv/bin/stratus run --standalone --liveness=http://127.0.0.1:8080/healthz >.stratus/logs/operator.log 2>&1 &
operator=$!
console_port=${STRATUS_CONSOLE_PORT:-8000}
STRATUS_DASHBOARD_SECRET=$(openssl rand -hex 32) \
  .venv/bin/stratus dashboard --listen=127.0.0.1 --port="$console_port" --plain-http >.stratus/logs/console.log 2>&1 &
console=$!
trap 'kill $operator $console 2>/dev/null; wait $operator $console 2>/dev/null' EXIT INT TERM

# The Project first: what lives inside it needs its namespace and counted quota.
"$kubectl" apply -f examples/flavors.yaml -f examples/project.yaml
"$kubectl" wait --for=condition=Ready --timeout=180s project/acme
"$kubectl" apply -k examples/
echo "waiting for the examples to become Ready ..."
"$kubectl" kustomize examples/ | "$kubectl" wait --for=condition=Ready --timeout=180s -f -
"$kubectl" get stratus -A
echo
echo "Stratus is running (log: .stratus/logs/operator.log). KUBECONFIG=$KUBECONFIG"
echo
echo "Console: http://127.0.0.1:$console_port/ (log: .stratus/logs/console.log)"
echo "Sign in as alice, admin of the example Project acme, with this token:"
.venv/bin/python -m devcluster token --person alice
echo "(bob, a member: .venv/bin/python -m devcluster token --person bob; carol reads; admin administers)"
echo
echo "Press Ctrl-C to stop the operator and the console; 'make cluster-down' stops the local cluster."
wait $operator
