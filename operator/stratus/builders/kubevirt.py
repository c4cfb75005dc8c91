"""What Stratus objects become in KubeVirt's API."""

from stratus.api.flavor import FlavorSpec
from stratus.builders.meta import Manifest, Owner, child

INSTANCETYPE_API_VERSION = "instancetype.kubevirt.io/v1beta1"


def build_cluster_instancetype(owner: Owner, flavor: FlavorSpec) -> Manifest:
    """A Flavor as a VirtualMachineClusterInstancetype of the same name."""
    instancetype = child(
        INSTANCETYPE_API_VERSION, "VirtualMachineClusterInstancetype", owner.name, owner
    )
    cpu: Manifest = {"guest": flavor.vcpus}
    if flavor.dedicated_cpu:
        cpu["dedicatedCPUPlacement"] = True
    instancetype["spec"] = {"cpu": cpu, "memory": {"guest": str(flavor.memory)}}
    return instancetype
