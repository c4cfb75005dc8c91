"""Router: a Neutron L3 router joining a Project's Networks to each other and, through an
external Network, to the outside, with SNAT; its floating IPs reach Servers by DNAT."""

from pydantic import Field

from stratus.api.common import DNS_SUBDOMAIN_PATTERN, Model, Status
from stratus.api.crd import PHASE_COLUMN, READY_COLUMN, Kind, PrinterColumn
from stratus.api.volume import REFERENCE


class RouterInterface(Model):
    network: str = Field(
        description="A Network of this Project: the Router takes its subnet's gateway address.",
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
    )


class ExternalGateway(Model):
    network: str = Field(
        description="An external Network (<namespace>/<name>): the Router takes an address of "
        "its pool, sends the Project's traffic out through it and receives its floating IPs.",
        json_schema_extra=REFERENCE,
    )


class RouterSpec(Model):
    external_gateway: ExternalGateway | None = Field(
        default=None, description="Where the Router reaches the outside; none: internal only."
    )
    interfaces: list[RouterInterface] = Field(
        default_factory=list,
        max_length=16,
        description="The Networks routed between, each at its gateway address.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["network"],
        },
    )
    snat: bool = Field(
        default=True,
        description="Source-NAT the Networks' traffic to the outside behind the external address.",
    )


class InterfaceAddress(Model):
    network: str = Field(description="The Network (or the external one, <namespace>/<name>).")
    address: str = Field(description="The Router's address there.")


class FloatingIPTarget(Model):
    address: str = Field(description="The floating IP.")
    fixed_address: str = Field(description="The Server address it is translated to.")
    floating_ip: str = Field(description="The FloatingIP.")


class RouterStatus(Status):
    interfaces: list[InterfaceAddress] = Field(
        default_factory=list, description="The Router's address on each Network."
    )
    external_address: str | None = Field(
        default=None, description="Its address on the external Network."
    )
    external_network: str | None = Field(
        default=None, description="The external Network (<namespace>/<name>) it holds it on."
    )
    pod: str | None = Field(default=None, description="The Pod that routes.")
    floating_ips: list[FloatingIPTarget] = Field(
        default_factory=list, description="The floating IPs it translates (DNAT)."
    )


ROUTER = Kind(
    kind="Router",
    plural="routers",
    scope="Namespaced",
    short_names=("rtr",),
    spec=RouterSpec,
    status=RouterStatus,
    description="A Neutron router: Networks joined, an external gateway with SNAT, DNAT.",
    columns=(
        PrinterColumn("Gateway", ".spec.externalGateway.network"),
        PrinterColumn("External IP", ".status.externalAddress"),
        PHASE_COLUMN,
        READY_COLUMN,
    ),
)
