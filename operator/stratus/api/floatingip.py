"""FloatingIP: an address of an external Network, kept by a Project and pointed at one of its
Servers, which the Project's Router translates to the Server's own address, or whose chosen
ports a Service forwards to the Server on the pod network."""

from typing import Literal

from pydantic import ConfigDict, Field

from stratus.api.common import DNS_SUBDOMAIN_PATTERN, Model, Status, immutable, rule, validations
from stratus.api.crd import PHASE_COLUMN, READY_COLUMN, Kind, PrinterColumn
from stratus.api.volume import REFERENCE

IP_RULES = validations(rule("isIP(self)", "must be an IP address"))


class PortForwarding(Model):
    protocol: Literal["TCP", "UDP"] = Field(default="TCP", description="TCP or UDP.")
    external_port: int = Field(ge=1, le=65535, description="The port on the floating IP.")
    internal_port: int | None = Field(
        default=None, ge=1, le=65535, description="The Server's port; default: externalPort."
    )


class FloatingIPSpec(Model):
    model_config = Model.model_config | ConfigDict(
        json_schema_extra=validations(
            rule(
                "!has(self.fixedAddress) || has(self.server)",
                "fixedAddress chooses among a server's addresses: name the server too",
            ),
            rule(
                "has(self.address) == has(oldSelf.address)",
                "address is immutable: release the FloatingIP and allocate another",
            ),
        )
    )

    network: str = Field(
        description="The external Network (<namespace>/<name>) whose pool the address comes "
        "from. Immutable.",
        json_schema_extra={**REFERENCE, **validations(immutable("network"))},
    )
    address: str | None = Field(
        default=None,
        max_length=45,
        description="A particular address of the pool; default: the first free one. Immutable.",
        json_schema_extra={**IP_RULES, **validations(immutable("address"))},
    )
    server: str | None = Field(
        default=None,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="The Server of this Project to associate with; none: allocated, unused. "
        "Change it to re-associate, remove it to disassociate.",
    )
    fixed_address: str | None = Field(
        default=None,
        max_length=45,
        description="Which of the Server's addresses to reach; default: its first on a Network "
        "that a Router with this external gateway joins.",
        json_schema_extra=IP_RULES,
    )
    port_forwardings: list[PortForwarding] = Field(
        default_factory=list,
        max_length=64,
        description="Neutron's floating IP port forwardings: only these ports reach the Server, "
        "on its pod network, through a Kubernetes Service at the floating IP; none: the whole "
        "address reaches it through a Router.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["protocol", "externalPort"],
        },
    )


class FloatingIPStatus(Status):
    address: str | None = Field(default=None, description="The allocated address.")
    server: str | None = Field(default=None, description="The Server it points at.")
    fixed_address: str | None = Field(default=None, description="The Server's address.")
    router: str | None = Field(default=None, description="The Router that translates it.")
    service: str | None = Field(
        default=None, description="The Service that forwards its ports (portForwardings)."
    )


FLOATING_IP = Kind(
    kind="FloatingIP",
    plural="floatingips",
    scope="Namespaced",
    short_names=("fip",),
    spec=FloatingIPSpec,
    status=FloatingIPStatus,
    description="A Neutron floating IP: an external address pointed at a Server.",
    columns=(
        PrinterColumn("Address", ".status.address"),
        PrinterColumn("Server", ".status.server"),
        PrinterColumn("Fixed IP", ".status.fixedAddress"),
        PHASE_COLUMN,
        READY_COLUMN,
    ),
    rules=(
        {
            "rule": "!self.metadata.name.contains('.')",
            "message": "a FloatingIP's name names its Service, and a Service's name has no dots",
        },
    ),
)
