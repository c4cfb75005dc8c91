"""Tenant isolation, as a matrix: for each role a person may hold in Project A (admin, member,
reader, none), every Stratus kind and verb in A and in Project B, asked of the API server with
`kubectl auth can-i --as` and tried with real requests. A role gives exactly what it says in A
and nothing in B; B's Secrets are out of A's reach, and their values appear nowhere else."""

import base64
import json
import re
import uuid
from dataclasses import dataclass

import pytest

from tests.integration.conftest import (
    PUBLIC_KEY,
    Cluster,
    Operator,
    provision_tenant,
    stratus_object,
)

KINDS = [
    "servers", "servergroups", "securitygroups", "networks", "routers", "floatingips",
    "loadbalancers", "volumes", "snapshots", "images", "keypairs", "buckets",
]  # fmt: skip
VERBS = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
READ = {"get", "list", "watch"}
GRANTED = {
    "admin": set(VERBS),
    "member": set(VERBS) - {"deletecollection"},
    "reader": READ,
    "none": set(),
}
"""What each role in a Project may do to its Stratus kinds (the chart's tenant roles)."""
USER_DATA = "#cloud-config\npassword: {secret}\n"


@dataclass(frozen=True)
class Tenancy:
    a: str
    b: str
    people: dict[str, str]
    """The user each role of A is held by; `none` is a user of no Project."""
    secrets_of_b: dict[str, str]
    """B's Secrets by name, with the value in each that must stay B's."""


@pytest.fixture(scope="module")
def tenancy(cluster: Cluster, operator: Operator) -> Tenancy:
    stem = f"iso-{uuid.uuid4().hex[:5]}"
    people = {role: f"{stem}-{role}@example.org" for role in GRANTED}
    members = [
        {"kind": "User", "name": people[r], "role": r} for r in ("admin", "member", "reader")
    ]
    a, b = f"{stem}-a", f"{stem}-b"
    flavor = {f"{stem}-tiny": {"vcpus": 1, "memory": "1Gi", "disk": "2Gi"}}
    provision_tenant(cluster, a, flavor, None, "10.62.0.0/24", members)
    provision_tenant(cluster, b, {}, None, "10.63.0.0/24", [])
    password = uuid.uuid4().hex
    cluster.apply(
        "\n---\n".join(
            [
                stratus_object("KeyPair", "ops", {"publicKey": PUBLIC_KEY}, b),
                stratus_object("Bucket", "vault", {}, b),
                stratus_object(
                    "Server",
                    "db",
                    {
                        "flavor": f"{stem}-tiny",
                        "image": "cirros",
                        "keyPair": "ops",
                        "userData": USER_DATA.format(secret=password),
                    },
                    b,
                ),
            ]
        )
    )
    cluster.wait("bucket/vault", "condition=Ready", b, timeout=90)
    cluster.wait("server/db", "condition=Ready", b, timeout=120)
    credentials = cluster.get("secret", "vault-credentials", b)
    assert credentials is not None
    secret_key = base64.b64decode(credentials["data"]["secretKey"]).decode()
    secrets = {"vault-credentials": secret_key, "db-cloud-init": password, "db-ssh-key": ""}
    return Tenancy(a, b, people, secrets)


def can_i(cluster: Cluster, user: str, namespace: str) -> dict[str, set[str]]:
    """What `kubectl auth can-i --list` says the user may do in the namespace, by resource."""
    table = cluster.kubectl("auth", "can-i", "--list", "-n", namespace, f"--as={user}").stdout
    granted: dict[str, set[str]] = {}
    for line in table.splitlines()[1:]:
        resource, *_, verbs = re.split(r"\s{2,}", line.strip())
        granted.setdefault(resource, set()).update(verbs.strip("[]").split())
    return granted


@pytest.mark.parametrize("role", GRANTED)
def test_each_role_may_do_exactly_what_it_says_in_its_project_and_nothing_in_another(
    cluster: Cluster, tenancy: Tenancy, role: str
) -> None:
    user = tenancy.people[role]
    in_a, in_b = can_i(cluster, user, tenancy.a), can_i(cluster, user, tenancy.b)
    for kind in KINDS:
        resource = f"{kind}.stratus.io"
        assert in_a.get(resource, set()) == GRANTED[role], f"{role}: {resource} in A"
        assert in_b.get(resource, set()) == set(), f"{role}: {resource} in B"
    # Ports are Stratus's own record of addresses: readable by the Project, written by none.
    assert in_a.get("ports.stratus.io", set()) == (READ if role != "none" else set())
    assert not in_b.keys() & {"ports.stratus.io", "secrets", "pods", "events"}
    # One verb at a time, as an admission webhook or a person would ask.
    for verb in ("create", "delete", "deletecollection"):
        answer = cluster.kubectl(
            "auth", "can-i", verb, "servers.stratus.io", "-n", tenancy.a, f"--as={user}",
            check=False,
        ).stdout.strip()  # fmt: skip
        assert answer == ("yes" if verb in GRANTED[role] else "no"), (role, verb)


@pytest.mark.parametrize("role", GRANTED)
def test_real_requests_are_allowed_or_forbidden_as_the_role_says(
    cluster: Cluster, tenancy: Tenancy, role: str
) -> None:
    user = tenancy.people[role]

    def request(*args: str) -> bool:
        result = cluster.kubectl(*args, f"--as={user}", check=False)
        assert result.returncode == 0 or "Forbidden" in result.stderr, result.stderr
        return result.returncode == 0

    key_pair = stratus_object("KeyPair", f"k-{role}", {"publicKey": PUBLIC_KEY}, tenancy.a)
    create = ("create", "--dry-run=server", "-f", "-")
    for namespace, allowed in ((tenancy.a, GRANTED[role]), (tenancy.b, set())):
        assert request("get", "servers,networks,buckets", "-n", namespace) == ("list" in allowed)
        assert request("get", "network", "lan", "-n", namespace) == ("get" in allowed)
        manifest = key_pair.replace(tenancy.a, namespace)
        result = cluster.kubectl(*create, f"--as={user}", stdin=manifest, check=False)
        assert (result.returncode == 0) == ("create" in allowed), result.stderr
        deleted = request("delete", "network", "lan", "-n", namespace, "--dry-run=server")
        assert deleted == ("delete" in allowed)


@pytest.mark.parametrize("role", GRANTED)
def test_the_secrets_of_another_project_are_out_of_reach(
    cluster: Cluster, tenancy: Tenancy, role: str
) -> None:
    user = tenancy.people[role]
    for name in tenancy.secrets_of_b:
        got = cluster.kubectl("get", "secret", name, "-n", tenancy.b, f"--as={user}", check=False)
        assert got.returncode != 0 and "Forbidden" in got.stderr, (role, name)
    listed = cluster.kubectl("get", "secrets", "-n", tenancy.b, f"--as={user}", check=False)
    assert "Forbidden" in listed.stderr
    # Nor through what a member may read: the VM and its instance name the Secret, never
    # carry its content.
    machine = cluster.kubectl("get", "vm", "db", "-n", tenancy.b, f"--as={user}", check=False)
    assert "Forbidden" in machine.stderr


def test_no_secret_value_appears_in_a_log_an_event_or_a_status(
    cluster: Cluster, tenancy: Tenancy, operator: Operator
) -> None:
    values = [v for v in tenancy.secrets_of_b.values() if v]
    assert len(values) == 2
    events = cluster.kubectl("get", "events", "-n", tenancy.b, "-o", "json").stdout
    statuses = [
        json.dumps(item.get("status"))
        for kind in ("servers", "buckets", "keypairs", "vm", "vmi", "pods")
        for item in json.loads(cluster.kubectl("get", kind, "-n", tenancy.b, "-o", "json").stdout)[
            "items"
        ]
    ]
    assert len(statuses) >= 5
    # Debug lines (`--verbose`, which the chart never sets) carry Kopf's dumps of whole
    # objects, a Server's spec.userData among them; every other line counts.
    logs = {
        path.name: "\n".join(
            line for line in path.read_text().splitlines() if '"severity": "debug"' not in line
        )
        for path in cluster.state.logs.glob("*.log")
    }
    assert "operator.log" in logs and "audit.log" in logs
    for value in values:
        assert value not in events
        assert not any(value in status for status in statuses)
        assert not [name for name, text in logs.items() if value in text]


REACHING_INTO_B = {
    "Server/to-b-lan": (
        {"flavor": "{stem}-tiny", "image": "cirros", "networks": [{"network": "{b}/lan"}]},
        "NetworkNotVisible",
        "Network {b}/lan is not shared",
    ),
    "Server/from-b-image": (
        {"flavor": "{stem}-tiny", "image": "{b}/cirros"},
        "ImageNotVisible",
        "Image {b}/cirros is private and not shared with this Project",
    ),
    "Volume/from-b-image": (
        {"size": "1Gi", "source": {"image": "{b}/cirros"}},
        "ImageNotVisible",
        "Image {b}/cirros is private and not shared with this Project",
    ),
    "LoadBalancer/vip-in-b": (
        {"vip": {"network": "{b}/lan"}, "listeners": [{"port": 80}], "pool": {"members": ["x"]}},
        "NetworkNotVisible",
        "Network {b}/lan is not shared",
    ),
    "Router/gateway-in-b": (
        {"externalGateway": {"network": "{b}/lan"}},
        "NetworkNotExternal",
        "Network {b}/lan is not external",
    ),
    "FloatingIP/from-b": ({"network": "{b}/lan"}, "NetworkNotExternal", "Network {b}/lan"),
}
"""What A may write that names B's private objects, and the Ready=False it gets. (Volumes,
Snapshots, KeyPairs and groups of another Project cannot even be named: the API server refuses
a `<namespace>/` there, see tests/corpus/invalid.yaml.)"""


@pytest.mark.parametrize("target", REACHING_INTO_B)
def test_a_reference_to_another_projects_private_object_is_not_ready_and_makes_nothing(
    cluster: Cluster, tenancy: Tenancy, target: str
) -> None:
    kind, name = target.split("/")
    template, reason, message = REACHING_INTO_B[target]
    stem = tenancy.a.removesuffix("-a")
    spec = json.loads(json.dumps(template).replace("{b}", tenancy.b).replace("{stem}", stem))
    cluster.apply(stratus_object(kind, name, spec, tenancy.a))
    cluster.wait(
        f"{kind.lower()}/{name}",
        f"jsonpath={{.status.conditions[?(@.type=='Ready')].reason}}={reason}",
        tenancy.a,
    )
    found = cluster.get(kind.lower(), name, tenancy.a)
    assert found is not None
    ready = next(c for c in found["status"]["conditions"] if c["type"] == "Ready")
    expected = message.replace("{b}", tenancy.b)
    assert ready["status"] == "False" and expected in ready["message"], ready
    assert reason in cluster.event_reasons(name, tenancy.a)
    # Nothing was made for it: no child in A, no address taken on B's Network.
    children = cluster.kubectl(
        "get", "vm,datavolumes,pvc,services,secrets,pods", "-n", tenancy.a,
        "-l", f"stratus.io/kind={kind},stratus.io/name={name}", "-o", "name",
    ).stdout.split()  # fmt: skip
    assert children == []
    ports = json.loads(cluster.kubectl("get", "ports", "-n", tenancy.b, "-o", "json").stdout)
    holders = {port["spec"]["holder"] for port in ports["items"]}
    assert not any(holder.split("/")[1] == tenancy.a for holder in holders), holders
