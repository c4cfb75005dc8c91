"""ServerGroup handlers: the policy is carried by its members' pods (see builders.server);
the group reports its members and is kept while it has any."""

from typing import Any

import kopf

from stratus.api.servergroup import SERVER_GROUP, ServerGroupSpec
from stratus.constants import GROUP, VERSION
from stratus.core.errors import WaitingForEvent
from stratus.core.indexes import index
from stratus.core.parents import Parent, own_pass, parent_key, register, wake
from stratus.core.reconcile import Outcome, parse_spec, reconcile


@kopf.on.resume(GROUP, VERSION, SERVER_GROUP.plural)
@kopf.on.create(GROUP, VERSION, SERVER_GROUP.plural)
@kopf.on.update(GROUP, VERSION, SERVER_GROUP.plural)
def servergroup_changed(body: kopf.Body, **_: Any) -> None:
    own_pass(SERVER_GROUP, body, observe_group)


@kopf.on.delete(GROUP, VERSION, SERVER_GROUP.plural)
def servergroup_deleted(body: kopf.Body, **_: Any) -> None:
    """A group that still places Servers stays until they are gone: their pods' affinity
    would otherwise name a group nobody can see."""
    reconcile(SERVER_GROUP, body, release_group, "Deleting", deletion=True)


@index(GROUP, VERSION, SERVER_GROUP.plural)
def servergroups_by_name(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[str, kopf.Body]:
    return {parent_key(namespace, name): body}


@index(GROUP, VERSION, "servers")
def servers_by_group(namespace: str | None, body: kopf.Body, **_: Any) -> dict[str, str] | None:
    group = (body.get("spec") or {}).get("serverGroup")
    return {parent_key(namespace, group): body["metadata"]["name"]} if group else None


def members_of(body: kopf.Body) -> list[str]:
    key = parent_key(body["metadata"]["namespace"], body["metadata"]["name"])
    return sorted(set(servers_by_group.get(key)))


def observe_group(body: kopf.Body) -> Outcome:
    policy = parse_spec(ServerGroupSpec, body).policy
    members = members_of(body)
    return Outcome(
        phase="Active", message=f"{policy}, {len(members)} members", fields={"members": members}
    )


def release_group(body: kopf.Body) -> Outcome:
    members = members_of(body)
    if members:
        raise WaitingForEvent(
            "ServerGroupInUse", f"{len(members)} Servers are members: {', '.join(members)}"
        )
    return Outcome(phase="Deleting", ready=False, reason="Deleting", message="no members left")


PARENT = Parent(
    SERVER_GROUP, servergroups_by_name, lambda _: {}, observe_group, release=release_group
)
register(PARENT)


@kopf.on.event(GROUP, VERSION, "servers")
def member_changed(body: kopf.Body, **_: Any) -> None:
    """A Server joined or left its group: the group's member list follows."""
    group = (body.get("spec") or {}).get("serverGroup")
    if not group:
        return
    for found in servergroups_by_name.get(parent_key(body["metadata"]["namespace"], group)):
        wake(PARENT, found, observe_group)
