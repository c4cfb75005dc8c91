"""A seeded churn: creates, updates and deletes of every kind in random order, and what each
object that remains should end as."""

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bench.objects import PUBLIC_KEY, stratus

Manifest = dict[str, Any]
LABEL = "soak.stratus.io/run"
PROJECTS = 4
PUBLIC = ("stratus-system", "soak-public")
"""The administrator's external Network the floating IPs come from."""
TINY, HUGE = "soak.tiny", "soak.huge"
READY = "Ready"


CHURNED = f"{LABEL}=churn"
"""The label selector of what the churn made, which a later run deletes first."""


def labelled(manifest: Manifest, part: str = "churn") -> Manifest:
    manifest["metadata"].setdefault("labels", {})[LABEL] = part
    return manifest


def project_name(index: int) -> str:
    return f"soak-{index}"


def foundation() -> list[Manifest]:
    """What the churn stands on and never deletes: Flavors, the external Network, and per
    Project a Network `lan`, an Image, a KeyPair and a Volume to snapshot."""
    public = {
        "hostInterface": "br-ex",
        "external": True,
        "subnet": {"cidr": "198.18.0.0/22", "gateway": "198.18.0.1"},
    }
    shared = [
        stratus("Flavor", TINY, {"vcpus": 1, "memory": "256Mi", "disk": "1Gi"}),
        stratus("Flavor", HUGE, {"vcpus": 512, "memory": "1Gi", "disk": "1Gi"}),
        stratus("Network", PUBLIC[1], public, PUBLIC[0]),
    ]
    tenants = []
    for index in range(PROJECTS):
        ns = project_name(index)
        lan = {
            "hostInterface": "br1",
            "subnet": {"cidr": f"10.{100 + index}.0.0/20", "gateway": f"10.{100 + index}.0.1"},
        }
        cirros = {"source": {"registry": "docker://quay.io/kubevirt/cirros-container-disk-demo"}}
        tenants += [
            stratus("Project", ns, {"deletionPolicy": "Cascade"}),
            stratus("Network", "lan", lan, ns),
            stratus("Image", "cirros", cirros, ns),
            stratus("KeyPair", "ops", {"publicKey": PUBLIC_KEY}, ns),
            stratus("Volume", "base", {"size": "1Gi"}, ns),
        ]
    return [labelled(m, "foundation") for m in shared + tenants]


@dataclass
class Churn:
    """The objects the churn made, as it last wrote them; a deleted one leaves."""

    rng: random.Random
    live: dict[tuple[str, str, str], Manifest] = field(default_factory=dict)
    made: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def steps(self, total: int) -> Iterator[tuple[str, Manifest]]:
        """`total` operations: ("apply", manifest) or ("delete", manifest)."""
        while self.made < total:
            roll = self.rng.random()
            if roll < 0.55 or len(self.live) < 10:
                yield "apply", self._create()
            elif roll < 0.8:
                yield "apply", self._update()
            else:
                key = self.rng.choice(sorted(self.live))
                yield "delete", self.live.pop(key)

    def _create(self) -> Manifest:
        kind = self.rng.choice(sorted(MAKERS))
        ns = project_name(self.rng.randrange(PROJECTS))
        self.made += 1
        self.counts[kind] = self.counts.get(kind, 0) + 1
        manifest = labelled(MAKERS[kind](self.rng, f"{kind.lower()}-{self.made:04d}", ns))
        metadata = manifest["metadata"]
        self.live[(kind, metadata.get("namespace", ""), metadata["name"])] = manifest
        return manifest

    def _update(self) -> Manifest:
        key = self.rng.choice(sorted(self.live))
        manifest = self.live[key]
        change = UPDATES.get(key[0])
        if change is None:
            labels = manifest["metadata"]["labels"]
            labels["soak.stratus.io/revision"] = str(
                int(labels.get("soak.stratus.io/revision", "0")) + 1
            )
        else:
            change(self.rng, manifest["spec"])
        return manifest


USER_DATA = "#cloud-config\npassword: {}\n"


def _server(rng: random.Random, name: str, ns: str) -> Manifest:
    flavor = HUGE if rng.random() < 0.1 else TINY
    spec = {"flavor": flavor, "image": "cirros", "networks": [{"network": "lan"}], "keyPair": "ops"}
    spec["userData"] = USER_DATA.format(f"pw-{rng.getrandbits(64):016x}")
    return stratus("Server", name, spec, ns)


def password_of(manifest: Manifest) -> str | None:
    """The secret a churned Server's userData carries, which must show nowhere else."""
    user_data = manifest["spec"].get("userData") if manifest["kind"] == "Server" else None
    return user_data.removeprefix("#cloud-config\npassword: ").strip() if user_data else None


def _security_group(rng: random.Random, name: str, ns: str) -> Manifest:
    return stratus("SecurityGroup", name, {"rules": _rules(rng)}, ns)


def _rules(rng: random.Random) -> list[Manifest]:
    port = rng.randrange(1, 60000)
    return [{"direction": "ingress", "protocol": "tcp", "portRangeMin": port, "portRangeMax": port,
             "remoteIpPrefix": "10.0.0.0/8"}]  # fmt: skip


def _network(rng: random.Random, name: str, ns: str) -> Manifest:
    number = int(name.rsplit("-", 1)[1])
    prefix = f"10.{200 + number // 250}.{number % 250}"
    spec = {"hostInterface": "br2", "subnet": {"cidr": f"{prefix}.0/24", "gateway": f"{prefix}.1"}}
    return stratus("Network", name, spec, ns)


Maker = Callable[[random.Random, str, str], Manifest]
MAKERS: dict[str, Maker] = {
    "Server": _server,
    "Volume": lambda rng, name, ns: stratus("Volume", name, {"size": "1Gi"}, ns),
    "Snapshot": lambda rng, name, ns: stratus("Snapshot", name, {"volume": "base"}, ns),
    "Bucket": lambda rng, name, ns: stratus("Bucket", name, {}, ns),
    "KeyPair": lambda rng, name, ns: stratus("KeyPair", name, {"publicKey": PUBLIC_KEY}, ns),
    "ServerGroup": lambda rng, name, ns: stratus(
        "ServerGroup", name, {"policy": "soft-anti-affinity"}, ns
    ),
    "SecurityGroup": _security_group,
    "FloatingIP": lambda rng, name, ns: stratus(
        "FloatingIP", name, {"network": "/".join(PUBLIC)}, ns
    ),
    "LoadBalancer": lambda rng, name, ns: stratus(
        "LoadBalancer",
        name,
        {
            "vip": {"network": "lan"},
            "listeners": [{"port": 80}],
            "pool": {"selector": {"app": name}},
        },
        ns,
    ),
    "Image": lambda rng, name, ns: stratus(
        "Image",
        name,
        {"source": {"registry": "docker://quay.io/kubevirt/cirros-container-disk-demo"}},
        ns,
    ),
    "Network": _network,
    "Router": lambda rng, name, ns: stratus(
        "Router", name, {"externalGateway": {"network": "/".join(PUBLIC)}}, ns
    ),
    "Project": lambda rng, name, ns: stratus(
        "Project", f"soak-{name}", {"deletionPolicy": "Cascade"}
    ),
    "Flavor": lambda rng, name, ns: stratus(
        "Flavor", name, {"vcpus": rng.randrange(1, 8), "memory": "512Mi"}
    ),
}
"""Each kind as a tenant (or, for Flavors, an administrator) writes it."""

UPDATES: dict[str, Callable[[random.Random, Manifest], None]] = {
    "Server": lambda rng, spec: spec.update(
        powerState="Stopped" if spec.get("powerState", "Running") == "Running" else "Running"
    ),
    "Volume": lambda rng, spec: spec.update(size=f"{int(spec['size'][:-2]) + 1}Gi"),
    "SecurityGroup": lambda rng, spec: spec.update(rules=_rules(rng)),
}
"""Changes users make to a live object's spec; other kinds get a new label."""


def expected_reasons(manifest: Manifest) -> set[str]:
    """The Ready outcomes the object's final spec deserves: READY, or a Ready=False reason."""
    spec = manifest["spec"]
    running = spec.get("powerState", "Running") == "Running"
    if manifest["kind"] == "Server" and spec["flavor"] == HUGE and running:
        return {"NoValidHost"}  # a stopped one needs no host: it is Ready, Stopped
    return {READY}
