"""Router and FloatingIP against the local control plane: a Router's Pod sits at its Networks'
gateways, placed by the real scheduler; what Neutron refuses is refused; floating IPs come
from an external Network's pool, never twice, and reach a Server through the Router."""

import ipaddress
import json
import time
from dataclasses import dataclass
from typing import Any

import pytest

from tests.integration.conftest import Cluster, Operator, provision_tenant, stratus_object

REASON = "jsonpath={{.status.conditions[?(@.type=='Ready')].reason}}={}"


@dataclass(frozen=True)
class Site:
    """A tenant with Networks lan (10.30.0.0/24) and app (10.31.0.0/24), and an administrator's
    external Network whose pool holds eight addresses."""

    tenant: str
    external: str
    """<namespace>/<name> of the external Network."""


def network(name: str, namespace: str, cidr: str, **spec: Any) -> str:
    gateway = str(next(ipaddress.ip_network(cidr).hosts()))
    subnet = {"cidr": cidr, "gateway": gateway} | spec.pop("subnet", {})
    return stratus_object(
        "Network", name, {"hostInterface": "br1", "subnet": subnet, **spec}, namespace
    )


@pytest.fixture
def site(cluster: Cluster, operator: Operator, name: str) -> Site:
    provision_tenant(
        cluster, name, {name: {"vcpus": 1, "memory": "1Gi"}}, cidr="10.30.0.0/24",
        members=[{"name": "alice", "role": "admin"}],
    )  # fmt: skip
    cluster.apply(network("app", name, "10.31.0.0/24"))
    outside = f"{name}-public"
    cluster.kubectl("create", "namespace", outside)
    pool = {"allocationPools": [{"start": "203.0.113.10", "end": "203.0.113.17"}]}
    cluster.apply(network("ext", outside, "203.0.113.0/24", subnet=pool, external=True))
    for where, what in ((name, "network/app"), (outside, "network/ext")):
        cluster.wait(what, "condition=Ready", where)
    return Site(name, f"{outside}/ext")


def router(name: str, site: Site, interfaces: list[str], gateway: bool = True) -> str:
    spec: dict[str, Any] = {"interfaces": [{"network": n} for n in interfaces]}
    if gateway:
        spec["externalGateway"] = {"network": site.external}
    return stratus_object("Router", name, spec, site.tenant)


def floating_ip(name: str, site: Site, **spec: Any) -> str:
    return stratus_object("FloatingIP", name, {"network": site.external, **spec}, site.tenant)


def rules(cluster: Cluster, router_name: str, namespace: str) -> list[str]:
    found = cluster.get("configmap", f"router-{router_name}", namespace)
    assert found is not None
    return str(found["data"]["rules.v4"]).splitlines()


def test_a_router_sits_at_the_gateways_of_its_networks_and_leads_outside(
    cluster: Cluster, site: Site
) -> None:
    cluster.apply(router("edge", site, ["lan", "app"]))
    cluster.wait("router/edge", "condition=Ready", site.tenant, timeout=120)
    status = cluster.get("router", "edge", site.tenant)["status"]
    assert status["interfaces"] == [
        {"network": "lan", "address": "10.30.0.1"},
        {"network": "app", "address": "10.31.0.1"},
    ]
    outside = status["externalAddress"]
    assert ipaddress.ip_address("203.0.113.10") <= ipaddress.ip_address(outside)
    pod = cluster.get("pod", "router-edge", site.tenant)
    assert pod["spec"]["nodeName"] in ("node-1", "node-2", "node-3")  # the scheduler placed it
    selections = json.loads(pod["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"])
    assert [(s["name"], s["ips"]) for s in selections] == [
        ("lan", ["10.30.0.1/24"]),
        ("app", ["10.31.0.1/24"]),
        ("ext", [f"{outside}/24"]),
    ]
    assert f"-A POSTROUTING -s 10.30.0.0/24 -o ext0 -j SNAT --to-source {outside}" in rules(
        cluster, "edge", site.tenant
    )
    # The gateways are Ports the Router holds: no Server can take them.
    port = cluster.get("port", "lan.10-30-0-1", site.tenant)
    assert port["spec"]["holder"] == f"Router/{site.tenant}/edge"

    # A Network left out: its gateway is released and the Pod replaced with one interface less.
    cluster.apply(router("edge", site, ["lan"]))
    cluster.wait_until(
        "the app gateway released",
        lambda: cluster.get("port", "app.10-31-0-1", site.tenant) is None,
    )

    def one_network_less() -> bool:
        found = cluster.get("pod", "router-edge", site.tenant)
        selection = (found or {}).get("metadata", {}).get("annotations", {})
        return "app" not in selection.get("k8s.v1.cni.cncf.io/networks", "app")

    cluster.wait_until("a Pod without the app Network", one_network_less, timeout=90)
    cluster.wait("router/edge", "condition=Ready", site.tenant, timeout=120)


def test_what_neutron_refuses_a_router_is_refused(cluster: Cluster, site: Site) -> None:
    cluster.apply(router("first", site, ["lan"], gateway=False))
    cluster.wait("router/first", "condition=Ready", site.tenant, timeout=120)
    cluster.apply(router("second", site, ["lan"], gateway=False))
    cluster.wait("router/second", REASON.format("GatewayInUse"), site.tenant)
    message = cluster.get("router", "second", site.tenant)["status"]["conditions"]
    assert any(f"held by Router/{site.tenant}/first" in c["message"] for c in message)

    cluster.apply(network("overlap", site.tenant, "10.31.0.128/25"))
    cluster.wait("network/overlap", "condition=Ready", site.tenant)
    cluster.apply(router("crossed", site, ["app", "overlap"], gateway=False))
    cluster.wait("router/crossed", REASON.format("OverlappingSubnets"), site.tenant)

    cluster.apply(
        stratus_object(
            "Network", "flat", {"hostInterface": "br1", "subnet": {"cidr": "10.32.0.0/24"}},
            site.tenant,
        )
    )  # fmt: skip
    cluster.wait("network/flat", "condition=Ready", site.tenant)
    cluster.apply(router("gatewayless", site, ["flat"], gateway=False))
    cluster.wait("router/gatewayless", REASON.format("NoGateway"), site.tenant)

    cluster.apply(
        stratus_object("Router", "inside-out", {"externalGateway": {"network": "lan"}}, site.tenant)
    )
    cluster.wait("router/inside-out", REASON.format("NetworkNotExternal"), site.tenant)


def test_a_floating_ip_reaches_its_server_through_the_router(cluster: Cluster, site: Site) -> None:
    server = {"flavor": site.tenant, "image": "cirros", "networks": [{"network": "lan"}]}
    cluster.apply(stratus_object("Server", "web", server, site.tenant))
    cluster.apply(floating_ip("public-web", site, server="web"))
    cluster.wait(
        "floatingip/public-web", REASON.format("NoRouterToServer"), site.tenant, timeout=90
    )
    waiting = cluster.get("floatingip", "public-web", site.tenant)["status"]
    assert waiting["phase"] == "Down" and waiting["address"]  # the address is kept meanwhile

    cluster.apply(router("edge", site, ["lan"]))
    cluster.wait("floatingip/public-web", "condition=Ready", site.tenant, timeout=120)
    status = cluster.get("floatingip", "public-web", site.tenant)["status"]
    fixed = cluster.get("server", "web", site.tenant)["status"]["addresses"]["lan"][0]
    assert (status["phase"], status["server"], status["fixedAddress"], status["router"]) == (
        "Active", "web", fixed, "edge",
    )  # fmt: skip
    address = status["address"]
    dnat = f"-A PREROUTING -d {address}/32 -j DNAT --to-destination {fixed}"
    cluster.wait_until(
        "the Router to translate it", lambda: dnat in rules(cluster, "edge", site.tenant)
    )
    external_port = cluster.get(
        "port", f"ext.{address.replace('.', '-')}", site.external.split("/")[0]
    )
    assert external_port["spec"]["holder"] == f"FloatingIP/{site.tenant}/public-web"

    cluster.kubectl(
        "patch", "floatingip", "public-web", "-n", site.tenant, "--type=json",
        "-p", '[{"op": "remove", "path": "/spec/server"}]',
    )  # fmt: skip
    cluster.wait("floatingip/public-web", "jsonpath={.status.phase}=Down", site.tenant)
    cluster.wait_until(
        "the Router to forget it", lambda: dnat not in rules(cluster, "edge", site.tenant)
    )
    assert cluster.get("floatingip", "public-web", site.tenant)["status"]["address"] == address


def test_port_forwardings_reach_a_server_on_the_pod_network(cluster: Cluster, site: Site) -> None:
    """No Router needed: a Service at the floating IP forwards the listed ports to the Server's
    pod, and the real endpoint controller finds that pod behind it."""
    server = {"flavor": site.tenant, "image": "cirros"}
    cluster.apply(stratus_object("Server", "pod-web", server, site.tenant))
    forwardings = [
        {"externalPort": 443, "internalPort": 8443},
        {"protocol": "UDP", "externalPort": 53},
    ]
    cluster.apply(floating_ip("pod-web", site, server="pod-web", portForwardings=forwardings))
    cluster.wait("floatingip/pod-web", "condition=Ready", site.tenant, timeout=90)
    status = cluster.get("floatingip", "pod-web", site.tenant)["status"]
    assert (status["phase"], status["server"], status["service"]) == (
        "Active", "pod-web", "fip-pod-web",
    )  # fmt: skip
    service = cluster.get("service", "fip-pod-web", site.tenant)["spec"]
    assert (service["type"], service["loadBalancerIP"], service["externalTrafficPolicy"]) == (
        "LoadBalancer", status["address"], "Local",
    )  # fmt: skip
    assert service["selector"] == {"stratus.io/server": "pod-web"}
    assert [(p["protocol"], p["port"], p["targetPort"]) for p in service["ports"]] == [
        ("TCP", 443, 8443),
        ("UDP", 53, 53),
    ]
    cluster.wait("server/pod-web", "condition=Ready", site.tenant, timeout=120)
    [launcher] = json.loads(
        cluster.kubectl(
            "get", "pods", "-n", site.tenant, "-l", "stratus.io/server=pod-web", "-o", "json"
        ).stdout
    )["items"]  # fmt: skip

    def endpoints() -> list[str]:
        slices = json.loads(
            cluster.kubectl(
                "get", "endpointslices", "-n", site.tenant,
                "-l", "kubernetes.io/service-name=fip-pod-web", "-o", "json",
            ).stdout
        )["items"]  # fmt: skip
        return [a for s in slices for e in s.get("endpoints") or [] for a in e["addresses"]]

    cluster.wait_until(
        "the Server's pod behind the Service",
        lambda: endpoints() == [launcher["status"]["podIP"]],
    )

    cluster.kubectl(
        "patch", "floatingip", "pod-web", "-n", site.tenant, "--type=json",
        "-p", '[{"op": "remove", "path": "/spec/portForwardings"}]',
    )  # fmt: skip
    cluster.wait("floatingip/pod-web", REASON.format("NoRouterToServer"), site.tenant)
    assert cluster.get("service", "fip-pod-web", site.tenant) is None
    refused = cluster.apply(
        floating_ip("twice", site, portForwardings=[{"externalPort": 80}, {"externalPort": 80}]),
        check=False,
    )
    assert refused.returncode != 0 and "Duplicate value" in refused.stderr


def test_floating_ips_never_collide_and_an_empty_pool_is_said(cluster: Cluster, site: Site) -> None:
    """Twelve FloatingIPs at once from a pool of eight: eight distinct addresses, four told
    NoMoreFloatingIps; one released, one of the four gets it."""
    names = [f"burst-{i}" for i in range(12)]
    cluster.apply("\n---\n".join(floating_ip(n, site) for n in names))

    def settled() -> dict[str, dict[str, Any]] | None:
        found = {n: cluster.get("floatingip", n, site.tenant) for n in names}
        ready = [(f.get("status") or {}).get("conditions") for f in found.values() if f is not None]
        return found if all(ready) and len(ready) == 12 else None

    found = cluster.wait_until("all twelve to be decided", settled, timeout=120)
    time.sleep(2)  # late passes would show as a changed count below
    found = {n: cluster.get("floatingip", n, site.tenant) for n in names}
    held = [f["status"].get("address") for f in found.values() if f["status"]["phase"] == "Down"]
    held = [a for a in held if a]
    refused = [n for n, f in found.items() if not f["status"].get("address")]
    assert len(held) == 8 and len(set(held)) == 8, held
    assert len(refused) == 4
    for name in refused:
        reason = next(c for c in found[name]["status"]["conditions"] if c["type"] == "Ready")
        assert reason["reason"] == "NoMoreFloatingIps"
    holder = next(n for n, f in found.items() if f["status"].get("address"))
    cluster.kubectl("delete", "floatingip", holder, "-n", site.tenant)
    cluster.wait_until(
        "a waiting FloatingIP to get the freed address",
        lambda: any(
            (cluster.get("floatingip", n, site.tenant) or {}).get("status", {}).get("address")
            for n in refused
        ),
        timeout=150,
    )


def test_a_fixed_floating_ip_taken_twice_is_refused(cluster: Cluster, site: Site) -> None:
    cluster.apply(floating_ip("first", site, address="203.0.113.12"))
    cluster.wait("floatingip/first", "condition=Ready", site.tenant)
    cluster.apply(floating_ip("second", site, address="203.0.113.12"))
    cluster.wait("floatingip/second", REASON.format("FloatingIpInUse"), site.tenant)


def test_the_floating_ip_quota_is_refused_by_the_api_server(
    cluster: Cluster, operator: Operator, name: str
) -> None:
    provision_tenant(cluster, name, {}, quota={"floatingIps": 1}, cidr="10.33.0.0/24")
    first = cluster.apply(stratus_object("FloatingIP", "a", {"network": "x/ext"}, name))
    assert first.returncode == 0
    refused = cluster.apply(
        stratus_object("FloatingIP", "b", {"network": "x/ext"}, name), check=False
    )
    assert "exceeded quota" in refused.stderr and "count/floatingips.stratus.io" in refused.stderr


def test_only_administrators_make_a_network_external(cluster: Cluster, site: Site) -> None:
    refused = cluster.kubectl(
        "apply", "--as=alice", "-f", "-", check=False,
        stdin=network("mine", site.tenant, "10.34.0.0/24", external=True),
    )  # fmt: skip
    assert "only cluster administrators may make a Network external" in refused.stderr
    cluster.apply(network("internal", site.tenant, "10.35.0.0/24"))
    turned = cluster.apply(
        network("internal", site.tenant, "10.35.0.0/24", external=True), check=False
    )
    assert "external is immutable" in turned.stderr


def test_networks_and_the_gateway_taken_away_give_their_addresses_back(
    cluster: Cluster, site: Site
) -> None:
    cluster.apply(router("edge", site, ["lan", "app"]))
    cluster.wait("router/edge", "condition=Ready", site.tenant, timeout=120)
    outside = cluster.get("router", "edge", site.tenant)["status"]["externalAddress"]
    external_port = f"ext.{outside.replace('.', '-')}"
    external_namespace = site.external.split("/")[0]
    assert cluster.get("port", external_port, external_namespace) is not None

    cluster.apply(router("edge", site, ["app"], gateway=False))  # the first Network, and outside
    cluster.wait_until(
        "lan's gateway and the external address released",
        lambda: (
            cluster.get("port", "lan.10-30-0-1", site.tenant) is None
            and cluster.get("port", external_port, external_namespace) is None
        ),
    )
    assert cluster.get("port", "app.10-31-0-1", site.tenant) is not None
    cluster.wait("router/edge", "condition=Ready", site.tenant, timeout=120)
    status = cluster.get("router", "edge", site.tenant)["status"]
    assert status["interfaces"] == [{"network": "app", "address": "10.31.0.1"}]
    assert status.get("externalAddress") is None
