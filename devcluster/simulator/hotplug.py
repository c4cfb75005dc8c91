"""KubeVirt's declarative volume hotplug (v1.6.1, feature gate DeclarativeHotplugVolumes).

The VirtualMachine's template is the source of truth. A volume marked hotpluggable (a
persistentVolumeClaim or dataVolume with `hotpluggable: true`) is added to, or removed from,
the running instance's spec together with its disk, without a restart. Any other change of the
template's volumes or disks cannot reach a running guest: the machine reports RestartRequired
until a new instance starts from the template.

Hotpluggable volumes never go into the virt-launcher pod: KubeVirt mounts them through a
separate attachment pod (not simulated here), so `status.volumeStatus` reports them Ready as
soon as their claim can be attached to a running instance.
"""

from collections.abc import Mapping
from typing import Any

from devcluster.simulator.kube import Manifest

RESTART_REQUIRED_MESSAGE = "a non-live-updatable field was changed in the template spec"
FILESYSTEM_OVERHEAD = "0.055"  # what KubeVirt reports when it finds no CDI resource to ask
DISK_PREFIXES = {"virtio": "vd", "sata": "sd", "scsi": "sd", "usb": "sd"}
DEFAULT_BUS = {"disk": "virtio", "lun": "scsi", "cdrom": "sata"}  # KubeVirt's webhook defaults


def hotpluggable(volume: Manifest | None) -> bool:
    """KubeVirt's IsDeclarativeHotplugVolume: a claim or DataVolume marked hotpluggable."""
    volume = volume or {}
    source = volume.get("persistentVolumeClaim") or volume.get("dataVolume") or {}
    return bool(source.get("hotpluggable"))


def hotpluggable_names(spec: Manifest) -> set[str]:
    return {v["name"] for v in _volumes(spec) if hotpluggable(v)}


def claim_of(volume: Manifest) -> str | None:
    """The claim a volume mounts (a DataVolume's claim has the DataVolume's name)."""
    if "persistentVolumeClaim" in volume:
        return str(volume["persistentVolumeClaim"]["claimName"])
    if "dataVolume" in volume:
        return str(volume["dataVolume"]["name"])
    return None


def _volumes(spec: Manifest) -> list[Manifest]:
    return list(spec.get("volumes") or [])


def _disks(spec: Manifest) -> list[Manifest]:
    return list(((spec.get("domain") or {}).get("devices") or {}).get("disks") or [])


def _by_name(items: list[Manifest]) -> dict[str, Manifest]:
    return {item["name"]: item for item in items}


def _normalized(value: Any) -> Any:
    """A field as Go compares it: false and null are the same as left out."""
    if isinstance(value, dict):
        return {k: _normalized(v) for k, v in value.items() if v is not None and v is not False}
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    return value


def _same(a: Manifest | None, b: Manifest | None) -> bool:
    return bool(_normalized(a) == _normalized(b))


# --- the VirtualMachine controller: what reaches the running instance ----------------------


def live_volumes(
    template_spec: Manifest, vmi: Manifest
) -> tuple[list[Manifest], list[Manifest]] | None:
    """The running instance's volumes and disks with the template's hotpluggable ones synced,
    as KubeVirt's patchHotplugVolumes computes them; None when there is nothing to change.

    A volume taken out of the spec keeps its status while it detaches; one of that name is
    only added again once that status is gone.
    """
    meta, spec = vmi["metadata"], vmi["spec"]
    if meta.get("deletionTimestamp") or (vmi.get("status") or {}).get("phase") != "Running":
        return None
    wanted = _by_name(_volumes(template_spec))
    volumes = [volume for volume in _volumes(spec) if _stays(volume, wanted.get(volume["name"]))]
    present = {v["name"] for v in _volumes(spec)}
    present |= {s["name"] for s in (vmi.get("status") or {}).get("volumeStatus") or []}
    volumes += [v for v in wanted.values() if hotpluggable(v) and v["name"] not in present]
    disks = _live_disks(template_spec, spec, _by_name(volumes))
    if volumes == _volumes(spec) and disks == _disks(spec):
        return None
    return volumes, disks


def _stays(volume: Manifest, template: Manifest | None) -> bool:
    """Whether an instance's volume stays: it is not hotpluggable, or the template still has it
    unchanged (made non-hotpluggable there, it stays as it is until the restart)."""
    if not hotpluggable(volume):
        return True
    return template is not None and (not hotpluggable(template) or _same(template, volume))


def _live_disks(
    template_spec: Manifest, spec: Manifest, volumes: dict[str, Manifest]
) -> list[Manifest]:
    """The disks that stay (their volume stays, or an empty CD-ROM) and those of new volumes."""
    wanted_disks = _by_name(_disks(template_spec))
    wanted_volumes = _by_name(_volumes(template_spec))
    disks = []
    for disk in _disks(spec):
        name = disk["name"]
        if name not in volumes:
            wanted = wanted_disks.get(name)
            if wanted is None:
                continue  # disk and volume are gone
            both_cdroms = "cdrom" in wanted and "cdrom" in disk
            if name in wanted_volumes and not both_cdroms:
                continue  # its volume changed
        disks.append(disk)
    present = {d["name"] for d in _disks(spec)}
    disks += [
        disk
        for disk in _disks(template_spec)
        if hotpluggable(volumes.get(disk["name"])) and disk["name"] not in present
    ]
    return disks


def needs_restart(template_spec: Manifest, instance_spec: Manifest) -> bool:
    """Whether the template's volumes or disks differ from the instance's in a way that cannot
    be applied live (KubeVirt's validLiveUpdateVolumes and validLiveUpdateDisks)."""
    return not (
        _volumes_live_updatable(instance_spec, template_spec)
        and _disks_live_updatable(instance_spec, template_spec)
    )


def _volumes_live_updatable(old: Manifest, new: Manifest) -> bool:
    """Only hotpluggable volumes were added, changed or removed."""
    old_volumes = _by_name(_volumes(old))
    for volume in _volumes(new):
        previous = old_volumes.pop(volume["name"], None)
        if not hotpluggable(volume) and (previous is None or not _same(previous, volume)):
            return False
    return all(hotpluggable(volume) for volume in old_volumes.values())


def _disks_live_updatable(old: Manifest, new: Manifest) -> bool:
    """Only the disks of hotpluggable volumes were added, changed or removed."""
    old_disks, old_volumes = _by_name(_disks(old)), _by_name(_volumes(old))
    new_volumes = _by_name(_volumes(new))
    for disk in _disks(new):
        previous = old_disks.pop(disk["name"], None)
        if hotpluggable(new_volumes.get(disk["name"])):
            continue
        if previous is None or not _same(previous, disk):
            return False
    return all(name not in old_volumes or hotpluggable(old_volumes[name]) for name in old_disks)


# --- virt-controller and virt-handler: status.volumeStatus ---------------------------------


def _claim_phase(claim_name: str, claim: Manifest | None) -> tuple[str, str, str]:
    """A hotplugged volume's phase, reason and message while it is not attached yet."""
    if claim is None:
        return "Pending", "FailedPvcNotFound", f"PVC {claim_name} not found"
    phase = (claim.get("status") or {}).get("phase")
    if phase == "Pending":
        return "Pending", "PVCNotReady", "PVC is in phase ClaimPending"
    if phase == "Bound":
        return "Bound", "PVCNotReady", "PVC is in phase Bound"
    return "Pending", "PVCNotReady", "PVC is in phase Lost"


def claim_info(claim: Manifest) -> Manifest:
    """persistentVolumeClaimInfo: what virt-handler needs of the claim, read off it."""
    meta, spec = claim["metadata"], claim.get("spec") or {}
    info: Manifest = {
        "claimName": meta["name"],
        "accessModes": spec.get("accessModes"),
        "volumeMode": spec.get("volumeMode"),
        "capacity": (claim.get("status") or {}).get("capacity"),
        "requests": (spec.get("resources") or {}).get("requests"),
        "filesystemOverhead": FILESYSTEM_OVERHEAD,
    }
    if any(
        key.endswith(("/storage.preallocation", "/storage.thick-provisioned")) and value == "true"
        for key, value in (meta.get("annotations") or {}).items()
    ):
        info["preallocated"] = True
    return {key: value for key, value in info.items() if value is not None}


def _device_prefix(disk: Manifest) -> str:
    for device, default_bus in DEFAULT_BUS.items():
        if device in disk:
            return DISK_PREFIXES.get((disk[device] or {}).get("bus") or default_bus, "")
    return DISK_PREFIXES[DEFAULT_BUS["disk"]]


def _device_name(prefix: str, index: int) -> str:
    """KubeVirt's FormatDeviceName: vda ... vdz, vdaa ..."""
    name = ""
    while index >= 0:
        name = chr(ord("a") + index % 26) + name
        index = index // 26 - 1
    return prefix + name


def _targets(disks: list[Manifest], attached: list[str], kept: dict[str, str]) -> dict[str, str]:
    """Device names of the attached disks: a disk keeps its target, a new one takes the first
    free name of its bus's prefix (as virt-launcher's device namer does)."""
    by_name = _by_name(disks)
    targets = {name: kept[name] for name in attached if kept.get(name) and name in by_name}
    for name in attached:
        if name in targets or name not in by_name:
            continue
        prefix = _device_prefix(by_name[name])
        used = set(targets.values())
        index = 0
        while _device_name(prefix, index) in used:
            index += 1
        targets[name] = _device_name(prefix, index)
    return targets


def volume_status(
    vmi: Manifest,
    pod: Manifest,
    claims: Mapping[str, Manifest | None],
    attachable: set[str],
) -> list[Manifest]:
    """status.volumeStatus: every volume of the instance, sorted by name.

    `claims` holds the claims the instance's volumes mount (None: not found); `attachable`
    names the volumes whose claim is ready (Bound, its DataVolume Succeeded). A claim volume
    missing from the launcher pod is hotplugged: it carries `hotplugVolume` and a phase, Ready
    once attached to the running guest. Targets (vda, sda) exist only while the guest runs.
    """
    spec, previous_status = vmi["spec"], vmi.get("status") or {}
    previous = _by_name(previous_status.get("volumeStatus") or [])
    pod_volumes = {v["name"] for v in pod["spec"].get("volumes") or []}
    running = (pod.get("status") or {}).get("phase") == "Running" and bool(
        pod["spec"].get("nodeName")
    )
    entries, plugged = [], []
    for volume in _volumes(spec):
        name, claim_name = volume["name"], claim_of(volume)
        entry: Manifest = {"name": name, "target": ""}
        if claim_name and name not in pod_volumes:
            plugged.append(name)
            entry["hotplugVolume"] = {}
            if previous.get(name, {}).get("phase") == "Ready" or (running and name in attachable):
                entry.update(
                    phase="Ready",
                    reason="VolumeReady",
                    message=f"Successfully attach hotplugged volume {name} to VM",
                )
            else:
                phase, reason, message = _claim_phase(claim_name, claims.get(claim_name))
                entry.update(phase=phase, reason=reason, message=message)
        claim = claims.get(claim_name) if claim_name else None
        if claim:
            entry["persistentVolumeClaimInfo"] = claim_info(claim)
        entries.append(entry)
    if running:
        ready = [e["name"] for e in entries if e.get("phase", "Ready") == "Ready"]
        attached = [n for n in ready if n not in plugged] + [n for n in ready if n in plugged]
        kept = {name: str(status.get("target") or "") for name, status in previous.items()}
        for name, target in _targets(_disks(spec), attached, kept).items():
            next(e for e in entries if e["name"] == name)["target"] = target
    return sorted(entries, key=lambda e: str(e["name"]))
