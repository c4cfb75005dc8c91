"""What a GitOps pipeline reads: kstatus's conditions, a spec Stratus never writes, and the
Argo CD health check shipped in gitops/, run on real objects of the local cluster."""

import copy
import json
from typing import Any

import pytest
import yaml

from stratus.api import KINDS
from tests.integration.conftest import PUBLIC_KEY, REPO, Cluster, Operator, stratus_object

lupa = pytest.importorskip("lupa")
HEALTH = yaml.safe_load((REPO / "gitops" / "argocd-cm-health.yaml").read_text())["data"]
KEY = "resource.customizations.health.stratus.io_{}"
# What is Stratus's own on a user's object: Kopf's bookkeeping and status, never spec.
OPERATOR_MANAGERS = ("kopf", "stratus")


def argo_health(obj: dict[str, Any]) -> tuple[str, str]:
    """Argo CD's verdict: the shipped Lua script run on the object, as Argo CD runs it."""
    runtime = lupa.LuaRuntime()
    runtime.globals().obj = runtime.table_from(obj, recursive=True)
    verdict = runtime.execute(HEALTH[KEY.format(obj["kind"])])
    return str(verdict["status"]), str(verdict["message"])


def test_every_kind_has_the_one_health_check() -> None:
    scripts = {KEY.format(kind.kind): HEALTH.get(KEY.format(kind.kind)) for kind in KINDS}
    assert None not in scripts.values()
    assert len(set(scripts.values())) == 1


@pytest.fixture
def objects(cluster: Cluster, operator: Operator, name: str) -> dict[str, dict[str, Any]]:
    """A Ready Project and KeyPair, a Server still waiting for its Image, one no node holds."""
    cluster.apply(
        "\n---\n".join(
            [
                stratus_object("Project", name, {"deletionPolicy": "Cascade"}),
                stratus_object("Flavor", f"{name}-huge", {"vcpus": 2, "memory": "900Gi"}),
            ]
        )
    )
    cluster.wait(f"project/{name}", "condition=Ready", timeout=90)
    cluster.apply(
        "\n---\n".join(
            [
                stratus_object("KeyPair", "key", {"publicKey": PUBLIC_KEY}, name),
                stratus_object(
                    "Image", "os", {"source": {"registry": "docker://e.org/os:1"}}, name
                ),
                stratus_object(
                    "Server", "waiting", {"flavor": f"{name}-huge", "image": "none"}, name
                ),
                stratus_object(
                    "Server", "nowhere", {"flavor": f"{name}-huge", "image": "os"}, name
                ),
            ]
        )
    )
    cluster.wait("keypair/key", "condition=Ready", name)
    cluster.wait("server/waiting", "condition=Reconciling", name)
    cluster.wait("server/nowhere", "condition=Stalled", name)
    found = {
        "project": cluster.get("project", name),
        "keypair": cluster.get("keypair", "key", name),
        "waiting": cluster.get("server", "waiting", name),
        "nowhere": cluster.get("server", "nowhere", name),
    }
    return {k: v for k, v in found.items() if v is not None}


def test_argo_cd_reads_ready_as_healthy_stalled_as_degraded_and_the_rest_as_progressing(
    objects: dict[str, dict[str, Any]],
) -> None:
    assert argo_health(objects["project"])[0] == "Healthy"
    assert argo_health(objects["keypair"])[0] == "Healthy"
    status, message = argo_health(objects["waiting"])
    assert (status, message.split(":")[0]) == ("Progressing", "ImageNotFound")
    status, message = argo_health(objects["nowhere"])
    assert status == "Degraded" and message.startswith("NoValidHost: No valid host")
    unobserved = copy.deepcopy(objects["keypair"])
    unobserved["metadata"]["generation"] += 1
    assert argo_health(unobserved) == (
        "Progressing",
        f"generation {unobserved['metadata']['generation']} is not observed yet",
    )
    assert argo_health({"kind": "Server", "metadata": {"generation": 1}})[0] == "Progressing"


def test_kstatus_conditions_say_working_or_stuck_and_ready_never_both(
    objects: dict[str, dict[str, Any]],
) -> None:
    def states(obj: dict[str, Any]) -> dict[str, str]:
        """kstatus's conditions; a kind's own phase conditions (QuotaAdmitted, ...) aside."""
        kstatus = ("Ready", "Reconciling", "Stalled")
        return {c["type"]: c["status"] for c in obj["status"]["conditions"] if c["type"] in kstatus}

    assert states(objects["keypair"]) == {
        "Ready": "True",
        "Reconciling": "False",
        "Stalled": "False",
    }
    assert states(objects["waiting"]) == {
        "Ready": "False",
        "Reconciling": "True",
        "Stalled": "False",
    }
    assert states(objects["nowhere"]) == {
        "Ready": "False",
        "Reconciling": "False",
        "Stalled": "True",
    }
    for obj in objects.values():
        assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]


def test_stratus_never_writes_a_users_spec(
    cluster: Cluster, objects: dict[str, dict[str, Any]]
) -> None:
    for obj in objects.values():
        metadata = obj["metadata"]
        where = ["-n", metadata["namespace"]] if metadata.get("namespace") else []
        shown = cluster.kubectl(
            "get",
            obj["kind"].lower(),
            metadata["name"],
            *where,
            "-o",
            "json",
            "--show-managed-fields",
        )
        managed = json.loads(shown.stdout)["metadata"]["managedFields"]
        assert any(entry["manager"].startswith(OPERATOR_MANAGERS) for entry in managed)
        for entry in managed:
            if entry["manager"].startswith(OPERATOR_MANAGERS):
                assert "f:spec" not in (entry.get("fieldsV1") or {}), (obj["kind"], entry)
