"""What a Server asks of a node, sized as KubeVirt (or the Kata pod) will size its pod, so that
NoValidHost agrees with the scheduler."""

from stratus.api.server import ServerFlavor, ServerSpec
from stratus.builders.server import Placement
from stratus.config import settings
from stratus.core.units import amount
from stratus.placement import inventory
from stratus.placement.filters import Request


def placement_request(
    namespace: str, spec: ServerSpec, flavor: ServerFlavor, placement: Placement
) -> Request:
    memory = int(amount(flavor.memory))
    if spec.runtime == "kata" or flavor.dedicated_cpu:
        cpu = flavor.vcpus * 1000
    else:
        cpu = flavor.vcpus * 1000 // settings().placement.cpu_allocation_ratio
    if spec.runtime == "vm":
        memory += int(amount(settings().placement.vm_memory_overhead))
    hosts: frozenset[str] = frozenset()
    if placement.group:
        hosts = inventory.current().group_hosts(namespace, placement.group)
    return Request(cpu, memory, placement.zone, placement.policy, hosts)
