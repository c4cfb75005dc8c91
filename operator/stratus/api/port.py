"""Port: one address of a Network held by one Server interface (Neutron's port).

Ports are allocation records that Stratus writes, not something users apply. One object per
address, named after the network and the address, so the API server's uniqueness of names
is what guarantees that no address is ever handed out twice.
"""

from pydantic import Field

from stratus.api.common import Model, Status, immutable, rule, validations
from stratus.api.crd import Kind, PrinterColumn


class PortSpec(Model):
    network: str = Field(
        max_length=253,
        description="The Network, in the Port's namespace.",
        json_schema_extra=validations(immutable("network")),
    )
    address: str = Field(
        max_length=45,
        description="The allocated address.",
        json_schema_extra=validations(
            rule("isIP(self)", "address must be an IP address"), immutable("address")
        ),
    )
    holder: str = Field(
        max_length=512,
        description="Who holds the address: <kind>/<namespace>/<name> of the Server (or test).",
        json_schema_extra=validations(immutable("holder")),
    )
    interface: int = Field(default=0, ge=0, description="The holder's interface index.")


PORT = Kind(
    kind="Port",
    plural="ports",
    scope="Namespaced",
    short_names=("port",),
    spec=PortSpec,
    status=Status,
    description="An address of a Network held by a Server interface; written by Stratus.",
    record=True,
    columns=(
        PrinterColumn("Network", ".spec.network"),
        PrinterColumn("Address", ".spec.address"),
        PrinterColumn("Holder", ".spec.holder"),
    ),
)
