#!/usr/bin/env bash
# Writes the real upstream CustomResourceDefinitions of the third-party kinds Stratus creates
# (KubeVirt, CDI, Multus NetworkAttachmentDefinition, MultiNetworkPolicy, CSI snapshots) into
# OUTPUT_DIR, one *.yaml
# per CRD. The local cluster installs them so that it rejects malformed children the way a real
# cluster would. They come from the upstream projects' Go modules, pinned in versions.env:
#   - KubeVirt builds its CRDs in Go; their schemas are YAML string literals in
#     validations_generated.go, and names/versions/columns are copied from crds.go below.
#   - CDI's CRDs are controller-gen output over its API module's types.
#   - Multus, multi-networkpolicy and the CSI snapshotter ship CRD YAML files in their modules.
# Usage: devcluster/thirdparty_crds.sh OUTPUT_DIR   (does nothing when OUTPUT_DIR is up to date)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=devcluster/versions.env
source "$here/versions.env"
out=${1:?usage: $0 OUTPUT_DIR}
cache=${STRATUS_CACHE:-$HOME/.cache/stratus}

crds=(virtualmachines.kubevirt.io virtualmachineinstances.kubevirt.io virtualmachineinstancemigrations.kubevirt.io
  virtualmachineinstancetypes.instancetype.kubevirt.io virtualmachineclusterinstancetypes.instancetype.kubevirt.io
  virtualmachinepreferences.instancetype.kubevirt.io virtualmachineclusterpreferences.instancetype.kubevirt.io
  virtualmachineclones.clone.kubevirt.io datavolumes.cdi.kubevirt.io datasources.cdi.kubevirt.io
  network-attachment-definitions.k8s.cni.cncf.io multi-networkpolicies.k8s.cni.cncf.io
  volumesnapshots.snapshot.storage.k8s.io
  volumesnapshotclasses.snapshot.storage.k8s.io volumesnapshotcontents.snapshot.storage.k8s.io)
stamp="kubevirt=$KUBEVIRT_VERSION cdi-api=$CDI_API_VERSION controller-tools=$CONTROLLER_TOOLS_VERSION"
stamp+=" multus=$MULTUS_VERSION multi-networkpolicy=$MULTI_NETWORKPOLICY_VERSION"
stamp+=" snapshotter=$SNAPSHOTTER_CLIENT_VERSION crds=${crds[*]}"
up_to_date() {
  [ "$(cat "$out/.thirdparty-crds" 2>/dev/null)" = "$stamp" ] || return 1
  local crd
  for crd in "${crds[@]}"; do [ -s "$out/$crd.yaml" ] || return 1; done
}
up_to_date && exit 0

log() { printf '[thirdparty-crds] %s\n' "$*" >&2; }
export GOWORK=off
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# module_dir MODULE VERSION: the unpacked module in the module cache.
module_dir() {
  (cd "$tmp" && go mod download -json "$1@$2") | python3 -c '
import json, sys
info = json.load(sys.stdin)
sys.exit(info["Error"]) if info.get("Error") else print(info["Dir"])'
}

log "KubeVirt $KUBEVIRT_VERSION"
kubevirt=$(module_dir kubevirt.io/kubevirt "$KUBEVIRT_VERSION")
python3 - "$kubevirt/pkg/virt-operator/resource/generate/components/validations_generated.go" "$tmp" <<'PY'
import json, re, sys

source, outdir = sys.argv[1], sys.argv[2]
# validations_generated.go: map[string]string{ "<singular>": `openAPIV3Schema: ...`, ... }
schemas = dict(re.findall(r'^\t"([a-z]+)": `([^`]*)`,$', open(source).read(), re.M))

def column(name, path, type="string", **extra):
    return {"name": name, "type": type, "jsonPath": path, **extra}

AGE = column("Age", ".metadata.creationTimestamp", "date")
READY = column("Ready", ".status.conditions[?(@.type=='Ready')].status")
STATUS = {"status": {}}
CORE = [{"name": "v1", "served": True, "storage": True},
        {"name": "v1alpha3", "served": True, "storage": False, "deprecated": True,
         "deprecationWarning": "kubevirt.io/v1alpha3 is now deprecated and will be removed in a future release."}]

def instancetype_versions(kinds):
    old = [{"name": v, "served": False, "storage": False, "deprecated": True,
            "deprecationWarning": f"instancetype.kubevirt.io/{v} {kinds} is now deprecated and will be removed in v1."}
           for v in ("v1alpha1", "v1alpha2")]
    return old + [{"name": "v1beta1", "served": True, "storage": True}]

# Transcribed from pkg/virt-operator/resource/generate/components/crds.go of the same release.
# (kind, group, scope, shortNames, categories, versions, subresources, printer columns)
CRDS = {
    "virtualmachine": ("VirtualMachine", "kubevirt.io", "Namespaced", ["vm", "vms"], ["all"], CORE, STATUS, [
        AGE, column("Status", ".status.printableStatus", description="Human Readable Status"), READY]),
    "virtualmachineinstance": ("VirtualMachineInstance", "kubevirt.io", "Namespaced", ["vmi", "vmis"], ["all"], CORE, None, [
        AGE, column("Phase", ".status.phase"), column("IP", ".status.interfaces[0].ipAddress"),
        column("NodeName", ".status.nodeName"), READY,
        column("Live-Migratable", ".status.conditions[?(@.type=='LiveMigratable')].status", priority=1),
        column("Paused", ".status.conditions[?(@.type=='Paused')].status", priority=1)]),
    "virtualmachineinstancemigration": ("VirtualMachineInstanceMigration", "kubevirt.io", "Namespaced",
        ["vmim", "vmims"], ["all"], CORE, STATUS, [
        column("Phase", ".status.phase", description="The current phase of VM instance migration"),
        column("VMI", ".spec.vmiName", description="The name of the VMI to perform the migration on")]),
    "virtualmachineinstancetype": ("VirtualMachineInstancetype", "instancetype.kubevirt.io", "Namespaced",
        ["vminstancetype", "vminstancetypes", "vmf", "vmfs"], ["all"],
        instancetype_versions("VirtualMachineInstancetypes"), None, None),
    "virtualmachineclusterinstancetype": ("VirtualMachineClusterInstancetype", "instancetype.kubevirt.io", "Cluster",
        ["vmclusterinstancetype", "vmclusterinstancetypes", "vmcf", "vmcfs"], None,
        instancetype_versions("VirtualMachineClusterInstanceTypes"), None, None),
    "virtualmachinepreference": ("VirtualMachinePreference", "instancetype.kubevirt.io", "Namespaced",
        ["vmpref", "vmprefs", "vmp", "vmps"], ["all"], instancetype_versions("VirtualMachinePreferences"), None, None),
    "virtualmachineclusterpreference": ("VirtualMachineClusterPreference", "instancetype.kubevirt.io", "Cluster",
        ["vmcp", "vmcps"], None, instancetype_versions("VirtualMachineClusterPreferences"), None, None),
    "virtualmachineclone": ("VirtualMachineClone", "clone.kubevirt.io", "Namespaced", ["vmclone", "vmclones"], ["all"],
        [{"name": "v1alpha1", "served": True, "storage": False}, {"name": "v1beta1", "served": True, "storage": True}],
        STATUS, [column("Phase", ".status.phase"), column("SourceVirtualMachine", ".spec.source.name"),
                 column("TargetVirtualMachine", ".spec.target.name")]),
}

# Emitted as YAML text: every value is JSON (valid YAML), and the upstream schema text is indented
# in as it is, so no YAML library is needed.
for singular, (kind, group, scope, short, categories, versions, subresources, columns) in CRDS.items():
    if not schemas.get(singular, "").startswith("openAPIV3Schema:"):
        sys.exit(f"{source}: no schema for {singular}")
    names = {"kind": kind, "listKind": kind + "List", "plural": singular + "s", "singular": singular,
             "shortNames": short, **({"categories": categories} if categories else {})}
    schema = "".join("      " + line if line.strip() else line for line in schemas[singular].splitlines(True))
    lines = ["apiVersion: apiextensions.k8s.io/v1", "kind: CustomResourceDefinition", "metadata:",
             f"  name: {singular}s.{group}", '  labels: {"kubevirt.io": ""}', "spec:", f"  group: {group}",
             f"  names: {json.dumps(names)}", f"  scope: {scope}", "  versions:"]
    for version in versions:
        fields = {**version, "subresources": subresources, "additionalPrinterColumns": columns}
        lines += [f"  - name: {version['name']}"]
        lines += [f"    {k}: {json.dumps(v)}" for k, v in fields.items() if k != "name" and v is not None]
        lines += ["    schema:", schema.rstrip("\n")]
    with open(f"{outdir}/{singular}s.{group}.yaml", "w") as f:
        f.write("\n".join(lines) + "\n")
PY

log "CDI API $CDI_API_VERSION (controller-gen $CONTROLLER_TOOLS_VERSION)"
controller_gen="$cache/bin/controller-gen-$CONTROLLER_TOOLS_VERSION/controller-gen"
if [ ! -x "$controller_gen" ]; then
  GOBIN="$(dirname "$controller_gen")" CGO_ENABLED=0 \
    go install -trimpath -ldflags "-s -w" "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_TOOLS_VERSION"
fi
cdi_api=kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1
mkdir "$tmp/cdi"
(
  cd "$tmp/cdi"
  go mod init stratus.local/thirdparty-crds 2>/dev/null
  go get "$cdi_api@$CDI_API_VERSION" 2>go-get.log || { cat go-get.log >&2; exit 1; }
  "$controller_gen" crd:crdVersions=v1 paths="$cdi_api" output:crd:dir="$tmp/cdi"
)
cp "$tmp/cdi/cdi.kubevirt.io_datavolumes.yaml" "$tmp/datavolumes.cdi.kubevirt.io.yaml"
cp "$tmp/cdi/cdi.kubevirt.io_datasources.yaml" "$tmp/datasources.cdi.kubevirt.io.yaml"

log "Multus $MULTUS_VERSION"
# Multus installs the NetworkAttachmentDefinition CRD from its daemonset manifest; take that document.
multus=$(module_dir gopkg.in/k8snetworkplumbingwg/multus-cni.v4 "$MULTUS_VERSION")
python3 - "$multus/deployments/multus-daemonset.yml" >"$tmp/network-attachment-definitions.k8s.cni.cncf.io.yaml" <<'PY'
import re, sys
docs = [d for d in re.split(r"^---$", open(sys.argv[1]).read(), flags=re.M) if re.search(r"^kind: CustomResourceDefinition$", d, re.M)]
sys.exit(f"{sys.argv[1]}: expected one CRD, found {len(docs)}") if len(docs) != 1 else print(docs[0].strip())
PY

log "MultiNetworkPolicy $MULTI_NETWORKPOLICY_VERSION"
# The multi-networkpolicy project's scheme.yml is its CRD: SecurityGroups on Stratus Networks.
policies=$(module_dir github.com/k8snetworkplumbingwg/multi-networkpolicy "$MULTI_NETWORKPOLICY_VERSION")
cp "$policies/scheme.yml" "$tmp/multi-networkpolicies.k8s.cni.cncf.io.yaml"

log "CSI snapshots $SNAPSHOTTER_CLIENT_VERSION"
snapshotter=$(module_dir github.com/kubernetes-csi/external-snapshotter/client/v8 "$SNAPSHOTTER_CLIENT_VERSION")
for plural in volumesnapshots volumesnapshotclasses volumesnapshotcontents; do
  cp "$snapshotter/config/crd/snapshot.storage.k8s.io_$plural.yaml" "$tmp/$plural.snapshot.storage.k8s.io.yaml"
done

mkdir -p "$out"
for crd in "${crds[@]}"; do install -m 0644 "$tmp/$crd.yaml" "$out/$crd.yaml"; done
printf '%s\n' "$stamp" >"$out/.thirdparty-crds"
log "wrote ${#crds[@]} CRDs to $out"
