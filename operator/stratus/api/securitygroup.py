"""SecurityGroup: a Neutron security group, stateful rules on the traffic of its member
Servers, enforced by NetworkPolicy on the pod network and MultiNetworkPolicy on Networks."""

from typing import Literal

from pydantic import ConfigDict, Field

from stratus.api.common import DNS_SUBDOMAIN_PATTERN, Model, Status, rule, validations
from stratus.api.crd import PHASE_COLUMN, READY_COLUMN, Kind, PrinterColumn

DEFAULT_GROUP = "default"
"""The group every Project has, and every Server joins unless it names others, as in Neutron."""


class SecurityGroupRule(Model):
    """One allowed flow, as a Neutron security group rule: a direction, an address family, a
    protocol and port range, and the far end (a CIDR, or the members of a group)."""

    model_config = Model.model_config | ConfigDict(
        json_schema_extra=validations(
            rule(
                "!has(self.portRangeMax) || (has(self.portRangeMin)"
                " && self.portRangeMin <= self.portRangeMax)",
                "portRangeMax needs a portRangeMin no greater than it: the range is reversed",
            ),
            rule(
                "(!has(self.portRangeMin) && !has(self.portRangeMax))"
                " || self.protocol in ['tcp', 'udp']",
                "port ranges apply to protocol tcp or udp only (icmp and any have no ports)",
            ),
            rule(
                "!has(self.remoteIpPrefix) || !has(self.remoteGroup)",
                "a rule names a remoteIpPrefix or a remoteGroup, not both",
            ),
            rule(
                "!has(self.remoteIpPrefix) || !isCIDR(self.remoteIpPrefix)"
                " || cidr(self.remoteIpPrefix).ip().family()"
                " == (self.ethertype == 'IPv6' ? 6 : 4)",
                "remoteIpPrefix must be of the rule's ethertype (IPv4 or IPv6)",
            ),
        )
    )

    direction: Literal["ingress", "egress"] = Field(
        description="ingress: traffic to the members; egress: traffic from them."
    )
    ethertype: Literal["IPv4", "IPv6"] = Field(default="IPv4", description="IPv4 or IPv6.")
    protocol: Literal["tcp", "udp", "icmp", "any"] = Field(
        default="any", description="tcp, udp, icmp, or any protocol."
    )
    port_range_min: int | None = Field(
        default=None, ge=1, le=65535, description="The first port (tcp and udp only)."
    )
    port_range_max: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="The last port; without it, portRangeMin alone is the one port.",
    )
    remote_ip_prefix: str | None = Field(
        default=None,
        max_length=43,
        description="The far end as a CIDR (10.0.0.0/8); without it and a remoteGroup, anywhere.",
        json_schema_extra=validations(
            rule("isCIDR(self)", "remoteIpPrefix must be a CIDR such as 10.0.0.0/8"),
            rule(
                "!isCIDR(self) || cidr(self) == cidr(self).masked()",
                "remoteIpPrefix has host bits set: use the network address",
            ),
        ),
    )
    remote_group: str | None = Field(
        default=None,
        max_length=253,
        description="The far end as the member Servers of a SecurityGroup of this Project.",
        json_schema_extra={
            **validations(
                rule(
                    "!self.contains('/')",
                    "remoteGroup names a SecurityGroup of this Project; another Project's "
                    "groups cannot be named",
                )
            ),
            "pattern": DNS_SUBDOMAIN_PATTERN,
        },
    )
    description: str | None = Field(default=None, max_length=255, description="Free text.")


class SecurityGroupSpec(Model):
    description: str | None = Field(default=None, max_length=255, description="Free text.")
    rules: list[SecurityGroupRule] = Field(
        default_factory=list,
        max_length=200,
        description="What the members may receive (ingress) and send (egress); anything else "
        "is dropped. Stateful: replies to an allowed connection are allowed.",
    )


class UnenforcedRule(Model):
    index: int = Field(description="The rule's position in spec.rules.")
    reason: str = Field(description="Why no policy can carry it.")


class SecurityGroupStatus(Status):
    members: list[str] = Field(
        default_factory=list, description="The Servers that name this group."
    )
    network_policy: str | None = Field(
        default=None, description="The NetworkPolicy enforcing the rules on the pod network."
    )
    multi_network_policy: str | None = Field(
        default=None,
        description="The MultiNetworkPolicy enforcing them on the members' Networks.",
    )
    unenforced: list[UnenforcedRule] = Field(
        default_factory=list, description="Rules no policy can carry, and why."
    )


SECURITY_GROUP = Kind(
    kind="SecurityGroup",
    plural="securitygroups",
    scope="Namespaced",
    short_names=("secgroup",),
    spec=SecurityGroupSpec,
    status=SecurityGroupStatus,
    description="A Neutron security group: stateful rules on its member Servers' traffic.",
    columns=(
        PrinterColumn("Rules", ".spec.rules[*].direction", priority=1),
        PrinterColumn("Members", ".status.members"),
        PHASE_COLUMN,
        READY_COLUMN,
    ),
)
