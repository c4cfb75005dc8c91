"""ServerGroup: a Nova server group, whose policy places its member Servers."""

from typing import Literal

from pydantic import Field

from stratus.api.common import Model, Status, immutable, validations
from stratus.api.crd import PHASE_COLUMN, READY_COLUMN, Kind, PrinterColumn

Policy = Literal["affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"]


class ServerGroupSpec(Model):
    policy: Policy = Field(
        description="affinity: members on one node; anti-affinity: each on its own node (both "
        "required, else NoValidHost); soft-*: preferred. Immutable, as in Nova.",
        json_schema_extra=validations(immutable("policy")),
    )


class ServerGroupStatus(Status):
    members: list[str] = Field(default_factory=list, description="The member Servers.")


SERVER_GROUP = Kind(
    kind="ServerGroup",
    plural="servergroups",
    scope="Namespaced",
    short_names=("sg",),
    spec=ServerGroupSpec,
    status=ServerGroupStatus,
    description="A Nova server group: (anti-)affinity between its member Servers.",
    columns=(
        PrinterColumn("Policy", ".spec.policy"),
        PrinterColumn("Members", ".status.members"),
        PHASE_COLUMN,
        READY_COLUMN,
    ),
)
