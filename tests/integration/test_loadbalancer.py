"""LoadBalancer against the local control plane: a Service of type LoadBalancer at its VIP,
whose endpoints are the members' pods, and follow them as they stop, start, turn unhealthy
or join; bad input is refused by the API server."""

import json
from typing import Any

import pytest

from tests.integration.conftest import Cluster, Operator, provision_tenant, stratus_object

LISTENERS = [{"protocol": "TCP", "port": 80, "targetPort": 8080}]


@pytest.fixture
def tenant(cluster: Cluster, operator: Operator, name: str) -> str:
    provision_tenant(cluster, name, {name: {"vcpus": 1, "memory": "1Gi"}}, cidr="10.80.0.0/24")
    return name


def server(name: str, namespace: str, **labels: str) -> str:
    return json.dumps(
        {
            "apiVersion": "stratus.io/v1alpha1",
            "kind": "Server",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"flavor": namespace, "image": "cirros"},
        }
    )


def load_balancer(name: str, namespace: str, **spec: Any) -> str:
    body = {
        "vip": {"network": "lan", "address": "10.80.0.200"},
        "listeners": LISTENERS,
        "pool": {"selector": {"app": "web"}},
        "healthMonitor": {"type": "HTTP", "path": "/healthz"},
    } | spec
    return stratus_object("LoadBalancer", name, body, namespace)


def members(cluster: Cluster, namespace: str) -> dict[str, str]:
    found = cluster.get("loadbalancer", "front", namespace) or {}
    return {m["name"]: m["operatingStatus"] for m in (found.get("status") or {}).get("members", [])}


def ready_endpoints(cluster: Cluster, namespace: str) -> list[str]:
    endpoints = cluster.get("endpointslice", "lb-front", namespace)
    return sorted(
        address
        for endpoint in (endpoints or {}).get("endpoints") or []
        if endpoint["conditions"]["ready"]
        for address in endpoint["addresses"]
    )


def pod_address(cluster: Cluster, name: str, namespace: str) -> str:
    instance = cluster.get("vmi", name, namespace)
    return next(i["ipAddress"] for i in instance["status"]["interfaces"] if i["name"] == "default")


def test_a_load_balancer_spreads_over_its_healthy_members(cluster: Cluster, tenant: str) -> None:
    for name in ("web-a", "web-b"):
        cluster.apply(server(name, tenant, app="web"))
    cluster.apply(server("other", tenant, app="db"))
    for name in ("web-a", "web-b"):
        cluster.wait(f"server/{name}", "condition=Ready", tenant, timeout=120)
    cluster.apply(load_balancer("front", tenant))
    cluster.wait("loadbalancer/front", "condition=Ready", tenant, timeout=90)
    cluster.wait_until(
        "both members online",
        lambda: members(cluster, tenant) == {"web-a": "ONLINE", "web-b": "ONLINE"},
    )
    status = cluster.get("loadbalancer", "front", tenant)["status"]
    assert (status["vipAddress"], status["operatingStatus"], status["service"]) == (
        "10.80.0.200", "ONLINE", "lb-front",
    )  # fmt: skip
    service = cluster.get("service", "lb-front", tenant)
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["loadBalancerIP"] == "10.80.0.200"
    assert (
        service["metadata"]["annotations"]["metallb.universe.tf/loadBalancerIPs"] == "10.80.0.200"
    )
    assert service["spec"]["ports"] == [
        {"name": "tcp-80", "protocol": "TCP", "port": 80, "targetPort": 8080,
         "nodePort": service["spec"]["ports"][0]["nodePort"]},
    ]  # fmt: skip
    assert "selector" not in service["spec"]
    addresses = {n: pod_address(cluster, n, tenant) for n in ("web-a", "web-b")}
    assert ready_endpoints(cluster, tenant) == sorted(addresses.values())
    port = cluster.get("port", "lan.10-80-0-200", tenant)
    assert port["spec"]["holder"] == f"LoadBalancer/{tenant}/front"

    # A member stopped leaves; started again, it is back.
    cluster.kubectl(
        "patch", "server", "web-b", "-n", tenant, "--type=merge",
        "-p", '{"spec": {"powerState": "Stopped"}}',
    )  # fmt: skip
    cluster.wait_until(
        "web-b to leave", lambda: ready_endpoints(cluster, tenant) == [addresses["web-a"]]
    )
    assert members(cluster, tenant)["web-b"] == "OFFLINE"
    assert cluster.get("loadbalancer", "front", tenant)["status"]["operatingStatus"] == "DEGRADED"
    cluster.kubectl(
        "patch", "server", "web-b", "-n", tenant, "--type=merge",
        "-p", '{"spec": {"powerState": "Running"}}',
    )  # fmt: skip
    cluster.wait_until(
        "web-b back", lambda: members(cluster, tenant) == {"web-a": "ONLINE", "web-b": "ONLINE"},
        timeout=120,
    )  # fmt: skip

    # A new Server the pool selects joins it.
    cluster.apply(server("web-c", tenant, app="web"))
    cluster.wait_until(
        "web-c to join", lambda: members(cluster, tenant).get("web-c") == "ONLINE", timeout=120
    )
    assert len(ready_endpoints(cluster, tenant)) == 3


def probe(cluster: Cluster, name: str, namespace: str) -> dict[str, Any] | None:
    machine = cluster.get("virtualmachine", name, namespace)
    assert machine is not None
    return machine["spec"]["template"]["spec"].get("readinessProbe")


def test_the_health_monitor_is_the_probe_of_every_member(cluster: Cluster, tenant: str) -> None:
    """KubeVirt runs the monitor as each member's readiness probe; it follows the monitor and
    the pool, and goes with the LoadBalancer."""
    cluster.apply(server("web-a", tenant, app="web") + "\n---\n" + server("db", tenant))
    cluster.wait_until(
        "both machines", lambda: all(cluster.get("vm", n, tenant) for n in ("web-a", "db"))
    )
    cluster.apply(load_balancer("front", tenant))
    http = {"httpGet": {"port": 8080, "path": "/healthz"}, "periodSeconds": 5,
            "timeoutSeconds": 3, "failureThreshold": 3}  # fmt: skip
    cluster.wait_until("web-a probed", lambda: probe(cluster, "web-a", tenant) == http)
    assert probe(cluster, "db", tenant) is None

    monitor = {"type": "TCP", "port": 8443, "delaySeconds": 2, "timeoutSeconds": 1}
    cluster.apply(load_balancer("front", tenant, healthMonitor=monitor))
    tcp = {"tcpSocket": {"port": 8443}, "periodSeconds": 2, "timeoutSeconds": 1,
           "failureThreshold": 3}  # fmt: skip
    cluster.wait_until("web-a probed by TCP", lambda: probe(cluster, "web-a", tenant) == tcp)
    cluster.kubectl("label", "server", "db", "app=web", "-n", tenant)
    cluster.wait_until("db probed once selected", lambda: probe(cluster, "db", tenant) == tcp)

    cluster.kubectl("delete", "loadbalancer", "front", "-n", tenant)
    for name in ("web-a", "db"):
        cluster.wait_until(f"{name} unprobed", lambda n=name: probe(cluster, n, tenant) is None)


def test_an_unhealthy_member_leaves_the_endpoints(cluster: Cluster, tenant: str) -> None:
    cluster.apply(server("sick", tenant, app="web"))
    cluster.wait("server/sick", "condition=Ready", tenant, timeout=120)
    cluster.apply(load_balancer("front", tenant, pool={"members": ["sick"]}))
    cluster.wait_until("sick online", lambda: members(cluster, tenant) == {"sick": "ONLINE"})
    # A guest failing its readiness probe: the launcher pod is not Ready, so neither is the
    # instance (KubeVirt's Ready follows the pod's, as the simulator plays it).
    [launcher] = json.loads(
        cluster.kubectl(
            "get", "pods", "-n", tenant, "-l", "kubevirt.io=virt-launcher,stratus.io/server=sick",
            "-o", "json",
        ).stdout
    )["items"]  # fmt: skip
    conditions = [
        c | {"status": "False"} if c["type"] in ("Ready", "ContainersReady") else c
        for c in launcher["status"]["conditions"]
    ]
    cluster.kubectl(
        "patch", "pod", launcher["metadata"]["name"], "-n", tenant, "--subresource=status",
        "--type=merge", "-p", json.dumps({"status": {"conditions": conditions}}),
    )  # fmt: skip
    cluster.wait_until("sick to fail", lambda: members(cluster, tenant) == {"sick": "ERROR"})
    assert ready_endpoints(cluster, tenant) == []
    assert cluster.get("loadbalancer", "front", tenant)["status"]["operatingStatus"] == "OFFLINE"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"listeners": []}, "should have at least 1 items"),
        ({"pool": {}}, "a pool names its members or selects them by label"),
        ({"healthMonitor": {"type": "TCP", "path": "/"}}, "path is for an HTTP health monitor"),
        ({"healthMonitor": {"delaySeconds": 2, "timeoutSeconds": 5}}, "timeoutSeconds exceeds"),
        ({"vip": {"address": "10.0.0.9"}}, "vip.address needs vip.network"),
        ({"listeners": [{"port": 80}, {"port": 80}]}, "Duplicate value"),
    ],
)
def test_bad_load_balancers_are_refused_by_the_api_server(
    cluster: Cluster, spec: dict[str, Any], message: str
) -> None:
    refused = cluster.apply(load_balancer("bad", "default", **spec), check=False)
    assert refused.returncode != 0
    assert message in refused.stderr, refused.stderr


def test_the_load_balancer_quota_is_refused_by_the_api_server(
    cluster: Cluster, operator: Operator, name: str
) -> None:
    provision_tenant(cluster, name, {}, quota={"loadBalancers": 1}, cidr="10.81.0.0/24")
    cluster.apply(load_balancer("one", name))
    refused = cluster.apply(load_balancer("two", name), check=False)
    assert "exceeded quota" in refused.stderr
    assert "count/loadbalancers.stratus.io" in refused.stderr
