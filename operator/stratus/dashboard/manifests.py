"""What the console's forms ask the API server for: Stratus manifests and patches, built from a
form as a user would write them for `kubectl apply`. Pure. A field left empty is left out, and
nothing is checked here: the API server's schema and CEL rules refuse bad input, and their
message is what the person sees next to the form."""

from collections.abc import Mapping, Sequence
from typing import Any

from stratus.constants import API_VERSION

Manifest = dict[str, Any]


class Form:
    """A submitted form's fields, stripped; empty ones count as absent."""

    def __init__(self, fields: Mapping[str, str], lists: Mapping[str, Sequence[str]]) -> None:
        self._fields = {k: v.strip() for k, v in fields.items()}
        self._lists = {k: [v.strip() for v in vs if v.strip()] for k, vs in lists.items()}

    def text(self, key: str) -> str:
        return self._fields.get(key, "")

    def every(self, key: str) -> list[str]:
        return self._lists.get(key, [])

    def flag(self, key: str) -> bool:
        return self.text(key) in {"on", "true", "1"}

    def words(self, key: str) -> list[str]:
        """A comma- or space-separated field, such as DNS servers."""
        return self.text(key).replace(",", " ").split()

    def number(self, key: str) -> int | str:
        """An integer field; text that is no integer goes to the API server as it is, which
        says what is wrong with it."""
        value = self.text(key)
        return int(value) if value.lstrip("-").isdigit() else value


def present(**fields: Any) -> dict[str, Any]:
    """The fields that have a value: an empty form field is no field."""
    return {k: v for k, v in fields.items() if v not in ("", None, [], {})}


def stratus_object(kind: str, name: str, spec: Manifest, namespace: str | None = None) -> Manifest:
    metadata = present(name=name, namespace=namespace)
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


def server(form: Form, namespace: str) -> Manifest:
    from_volume = form.text("source") == "volume"
    networks = [
        present(network=network, fixedIp=form.text(f"fixedIp.{network}"))
        for network in form.every("networks")
    ]
    spec = present(
        flavor=form.text("flavor"),
        image=None if from_volume else form.text("image"),
        bootVolume=form.text("bootVolume") if from_volume else None,
        runtime=form.text("runtime"),
        networks=networks,
        keyPair=form.text("keyPair"),
        serverGroup=form.text("serverGroup"),
        securityGroups=form.every("securityGroups"),
        availabilityZone=form.text("availabilityZone"),
        userData=form.text("userData"),
    )
    return stratus_object("Server", form.text("name"), spec, namespace)


def volume(form: Form, namespace: str) -> Manifest:
    origin = form.text("source")
    origins = {"image", "snapshot", "volume", "backup"}
    source = {origin: form.text(origin)} if origin in origins else {}
    spec = present(
        size=form.text("size"),
        volumeType=form.text("volumeType"),
        accessMode=form.text("accessMode"),
        volumeMode=form.text("volumeMode"),
        source=present(**source),
    )
    return stratus_object("Volume", form.text("name"), spec, namespace)


def snapshot(form: Form, namespace: str) -> Manifest:
    return stratus_object(
        "Snapshot", form.text("name"), present(volume=form.text("volume")), namespace
    )


def volume_backup(form: Form, namespace: str) -> Manifest:
    spec = present(
        volume=form.text("volume"),
        bucket=form.text("bucket"),
        incremental=True if form.flag("incremental") else None,
        description=form.text("description"),
    )
    return stratus_object("VolumeBackup", form.text("name"), spec, namespace)


def image(form: Form, namespace: str) -> Manifest:
    origin = "registry" if form.text("sourceType") == "registry" else "url"
    spec = present(
        source=present(**{origin: form.text("location")}),
        diskFormat=form.text("diskFormat"),
        minDisk=form.text("minDisk"),
        minMemory=form.text("minMemory"),
        visibility=form.text("visibility"),
        sharedWith=form.words("sharedWith"),
    )
    return stratus_object("Image", form.text("name"), spec, namespace)


def network(form: Form, namespace: str) -> Manifest:
    pool = present(start=form.text("poolStart"), end=form.text("poolEnd"))
    subnet = present(
        cidr=form.text("cidr"),
        gateway=form.text("gateway"),
        allocationPools=[pool] if pool else [],
        dnsNameservers=form.words("dnsNameservers"),
    )
    spec = present(
        type=form.text("type"),
        hostInterface=form.text("hostInterface"),
        vlan=form.number("vlan"),
        mtu=form.number("mtu"),
        subnet=subnet,
        shared=True if form.flag("shared") else None,
    )
    return stratus_object("Network", form.text("name"), spec, namespace)


def key_pair(form: Form, namespace: str) -> Manifest:
    return stratus_object(
        "KeyPair", form.text("name"), present(publicKey=form.text("publicKey")), namespace
    )


def server_group(form: Form, namespace: str) -> Manifest:
    return stratus_object(
        "ServerGroup", form.text("name"), present(policy=form.text("policy")), namespace
    )


def security_rule(form: Form) -> Manifest:
    """One rule, from the fields of the rule form; where the far end is, by its shape: a CIDR
    has a slash, a group has a name."""
    remote = form.text("remote")
    far = "remoteIpPrefix" if "/" in remote or ":" in remote else "remoteGroup"
    return present(
        direction=form.text("direction"),
        ethertype=form.text("ethertype"),
        protocol=form.text("protocol"),
        portRangeMin=form.number("portRangeMin"),
        portRangeMax=form.number("portRangeMax"),
        description=form.text("ruleDescription"),
        **{far: remote},
    )


def security_group(form: Form, namespace: str) -> Manifest:
    rules = [security_rule(form)] if form.text("direction") else []
    spec = present(description=form.text("description"), rules=rules)
    return stratus_object("SecurityGroup", form.text("name"), spec, namespace)


def add_rule(group: Manifest, rule: Manifest) -> list[Manifest]:
    return list_patch(group, "rules", [*((group.get("spec") or {}).get("rules") or []), rule])


def remove_rule(group: Manifest, index: int) -> list[Manifest]:
    rules = list((group.get("spec") or {}).get("rules") or [])
    return list_patch(group, "rules", [r for i, r in enumerate(rules) if i != index])


def router(form: Form, namespace: str) -> Manifest:
    gateway = form.text("externalGateway")
    spec = present(
        externalGateway={"network": gateway} if gateway else None,
        interfaces=[{"network": network} for network in form.every("interfaces")],
        snat=form.flag("snat"),
    )
    return stratus_object("Router", form.text("name"), spec, namespace)


def floating_ip(form: Form, namespace: str) -> Manifest:
    spec = present(
        network=form.text("network"),
        address=form.text("address"),
        server=form.text("server"),
        fixedAddress=form.text("fixedAddress"),
    )
    return stratus_object("FloatingIP", form.text("name"), spec, namespace)


def load_balancer(form: Form, namespace: str) -> Manifest:
    """A load balancer with one listener, as the form has room for (kubectl takes more)."""
    port = form.number("port")
    monitor = form.text("healthMonitor")
    spec = present(
        vip=present(network=form.text("vipNetwork"), address=form.text("vipAddress")),
        listeners=[
            present(protocol=form.text("protocol"), port=port, targetPort=form.number("targetPort"))
        ],
        pool=present(members=form.every("members"), algorithm=form.text("algorithm")),
        healthMonitor=present(type=monitor, path=form.text("healthPath")) if monitor else None,
    )
    return stratus_object("LoadBalancer", form.text("name"), spec, namespace)


def association(server: str | None, fixed_address: str | None = None) -> Manifest:
    """Point a FloatingIP at a Server, or (None) at nothing: a merge patch's null removes."""
    return {"spec": {"server": server or None, "fixedAddress": fixed_address or None}}


def bucket(form: Form, namespace: str) -> Manifest:
    spec = present(
        versioning=form.flag("versioning"),
        objectLock=form.flag("objectLock"),
        quota=form.text("quota"),
        access=form.text("access"),
        deletionPolicy=form.text("deletionPolicy"),
    )
    return stratus_object("Bucket", form.text("name"), spec, namespace)


def flavor(form: Form) -> Manifest:
    spec = present(
        vcpus=form.number("vcpus"),
        memory=form.text("memory"),
        disk=form.text("disk"),
        dedicatedCpu=form.flag("dedicatedCpu"),
        public=form.flag("public"),
    )
    return stratus_object("Flavor", form.text("name"), spec)


def power(state: str) -> Manifest:
    return {"spec": {"powerState": state}}


def reboot(at: str) -> Manifest:
    return {"spec": {"rebootRequestedAt": at}}


def migrate(at: str) -> Manifest:
    return {"spec": {"migrateRequestedAt": at}}


def maintenance(node: str) -> Manifest:
    """A HostMaintenance of a node, named after it: one per node, from the console."""
    return stratus_object("HostMaintenance", maintenance_name(node), {"node": node})


def maintenance_name(node: str) -> str:
    return f"maintenance-{node}"[:63].rstrip("-.")


def resize_server(flavor: str) -> Manifest:
    return {"spec": {"flavor": flavor}}


def confirm_resize(at: str) -> Manifest:
    return {"spec": {"resizeConfirmedAt": at}}


def list_patch(read: Manifest, field: str, values: list[Any]) -> list[Manifest]:
    """A JSON patch setting the spec's list `field` to `values`, which the API server refuses
    if the list changed since it was read: a concurrent edit is never lost, while the status
    the operator writes meanwhile does not get in the way (a resourceVersion guard would)."""
    path = f"/spec/{field}"
    current = (read.get("spec") or {}).get(field)
    if current is None:
        return [{"op": "add", "path": path, "value": values}]
    return [
        {"op": "test", "path": path, "value": current},
        {"op": "replace", "path": path, "value": values},
    ]


def attach(server: Manifest, volume: str) -> list[Manifest]:
    current = list((server.get("spec") or {}).get("volumes") or [])
    return list_patch(server, "volumes", current if volume in current else [*current, volume])


def detach(server: Manifest, volume: str) -> list[Manifest]:
    current = (server.get("spec") or {}).get("volumes") or []
    return list_patch(server, "volumes", [v for v in current if v != volume])


def retype(volume_type: str) -> Manifest:
    return {"spec": {"volumeType": volume_type}}


def resize(size: str) -> Manifest:
    return {"spec": {"size": size}}
