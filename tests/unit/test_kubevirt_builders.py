"""What a Flavor becomes in KubeVirt, checked against KubeVirt's own schema."""

import jsonschema
import pytest

from stratus.api.flavor import FlavorSpec
from stratus.builders.kubevirt import build_cluster_instancetype
from stratus.builders.meta import Owner
from tests.conftest import UpstreamSchema

OWNER = Owner(kind="Flavor", name="m1.small", uid="abcd")


def test_flavor_becomes_a_cluster_instancetype_of_the_same_size() -> None:
    instancetype = build_cluster_instancetype(OWNER, FlavorSpec(vcpus=2, memory="4Gi"))
    assert instancetype["metadata"]["name"] == "m1.small"
    assert instancetype["spec"] == {"cpu": {"guest": 2}, "memory": {"guest": "4Gi"}}


def test_dedicated_cpu_asks_kubevirt_to_pin_vcpus() -> None:
    instancetype = build_cluster_instancetype(
        OWNER, FlavorSpec(vcpus=4, memory="8Gi", dedicated_cpu=True)
    )
    assert instancetype["spec"]["cpu"]["dedicatedCPUPlacement"] is True


def test_instancetype_passes_the_upstream_schema(upstream_schema: UpstreamSchema) -> None:
    schema = upstream_schema(
        "instancetype.kubevirt.io", "virtualmachineclusterinstancetype_v1beta1"
    )
    for spec in (
        FlavorSpec(vcpus=1, memory="512Mi"),
        FlavorSpec(vcpus=64, memory=1 << 34, dedicated_cpu=True),
    ):
        jsonschema.validate(build_cluster_instancetype(OWNER, spec), schema)


def test_a_misspelled_field_would_fail_the_upstream_schema(upstream_schema: UpstreamSchema) -> None:
    schema = upstream_schema(
        "instancetype.kubevirt.io", "virtualmachineclusterinstancetype_v1beta1"
    )
    broken = build_cluster_instancetype(OWNER, FlavorSpec(vcpus=1, memory="1Gi"))
    broken["spec"]["cpu"]["guests"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
