"""LoadBalancer: an Octavia load balancer, a VIP whose listeners spread connections over a pool
of member Servers, as a Kubernetes Service of type LoadBalancer with endpoints Stratus keeps."""

from typing import Literal

from pydantic import ConfigDict, Field

from stratus.api.common import DNS_SUBDOMAIN_PATTERN, Model, Status, immutable, rule, validations
from stratus.api.crd import PHASE_COLUMN, READY_COLUMN, Kind, PrinterColumn
from stratus.api.volume import REFERENCE


class Vip(Model):
    network: str | None = Field(
        default=None,
        description="Where the VIP comes from: a Network of this Project, or an external one "
        "(<namespace>/<name>); none: the cluster's load balancer implementation chooses.",
        json_schema_extra=REFERENCE,
    )
    address: str | None = Field(
        default=None,
        max_length=45,
        description="A particular address of that Network (needs network).",
        json_schema_extra=validations(rule("isIP(self)", "address must be an IP address")),
    )


class Listener(Model):
    protocol: Literal["TCP", "UDP"] = Field(default="TCP", description="TCP or UDP.")
    port: int = Field(ge=1, le=65535, description="The port on the VIP.")
    target_port: int | None = Field(
        default=None, ge=1, le=65535, description="The members' port; default: port."
    )


class Pool(Model):
    model_config = Model.model_config | ConfigDict(
        json_schema_extra=validations(
            rule(
                "(has(self.members) && size(self.members) > 0)"
                " || (has(self.selector) && size(self.selector) > 0)",
                "a pool names its members or selects them by label",
            )
        )
    )

    members: list[str] = Field(
        default_factory=list,
        max_length=256,
        description="Servers of this Project, by name.",
        json_schema_extra={
            "x-kubernetes-list-type": "set",
            "items": {"type": "string", "maxLength": 253, "pattern": DNS_SUBDOMAIN_PATTERN},
        },
    )
    selector: dict[str, str] | None = Field(
        default=None, description="Servers of this Project whose labels include all these."
    )
    algorithm: Literal["ROUND_ROBIN", "SOURCE_IP"] = Field(
        default="ROUND_ROBIN",
        description="ROUND_ROBIN, or SOURCE_IP: a client keeps its member (session affinity).",
    )


class HealthMonitor(Model):
    model_config = Model.model_config | ConfigDict(
        json_schema_extra=validations(
            rule("!has(self.path) || self.type == 'HTTP'", "path is for an HTTP health monitor"),
            rule("self.timeoutSeconds <= self.delaySeconds", "timeoutSeconds exceeds delaySeconds"),
        )
    )

    type: Literal["TCP", "HTTP"] = Field(default="TCP", description="TCP connect or HTTP GET.")
    port: int | None = Field(
        default=None, ge=1, le=65535, description="The port probed; default: the first listener's."
    )
    path: str | None = Field(default=None, max_length=1024, description="The HTTP path.")
    delay_seconds: int = Field(default=5, ge=1, le=3600, description="Seconds between probes.")
    timeout_seconds: int = Field(default=3, ge=1, le=3600, description="Seconds a probe waits.")
    max_retries: int = Field(
        default=3, ge=1, le=10, description="Failures in a row that take a member out."
    )


class LoadBalancerSpec(Model):
    vip: Vip = Field(
        default_factory=Vip,
        description="The virtual IP clients reach. Immutable.",
        json_schema_extra=validations(
            immutable("vip"),
            rule("!has(self.address) || has(self.network)", "vip.address needs vip.network"),
        ),
    )
    listeners: list[Listener] = Field(
        min_length=1,
        max_length=16,
        description="What the VIP accepts: a protocol and port each, unique.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["protocol", "port"],
        },
    )
    pool: Pool = Field(description="The member Servers and how connections are spread.")
    health_monitor: HealthMonitor | None = Field(
        default=None, description="How a member is found healthy; failing ones leave the pool."
    )


class MemberStatus(Model):
    name: str = Field(description="The member Server.")
    address: str | None = Field(default=None, description="Its address behind the VIP.")
    operating_status: Literal["ONLINE", "OFFLINE", "ERROR"] = Field(
        description="ONLINE: in the endpoints; OFFLINE: stopped or not placed; ERROR: unhealthy."
    )


class LoadBalancerStatus(Status):
    vip_address: str | None = Field(default=None, description="The VIP.")
    service: str | None = Field(default=None, description="The Service that carries it.")
    operating_status: Literal["ONLINE", "DEGRADED", "OFFLINE"] | None = Field(
        default=None,
        description="ONLINE: every member serves; DEGRADED: some do; OFFLINE: none does.",
    )
    members: list[MemberStatus] = Field(default_factory=list, description="Each member's state.")


LOAD_BALANCER = Kind(
    kind="LoadBalancer",
    plural="loadbalancers",
    scope="Namespaced",
    short_names=("lb",),
    spec=LoadBalancerSpec,
    status=LoadBalancerStatus,
    description="An Octavia load balancer: a VIP, listeners, a pool of member Servers.",
    columns=(
        PrinterColumn("VIP", ".status.vipAddress"),
        PrinterColumn("Operating", ".status.operatingStatus"),
        PHASE_COLUMN,
        READY_COLUMN,
    ),
    rules=(
        {
            "rule": "!self.metadata.name.contains('.')",
            "message": "a LoadBalancer's name names its Service, and a Service's name has no dots",
        },
    ),
)
