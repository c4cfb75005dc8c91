"""What a Server becomes, built with no server at all: the VirtualMachine (checked against
KubeVirt's own schema), its cloud-init data, the Kata Pod and the placement terms."""

import json
from typing import Any

import jsonschema
import pytest
import yaml

from stratus.api.loadbalancer import HealthMonitor, LoadBalancerSpec
from stratus.api.server import ServerFlavor
from stratus.builders.cloudinit import network_config
from stratus.builders.kata import build_kata_pod
from stratus.builders.kubevirt import build_cloud_init_secret, build_virtual_machine
from stratus.builders.loadbalancer import readiness_probe
from stratus.builders.meta import Manifest, Owner
from stratus.builders.server import (
    Boot,
    Disk,
    Interface,
    Placement,
    affinity,
    disk_name,
    mac_address,
)
from tests.conftest import UpstreamSchema

OWNER = Owner(kind="Server", name="web-1", uid="5f0c", namespace="acme")
FLAVOR = ServerFlavor(name="m1.small", vcpus=2, memory="4Gi", disk="20Gi")
IMAGE_BOOT = Boot(
    source={"registry": {"url": "docker://quay.io/containerdisks/ubuntu:24.04"}},
    size="20Gi",
    storage_class="standard",
)
LAN = Interface(
    index=0,
    network="lan",
    namespace="acme",
    address="10.0.0.5",
    cidr="10.0.0.0/24",
    mac=mac_address("5f0c", 0),
    gateway="10.0.0.1",
    dns=("10.0.0.2",),
    mtu=1450,
)
V6 = Interface(
    index=1,
    network="v6",
    namespace="shared",
    address="fd00::10",
    cidr="fd00::/64",
    mac=mac_address("5f0c", 1),
    gateway="fd00::1",
)


WEB_BALANCER = LoadBalancerSpec.model_validate(
    {
        "listeners": [{"port": 80, "targetPort": 8080}],
        "pool": {"selector": {"tier": "web"}},
        "healthMonitor": {"type": "HTTP", "path": "/healthz", "delaySeconds": 10, "maxRetries": 2},
    }
)


def machine(**changes: Any) -> Manifest:
    arguments: dict[str, Any] = {
        "owner": OWNER,
        "flavor": FLAVOR,
        "boot": IMAGE_BOOT,
        "interfaces": [LAN],
        "disks": [],
        "placement": Placement(),
        "running": True,
        "key_pair": None,
    }
    arguments.update(changes)
    return build_virtual_machine(**arguments)


VARIANTS = {
    "from an image": {},
    "from a volume, stopped": {"boot": Boot(claim="root-1"), "running": False},
    "dedicated cpu, two networks, key": {
        "flavor": ServerFlavor(name="d", vcpus=4, memory="8Gi", dedicated_cpu=True),
        "interfaces": [LAN, V6],
        "key_pair": "alice",
    },
    "attached and hot-plugged volumes": {
        "disks": [Disk("data", "data", block=True), Disk("live", "live", hotpluggable=True)]
    },
    "zone and hard anti-affinity": {"placement": Placement("zone-a", "web", "anti-affinity")},
    "soft affinity, no networks": {
        "placement": Placement(None, "db", "soft-affinity"),
        "interfaces": [],
    },
    "probed by an HTTP health monitor": {"readiness_probe": readiness_probe(WEB_BALANCER)},
    "probed by a TCP health monitor": {
        "readiness_probe": readiness_probe(
            WEB_BALANCER.model_copy(update={"health_monitor": HealthMonitor(port=5432)})
        )
    },
}


@pytest.mark.parametrize("changes", VARIANTS.values(), ids=VARIANTS.keys())
def test_every_virtual_machine_passes_the_upstream_schema(
    upstream_schema: UpstreamSchema, changes: dict[str, Any]
) -> None:
    jsonschema.validate(machine(**changes), upstream_schema("kubevirt.io", "virtualmachine_v1"))


def test_a_misspelled_field_would_fail_the_upstream_schema(upstream_schema: UpstreamSchema) -> None:
    broken = machine()
    broken["spec"]["template"]["spec"]["domain"]["devices"]["disk"] = []
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, upstream_schema("kubevirt.io", "virtualmachine_v1"))


def test_the_virtual_machine_is_sized_by_the_flavor_and_boots_a_copy_of_the_image() -> None:
    vm = machine()
    spec = vm["spec"]
    domain = spec["template"]["spec"]["domain"]
    assert domain["cpu"] == {"sockets": 2, "cores": 1, "threads": 1}
    assert domain["memory"] == {"guest": "4Gi"}
    assert spec["runStrategy"] == "Always"
    [template] = spec["dataVolumeTemplates"]
    assert template["metadata"]["name"] == "web-1-root"
    assert template["spec"]["source"] == IMAGE_BOOT.source
    assert template["spec"]["storage"] == {
        "resources": {"requests": {"storage": "20Gi"}},
        "storageClassName": "standard",
    }
    assert domain["devices"]["disks"][0] == {
        "name": "root",
        "disk": {"bus": "virtio"},
        "bootOrder": 1,
    }


def test_a_stopped_server_boots_from_its_volume_and_is_halted() -> None:
    spec = machine(boot=Boot(claim="root-1"), running=False)["spec"]
    assert spec["runStrategy"] == "Halted"
    assert "dataVolumeTemplates" not in spec
    volumes = spec["template"]["spec"]["volumes"]
    assert volumes[0] == {"name": "root", "persistentVolumeClaim": {"claimName": "root-1"}}


def test_each_network_is_a_bridged_multus_interface_with_its_address() -> None:
    vm = machine(interfaces=[LAN, V6])
    template = vm["spec"]["template"]
    interfaces = template["spec"]["domain"]["devices"]["interfaces"]
    assert interfaces[0]["name"] == "default" and "masquerade" in interfaces[0]
    assert [(i["name"], i["macAddress"]) for i in interfaces[1:]] == [
        ("nic0", LAN.mac),
        ("nic1", V6.mac),
    ]
    assert all("bridge" in i for i in interfaces[1:])
    networks = template["spec"]["networks"]
    assert networks[1:] == [
        {"name": "nic0", "multus": {"networkName": "acme/lan"}},
        {"name": "nic1", "multus": {"networkName": "shared/v6"}},
    ]
    assert template["metadata"]["annotations"]["stratus.io/flavor"] == FLAVOR.name
    selection = json.loads(template["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"])
    assert [(s["namespace"], s["name"], s["ips"]) for s in selection] == [
        ("acme", "lan", ["10.0.0.5/24"]),
        ("shared", "v6", ["fd00::10/64"]),
    ]


def test_volumes_attached_at_boot_are_virtio_and_live_ones_hotpluggable_scsi() -> None:
    disks = [Disk("data.1", "data-claim"), Disk("live", "live", hotpluggable=True)]
    template = machine(disks=disks)["spec"]["template"]["spec"]
    devices = {d["name"]: d for d in template["domain"]["devices"]["disks"]}
    assert devices["vol-data-1"]["disk"] == {"bus": "virtio"}
    assert devices["vol-live"]["disk"] == {"bus": "scsi"}
    volumes = {v["name"]: v for v in template["volumes"]}
    assert volumes["vol-data-1"]["persistentVolumeClaim"] == {"claimName": "data-claim"}
    assert volumes["vol-live"]["persistentVolumeClaim"] == {
        "claimName": "live",
        "hotpluggable": True,
    }


def test_a_key_pair_reaches_the_guest_through_cloud_init_access_credentials() -> None:
    template = machine(key_pair="alice")["spec"]["template"]["spec"]
    [credential] = template["accessCredentials"]
    assert credential["sshPublicKey"]["source"] == {"secret": {"secretName": "web-1-ssh-key"}}
    assert credential["sshPublicKey"]["propagationMethod"] == {"noCloud": {}}
    cloud_init = next(v for v in template["volumes"] if "cloudInitNoCloud" in v)
    assert cloud_init["cloudInitNoCloud"]["secretRef"] == {"name": "web-1-cloud-init"}


def test_user_data_travels_in_a_secret_as_given() -> None:
    secret = build_cloud_init_secret(OWNER, "#cloud-config\npackages: [nginx]\n", "version: 2\n")
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "5f0c"
    assert secret["data"]["userdata"] == "I2Nsb3VkLWNvbmZpZwpwYWNrYWdlczogW25naW54XQo="


def test_network_config_gives_each_interface_its_address_and_one_default_route() -> None:
    config = yaml.safe_load(network_config("02:00:00:00:00:01", [LAN, V6]))
    assert config["version"] == 2
    ethernets = config["ethernets"]
    assert ethernets["default"] == {
        "match": {"macaddress": "02:00:00:00:00:01"},
        "set-name": "eth0",
        "dhcp4": True,
    }
    assert ethernets["nic0"]["match"] == {"macaddress": LAN.mac}
    assert ethernets["nic0"]["set-name"] == "eth1"
    assert ethernets["nic0"]["addresses"] == ["10.0.0.5/24"]
    assert ethernets["nic0"]["routes"] == [{"to": "0.0.0.0/0", "via": "10.0.0.1", "metric": 200}]
    assert ethernets["nic0"]["nameservers"] == {"addresses": ["10.0.0.2"]}
    assert ethernets["nic0"]["mtu"] == 1450
    assert ethernets["nic1"]["addresses"] == ["fd00::10/64"]
    assert "routes" not in ethernets["nic1"]  # only the first gateway becomes the default route


@pytest.mark.parametrize(
    ("policy", "kind", "rule"),
    [
        ("affinity", "podAffinity", "requiredDuringSchedulingIgnoredDuringExecution"),
        ("anti-affinity", "podAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution"),
        ("soft-affinity", "podAffinity", "preferredDuringSchedulingIgnoredDuringExecution"),
        (
            "soft-anti-affinity",
            "podAntiAffinity",
            "preferredDuringSchedulingIgnoredDuringExecution",
        ),
    ],
)
def test_group_policies_become_pod_affinity_per_node(policy: str, kind: str, rule: str) -> None:
    terms = affinity(Placement(group="web", policy=policy))
    assert terms is not None and list(terms) == [kind]
    [term] = terms[kind][rule]
    term = term.get("podAffinityTerm", term)
    assert term == {
        "labelSelector": {"matchLabels": {"stratus.io/server-group": "web"}},
        "topologyKey": "kubernetes.io/hostname",
    }


def test_a_zone_is_required_node_affinity_and_no_placement_is_none() -> None:
    terms = affinity(Placement(zone="zone-b"))
    assert terms is not None
    required = terms["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert required["nodeSelectorTerms"] == [
        {
            "matchExpressions": [
                {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["zone-b"]}
            ]
        }
    ]
    assert affinity(Placement()) is None


def test_a_kata_pod_runs_the_registry_image_in_the_runtime_class_sized_by_the_flavor() -> None:
    pod = build_kata_pod(
        OWNER,
        FLAVOR,
        "docker://quay.io/containerdisks/ubuntu:24.04",
        "kata-qemu",
        [LAN],
        [Disk("data", "data"), Disk("raw", "raw", block=True)],
        Placement(group="web", policy="anti-affinity"),
    )
    spec = pod["spec"]
    assert spec["runtimeClassName"] == "kata-qemu"
    [container] = spec["containers"]
    assert container["image"] == "quay.io/containerdisks/ubuntu:24.04"
    assert container["resources"]["requests"] == container["resources"]["limits"]
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}
    assert container["volumeMounts"] == [{"name": "vol-data", "mountPath": "/volumes/data"}]
    assert container["volumeDevices"] == [{"name": "vol-raw", "devicePath": "/dev/vol-raw"}]
    assert pod["metadata"]["labels"]["stratus.io/server-group"] == "web"
    assert "podAntiAffinity" in spec["affinity"]
    selection = json.loads(pod["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"])
    assert selection[0]["ips"] == ["10.0.0.5/24"]
    assert pod["metadata"]["annotations"]["stratus.io/flavor"] == "m1.small"


def test_disk_names_are_dns_labels_even_for_long_volume_names() -> None:
    long = "a" * 80
    assert disk_name("data.1") == "vol-data-1"
    assert len(disk_name(long)) <= 63
    assert disk_name(long) != disk_name(long[:-1] + "b")


def test_mac_addresses_are_stable_unicast_and_locally_administered() -> None:
    mac = mac_address("uid-1", 0)
    assert mac == mac_address("uid-1", 0) != mac_address("uid-1", 1)
    first_octet = int(mac.split(":")[0], 16)
    assert first_octet & 0b10 and not first_octet & 0b1
    assert len(mac.split(":")) == 6


def test_a_health_monitor_becomes_the_members_readiness_probe() -> None:
    """Octavia's monitor, run by KubeVirt: every delaySeconds, failed maxRetries times in a row
    the member turns not Ready and leaves the endpoints; the port defaults to the first
    listener's port on the members."""
    template = machine(readiness_probe=readiness_probe(WEB_BALANCER))["spec"]["template"]
    assert template["spec"]["readinessProbe"] == {
        "httpGet": {"port": 8080, "path": "/healthz"},
        "periodSeconds": 10,
        "timeoutSeconds": 3,
        "failureThreshold": 2,
    }
    unmonitored = WEB_BALANCER.model_copy(update={"health_monitor": None})
    assert readiness_probe(unmonitored) is None
    assert "readinessProbe" not in machine()["spec"]["template"]["spec"]
