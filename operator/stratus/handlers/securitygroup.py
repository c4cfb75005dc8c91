"""SecurityGroup handlers: the group's policies follow its rules and its members, live. A
Server joining or leaving (its spec.securityGroups), or moving between Networks, rewrites the
policies of its Project's groups, never the Server's pod: no restart is needed."""

from collections.abc import Mapping
from typing import Any

import kopf

from stratus.api.securitygroup import SECURITY_GROUP, SecurityGroupSpec
from stratus.builders.meta import Children, Owner
from stratus.builders.securitygroup import MULTI_POLICY_API, build_security_policies, translate
from stratus.constants import GROUP, VERSION
from stratus.core import kube
from stratus.core.changes import LastSeen
from stratus.core.errors import WaitingForEvent
from stratus.core.indexes import index
from stratus.core.parents import Parent, finish_deletion, own_pass, parent_key, register, run
from stratus.core.reconcile import Outcome, parse_spec, reconcile
from stratus.core.resolve import split_reference
from stratus.core.workqueue import Strength


@kopf.on.resume(GROUP, VERSION, SECURITY_GROUP.plural)
@kopf.on.create(GROUP, VERSION, SECURITY_GROUP.plural)
@kopf.on.update(GROUP, VERSION, SECURITY_GROUP.plural)
def securitygroup_changed(body: kopf.Body, **_: Any) -> None:
    own_pass(SECURITY_GROUP, body, ensure_group)


@kopf.on.delete(GROUP, VERSION, SECURITY_GROUP.plural)
def securitygroup_deleted(body: kopf.Body, **_: Any) -> None:
    """A group still in use stays, as Neutron refuses to delete it: its members would lose
    what it allows without anyone having asked for that."""
    reconcile(SECURITY_GROUP, body, release_group, "Deleting", deletion=True)


@index(GROUP, VERSION, SECURITY_GROUP.plural)
def securitygroups_by_name(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[str, kopf.Body]:
    return {parent_key(namespace, name): body}


@index(GROUP, VERSION, SECURITY_GROUP.plural)
def securitygroups_by_namespace(namespace: str | None, body: kopf.Body, **_: Any) -> dict[str, Any]:
    return {str(namespace): body}


@index(GROUP, VERSION, "servers")
def servers_by_security_group(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Each Server under every group it names, with the attachments of its Networks."""
    spec = body.get("spec") or {}
    networks = tuple(
        "/".join(split_reference(str(namespace), entry["network"]))
        for entry in spec.get("networks") or []
    )
    return {
        parent_key(namespace, group): (name, networks) for group in spec.get("securityGroups") or []
    }


def members_of(namespace: str, group: str) -> dict[str, tuple[str, ...]]:
    """The Servers naming a group, with their Networks."""
    return dict(servers_by_security_group.get(parent_key(namespace, group)))


def group_children(body: kopf.Body) -> Children:
    spec = parse_spec(SecurityGroupSpec, body)
    owner = Owner.of(body)
    namespace = str(owner.namespace)
    members = members_of(namespace, owner.name)
    remote = {r.remote_group for r in spec.rules if r.remote_group is not None}
    groups = {group: sorted(members_of(namespace, group)) for group in remote}
    networks = sorted({network for held in members.values() for network in held})
    served = kube.served(MULTI_POLICY_API, "MultiNetworkPolicy")
    return build_security_policies(owner, spec, sorted(members), groups, networks, served)


def ensure_group(body: kopf.Body) -> Outcome:
    kube.sync(group_children(body))
    return observe_group(body)


def observe_group(body: kopf.Body) -> Outcome:
    spec = parse_spec(SecurityGroupSpec, body)
    namespace, name = str(body["metadata"]["namespace"]), str(body["metadata"]["name"])
    members = sorted(members_of(namespace, name))
    children = group_children(body)
    policies = {ref.kind: ref.name for ref, manifest in children.items() if manifest is not None}
    unenforced = [
        {"index": index, "reason": reason} for index, reason in translate(spec, {}).unenforced
    ]
    return Outcome(
        phase="Active",
        message=f"{len(spec.rules)} rules, {len(members)} members",
        fields={
            "members": members,
            "networkPolicy": policies.get("NetworkPolicy"),
            "multiNetworkPolicy": policies.get("MultiNetworkPolicy"),
            "unenforced": unenforced,
        },
    )


def release_group(body: kopf.Body) -> Outcome:
    namespace, name = str(body["metadata"]["namespace"]), str(body["metadata"]["name"])
    members = sorted(members_of(namespace, name))
    if members:
        raise WaitingForEvent(
            "SecurityGroupInUse",
            f"{len(members)} Servers name this group: {', '.join(members)}; remove it from "
            "their securityGroups first",
        )
    return Outcome(phase="Deleting", ready=False, reason="Deleting", message="no members left")


PARENT = Parent(
    SECURITY_GROUP,
    securitygroups_by_name,
    group_children,
    ensure_group,
    observe_group,
    release_group,
)
register(PARENT)

_memberships = LastSeen()
"""Per Server, what its groups' policies were built from: its groups and Networks."""


def membership(body: Mapping[str, Any]) -> tuple[Any, ...]:
    spec = body.get("spec") or {}
    networks = tuple(entry.get("network") for entry in spec.get("networks") or [])
    return tuple(spec.get("securityGroups") or ()), networks


@kopf.on.event(GROUP, VERSION, "servers")
def membership_changed(type: str | None, body: kopf.Body, **_: Any) -> None:
    """A Server came, went, or changed its groups or Networks: every group of its Project is
    built again (a group's rules may name another group as their far end). Its status
    changes, which are most of its events, wake nobody; nor does its first sight at start-up,
    when every group has its own resume pass."""
    metadata = body["metadata"]
    if not _memberships.changed(type, body, membership(body)):
        return
    for group in securitygroups_by_namespace.get(str(metadata["namespace"])):
        finish_deletion(PARENT, group)  # a deleted group waits for its last member to go
        run(SECURITY_GROUP, group, ensure_group, Strength.ENSURE)
