"""Flavor against the local control plane: it becomes a KubeVirt cluster instancetype."""

from typing import Any

import jsonschema
import pytest

from tests.conftest import UpstreamSchema
from tests.integration.conftest import Cluster, Operator, stratus_object


def flavor(name: str, **spec: Any) -> str:
    return stratus_object("Flavor", name, spec)


def test_flavor_becomes_an_instancetype_that_kubevirt_accepts(
    cluster: Cluster, operator: Operator, name: str, upstream_schema: UpstreamSchema
) -> None:
    cluster.apply(flavor(name, vcpus=4, memory="8Gi", disk="40Gi", dedicatedCpu=True))
    cluster.wait(f"flavor/{name}", "condition=Ready")
    assert cluster.get("flavor", name)["status"]["instancetype"] == name
    instancetype = cluster.get("virtualmachineclusterinstancetype", name)
    assert instancetype["spec"] == {
        "cpu": {"guest": 4, "dedicatedCPUPlacement": True},
        "memory": {"guest": "8Gi"},
    }
    assert instancetype["metadata"]["labels"]["stratus.io/kind"] == "Flavor"
    schema = upstream_schema(
        "instancetype.kubevirt.io", "virtualmachineclusterinstancetype_v1beta1"
    )
    jsonschema.validate(instancetype, schema)


def test_deleting_a_flavor_removes_its_instancetype(
    cluster: Cluster, operator: Operator, name: str
) -> None:
    cluster.apply(flavor(name, vcpus=1, memory="1Gi"))
    cluster.wait(f"flavor/{name}", "condition=Ready")
    cluster.kubectl("delete", "flavor", name)
    cluster.wait_until(
        "the garbage collector to remove the instancetype",
        lambda: cluster.get("virtualmachineclusterinstancetype", name) is None,
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"vcpus": 0, "memory": "1Gi"}, "should be greater than or equal to 1"),
        ({"vcpus": 1, "memory": "-1Gi"}, "must not be negative"),
        ({"vcpus": 1, "memory": "big"}, "must be a Kubernetes quantity"),
        ({"memory": "1Gi"}, "spec.vcpus: Required value"),
        ({"vcpus": 1, "memory": "1Gi", "projects": ["acme"]}, "set public: false to use it"),
    ],
)
def test_invalid_flavor_is_refused_by_the_api_server(
    cluster: Cluster, name: str, spec: dict[str, Any], message: str
) -> None:
    result = cluster.apply(flavor(name, **spec), check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_flavor_size_is_immutable_but_access_is_not(
    cluster: Cluster, operator: Operator, name: str
) -> None:
    cluster.apply(flavor(name, vcpus=2, memory="2Gi"))
    resized = cluster.apply(flavor(name, vcpus=4, memory="2Gi"), check=False)
    assert "vcpus is immutable" in resized.stderr
    regrown = cluster.apply(flavor(name, vcpus=2, memory="4Gi"), check=False)
    assert "memory is immutable" in regrown.stderr
    restricted = cluster.apply(
        flavor(name, vcpus=2, memory="2Gi", public=False, projects=["acme"]), check=False
    )
    assert restricted.returncode == 0, restricted.stderr


def test_a_deleted_instancetype_is_restored(
    cluster: Cluster, operator: Operator, name: str
) -> None:
    cluster.apply(flavor(name, vcpus=2, memory="2Gi"))
    cluster.wait(f"flavor/{name}", "condition=Ready")
    first = cluster.get("virtualmachineclusterinstancetype", name)["metadata"]["uid"]
    cluster.kubectl("delete", "virtualmachineclusterinstancetype", name)
    cluster.wait_until(
        "a new instancetype",
        lambda: (
            (
                cluster.get("virtualmachineclusterinstancetype", name)
                or {"metadata": {"uid": first}}
            )["metadata"]["uid"]
            != first
        ),
    )
