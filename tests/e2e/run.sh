#!/usr/bin/env bash
# make e2e: the real path on a kind cluster. Creates the cluster, builds and loads both images, installs the
# chart, seeds a tiny model and dataset, registers the dataset and submits a tiny CPU LoRA job through the REST
# API, waits for `completed`, checks checkpoints and cost, and tears everything down (KEEP_CLUSTER=1 keeps it).
# Needs docker, kind, kubectl, helm, curl and python3.
set -euo pipefail
cd "$(dirname "$0")/../.."

CLUSTER=tensorone-e2e
RELEASE=tensorone
SYSTEM_NS=tensorone-system
ACCOUNT_NS=tensorone-admin          # facade.namespaceTemplate with the admin key's account
E2E=tests/e2e
PORT=18000
export KUBECONFIG="${KUBECONFIG_E2E:-$PWD/.e2e-kubeconfig}"

log() { printf '\n== %s\n' "$*"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {'d': d}))" "$1"; }
api() {  # api METHOD PATH [BODY]: call the REST API with the admin key, fail on HTTP errors
  curl -sS --fail-with-body -X "$1" "http://127.0.0.1:$PORT$2" -H "Authorization: Bearer $API_KEY" \
    -H 'Content-Type: application/json' ${3:+-d "$3"}
}
cleanup() {
  [[ -n "${PF_PID:-}" ]] && kill "$PF_PID" 2>/dev/null || true
  if [[ "${KEEP_CLUSTER:-0}" != 1 ]]; then kind delete cluster --name "$CLUSTER" || true; rm -f .e2e-kubeconfig; fi
}
trap cleanup EXIT

log "kind cluster"
kind create cluster --name "$CLUSTER" --config "$E2E/kind-config.yaml" --kubeconfig "$KUBECONFIG" --wait 120s
# kind has no GPUs: advertise 8 fake ones so worker pods schedule; the trainer falls back to CPU.
NODE=$(kubectl get nodes -o jsonpath='{.items[0].metadata.name}')
kubectl get --raw /version >/dev/null
kubectl patch node "$NODE" --subresource=status --type=json \
  -p '[{"op": "add", "path": "/status/capacity/nvidia.com~1gpu", "value": "8"}]'

log "images"
make images
kind load docker-image --name "$CLUSTER" tensorone/operator:dev tensorone/trainer:dev

log "helm install"
helm install "$RELEASE" charts/tensorone-training --namespace "$SYSTEM_NS" --create-namespace \
  --values "$E2E/values-kind.yaml" --wait --timeout 5m
kubectl get crd trainingjobs.training.tensorone.ai datasets.training.tensorone.ai
kubectl get priorityclass tensorone-high tensorone-normal tensorone-low

log "seed the dataset volume"
kubectl create namespace "$ACCOUNT_NS"
kubectl --namespace "$ACCOUNT_NS" apply -f "$E2E/seed-dataset.yaml"
kubectl --namespace "$ACCOUNT_NS" wait pod/seed-datasets --for=jsonpath='{.status.phase}'=Succeeded --timeout 10m
kubectl --namespace "$ACCOUNT_NS" logs seed-datasets

log "REST API"
API_KEY=$(kubectl --namespace "$SYSTEM_NS" get secret "$RELEASE-tensorone-training-admin-api-key" \
  -o jsonpath='{.data.api-key}' | base64 -d)
kubectl --namespace "$SYSTEM_NS" port-forward "svc/$RELEASE-tensorone-training-api" "$PORT:80" >/dev/null &
PF_PID=$!
for _ in $(seq 30); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 1; done

DATASET_ID=$(api POST /v2/datasets "$(cat "$E2E/dataset-request.json")" | json "d['id']")
JOB_ID=$(api POST /v2/training/jobs "$(sed "s/__DATASET_ID__/$DATASET_ID/" "$E2E/job-request.json")" | json "d['id']")
echo "dataset $DATASET_ID, job $JOB_ID"

log "wait for completed"
for i in $(seq 120); do
  STATUS=$(api GET "/v2/training/jobs/$JOB_ID" | json "d['status']")
  echo "  [$((i * 5))s] $STATUS"
  [[ "$STATUS" == completed ]] && break
  [[ "$STATUS" == failed || "$STATUS" == cancelled ]] && { api GET "/v2/training/jobs/$JOB_ID"; exit 1; }
  sleep 5
done
[[ "$STATUS" == completed ]] || { echo "job did not complete in 10 minutes"; exit 1; }

log "checkpoints and cost"
JOB=$(api GET "/v2/training/jobs/$JOB_ID")
echo "$JOB" | json "d['checkpoints']"
[[ $(echo "$JOB" | json "len(d['checkpoints'])") -ge 1 ]] || { echo "no checkpoints"; exit 1; }
# Cost = a100 price (chart default 2.50/GPU-hour) x GPU-hours actually used; never zero for a job that ran.
echo "$JOB" | json "d['resourceUsage']"
python3 - "$JOB" <<'PY'
import json, sys
usage = json.loads(sys.argv[1])["resourceUsage"]
assert usage["gpuHours"] > 0, usage
assert abs(usage["cost"] - usage["gpuHours"] * 2.50) < 0.01, usage
PY
api GET "/v2/training/jobs/$JOB_ID/logs?tail=5"
kubectl --namespace "$ACCOUNT_NS" get trainingjobs

log "e2e passed"
