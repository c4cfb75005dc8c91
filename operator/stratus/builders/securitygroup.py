"""What a SecurityGroup becomes: one NetworkPolicy for its members' pod-network interface and
one MultiNetworkPolicy for their Stratus Networks, each allowing what the rules allow.

Kubernetes network policies are deny-by-default for the pods they select and add up, as
Neutron's security groups do: a Server's traffic is allowed when any of its groups allows it,
and the Project's default-deny policy (builders.project) selects every Server, so that a Server
whose groups allow nothing receives and sends nothing. Both are stateful, like Neutron's."""

from collections.abc import Mapping
from dataclasses import dataclass

from stratus.api.securitygroup import SecurityGroupRule, SecurityGroupSpec
from stratus.builders.meta import ChildRef, Children, Manifest, Owner, child
from stratus.builders.server import LABEL_SERVER

NETWORK_POLICY_API = "networking.k8s.io/v1"
MULTI_POLICY_API = "k8s.cni.cncf.io/v1beta1"
POLICY_FOR = "k8s.v1.cni.cncf.io/policy-for"
"""The annotation naming the NetworkAttachmentDefinitions a MultiNetworkPolicy applies to."""
ANYWHERE = {"IPv4": "0.0.0.0/0", "IPv6": "::/0"}
ICMP_UNENFORCED = (
    "Kubernetes network policies carry tcp, udp and sctp only: an icmp rule opens nothing"
)


@dataclass(frozen=True)
class Translated:
    """The policy rules of a group, and the rules of its spec that no policy can carry."""

    ingress: list[Manifest]
    egress: list[Manifest]
    unenforced: list[tuple[int, str]]


def policy_name(group: str) -> str:
    return f"securitygroup-{group}"[:253].rstrip("-.")


def members_selector(members: list[str]) -> Manifest:
    """Pods of these Servers, by the label every Server's pod carries (builders.server)."""
    return {"matchExpressions": [{"key": LABEL_SERVER, "operator": "In", "values": members}]}


def peer(rule: SecurityGroupRule, groups: Mapping[str, list[str]]) -> Manifest | None:
    """The far end of a rule: a group's members, a CIDR, or anywhere of the rule's family;
    None for a remote group without members, which matches nobody."""
    if rule.remote_group is not None:
        members = groups.get(rule.remote_group) or []
        return {"podSelector": members_selector(members)} if members else None
    return {"ipBlock": {"cidr": rule.remote_ip_prefix or ANYWHERE[rule.ethertype]}}


def ports(rule: SecurityGroupRule) -> list[Manifest] | None:
    """The rule's ports as a policy writes them; None for every port and protocol."""
    if rule.protocol == "any":
        return None
    port: Manifest = {"protocol": rule.protocol.upper()}
    if rule.port_range_min is not None:
        port["port"] = rule.port_range_min
        if rule.port_range_max is not None and rule.port_range_max > rule.port_range_min:
            port["endPort"] = rule.port_range_max
    return [port]


def translate(spec: SecurityGroupSpec, groups: Mapping[str, list[str]]) -> Translated:
    translated = Translated([], [], [])
    for index, rule in enumerate(spec.rules):
        if rule.protocol == "icmp":
            translated.unenforced.append((index, ICMP_UNENFORCED))
            continue
        far = peer(rule, groups)
        if far is None:
            continue
        entry: Manifest = {"from" if rule.direction == "ingress" else "to": [far]}
        if (allowed := ports(rule)) is not None:
            entry["ports"] = allowed
        (translated.ingress if rule.direction == "ingress" else translated.egress).append(entry)
    return translated


def policy_spec(members: list[str], translated: Translated) -> Manifest:
    """No rules in a direction is no list at all: the API server drops an empty one, and the
    policy read back must match the one built, or every pass would write it again."""
    spec: Manifest = {
        "podSelector": members_selector(members),
        "policyTypes": ["Ingress", "Egress"],
    }
    if translated.ingress:
        spec["ingress"] = translated.ingress
    if translated.egress:
        spec["egress"] = translated.egress
    return spec


def build_security_policies(
    owner: Owner,
    spec: SecurityGroupSpec,
    members: list[str],
    groups: Mapping[str, list[str]],
    networks: list[str],
    multi_policies_served: bool,
) -> Children:
    """The group's policies, or None where there is nothing to select: no member, or no
    Network among the members' (`namespace/name` of their attachments)."""
    namespace = str(owner.namespace)
    name = policy_name(owner.name)
    refs = (
        ChildRef(NETWORK_POLICY_API, "NetworkPolicy", name, namespace),
        ChildRef(MULTI_POLICY_API, "MultiNetworkPolicy", name, namespace),
    )
    children: Children = dict.fromkeys(refs if multi_policies_served else refs[:1])
    if not members:
        return children
    translated = translate(spec, groups)
    policy = child(NETWORK_POLICY_API, "NetworkPolicy", name, owner, namespace)
    policy["spec"] = policy_spec(members, translated)
    children[refs[0]] = policy
    if multi_policies_served and networks:
        multi = child(MULTI_POLICY_API, "MultiNetworkPolicy", name, owner, namespace)
        multi["metadata"]["annotations"] = {POLICY_FOR: ",".join(networks)}
        multi["spec"] = policy_spec(members, translated)
        children[refs[1]] = multi
    return children


def build_network_default_deny(owner: Owner, network: str) -> Manifest:
    """On a Network, what the Project's default-deny NetworkPolicy is on the pod network: its
    Servers receive and send there only what one of their groups allows. (A MultiNetworkPolicy
    selects pods of its own namespace: a shared Network's other Projects are isolated by their
    own groups, each of which names every Network its members use.)"""
    namespace = str(owner.namespace)
    name = f"{network}-servers-default-deny"[:253]
    deny = child(MULTI_POLICY_API, "MultiNetworkPolicy", name, owner, namespace)
    deny["metadata"]["annotations"] = {POLICY_FOR: f"{namespace}/{network}"}
    deny["spec"] = {
        "podSelector": {"matchExpressions": [{"key": LABEL_SERVER, "operator": "Exists"}]},
        "policyTypes": ["Ingress", "Egress"],
    }
    return deny


def default_group_rules() -> list[Manifest]:
    """Neutron's default group: all egress, ingress only from the group's own members."""
    return [
        {"direction": direction, "ethertype": family, **remote}
        for family in ("IPv4", "IPv6")
        for direction, remote in (("egress", {}), ("ingress", {"remoteGroup": "default"}))
    ]
