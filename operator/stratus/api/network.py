"""Network: a Neutron network and its subnet, with Stratus's own address management."""

from typing import Literal

from pydantic import ConfigDict, Field

from stratus.api.common import Model, Status, immutable, rule, validations
from stratus.api.crd import PHASE_COLUMN, READY_COLUMN, Kind, PrinterColumn

IP_MAX_LENGTH = 45
CIDR_MAX_LENGTH = 49
IS_IP = validations(rule("isIP(self) && ip.isCanonical(self)", "must be a canonical IP address"))


class AllocationPool(Model):
    """An inclusive range of addresses handed to Server interfaces."""

    start: str = Field(
        max_length=IP_MAX_LENGTH,
        description="First address.",
        json_schema_extra=IS_IP,
    )
    end: str = Field(
        max_length=IP_MAX_LENGTH,
        description="Last address.",
        json_schema_extra=IS_IP,
    )


class Subnet(Model):
    model_config = Model.model_config | ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.gateway) || cidr(self.cidr).containsIP(self.gateway)",
                    "message": "gateway must lie inside cidr",
                },
                {
                    "rule": "!has(self.allocationPools) || self.allocationPools.all(p, "
                    "cidr(self.cidr).containsIP(p.start) && cidr(self.cidr).containsIP(p.end))",
                    "message": "every allocation pool must lie inside cidr",
                },
                {
                    "rule": "!has(self.dnsNameservers) || self.dnsNameservers.all(n, isIP(n))",
                    "message": "dnsNameservers must be IP addresses",
                },
            ]
        }
    )

    cidr: str = Field(
        max_length=CIDR_MAX_LENGTH,
        description="The subnet, IPv4 or IPv6, for example 10.10.0.0/24. It may change only "
        "while no port is allocated.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "isCIDR(self)", "message": "cidr must be a CIDR such as 10.10.0.0/24"},
                {
                    "rule": "!isCIDR(self) || cidr(self) == cidr(self).masked()",
                    "message": "cidr has host bits set: use the network address",
                },
            ]
        },
    )
    gateway: str | None = Field(
        default=None,
        max_length=IP_MAX_LENGTH,
        description="The gateway address; never allocated to a Server.",
        json_schema_extra=IS_IP,
    )
    allocation_pools: list[AllocationPool] = Field(
        default_factory=list,
        max_length=64,
        description="Ranges Server addresses come from; default: the whole subnet less the "
        "network, broadcast and gateway addresses. Pools must not overlap.",
    )
    dns_nameservers: list[str] = Field(
        default_factory=list,
        max_length=8,
        description="DNS servers given to Servers through cloud-init.",
        json_schema_extra={"items": {"type": "string", "maxLength": IP_MAX_LENGTH}},
    )


class NetworkSpec(Model):
    model_config = Model.model_config | ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.mtu) || !isCIDR(self.subnet.cidr)"
                    " || cidr(self.subnet.cidr).ip().family() == 4"
                    " || self.mtu >= 1280",
                    "message": "an IPv6 network needs an mtu of at least 1280",
                }
            ]
        }
    )

    type: Literal["bridge", "macvlan", "ipvlan"] = Field(
        default="bridge",
        description="The CNI plugin that attaches interfaces: bridge, macvlan or ipvlan.",
    )
    host_interface: str = Field(
        pattern=r"^[A-Za-z0-9_.-]{1,15}$",
        description="The Linux bridge (type bridge) or host NIC (macvlan, ipvlan) to attach to.",
    )
    vlan: int | None = Field(default=None, ge=1, le=4094, description="802.1Q VLAN ID.")
    mtu: int | None = Field(default=None, ge=576, le=9216, description="Interface MTU.")
    subnet: Subnet = Field(description="The subnet Stratus allocates addresses from.")
    shared: bool = Field(
        default=False,
        description="true: Servers of other Projects may attach. Only cluster administrators "
        "may share a Network.",
    )
    external: bool = Field(
        default=False,
        description="true: a provider network every Project may reach the outside through, as "
        "a Router's gateway and the pool of FloatingIPs. Only cluster administrators may make "
        "a Network external. Immutable.",
        json_schema_extra=validations(immutable("external")),
    )


class PortCounts(Model):
    allocated: int = Field(default=0, description="Addresses held by Server interfaces.")
    available: int = Field(default=0, description="Addresses still free in the pools.")


class NetworkStatus(Status):
    network_attachment_definition: str | None = Field(
        default=None, description="The Multus NetworkAttachmentDefinition this Network became."
    )
    ports: PortCounts | None = Field(default=None, description="Address usage.")


NETWORK = Kind(
    kind="Network",
    plural="networks",
    scope="Namespaced",
    short_names=("net",),
    spec=NetworkSpec,
    status=NetworkStatus,
    description="A Neutron network and subnet: a Multus attachment with Stratus IPAM.",
    columns=(
        PrinterColumn("Type", ".spec.type"),
        PrinterColumn("CIDR", ".spec.subnet.cidr"),
        PrinterColumn("Allocated", ".status.ports.allocated", "integer"),
        PrinterColumn("Available", ".status.ports.available", "integer"),
        PrinterColumn("Shared", ".spec.shared", "boolean", priority=1),
        PHASE_COLUMN,
        READY_COLUMN,
    ),
    rules=(
        {
            "rule": "self.spec.subnet.cidr == oldSelf.spec.subnet.cidr || !has(oldSelf.status)"
            " || !has(oldSelf.status.ports) || oldSelf.status.ports.allocated == 0",
            "message": "subnet.cidr cannot change while ports are allocated",
        },
    ),
)
