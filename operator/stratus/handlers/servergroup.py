"""ServerGroup handlers: the policy is carried by its members' pods (see builders.server);
the group reports its members and is kept while it has any."""

from typing import Any

import kopf

from stratus.api.servergroup import SERVER_GROUP, ServerGroupSpec
from stratus.constants import GROUP, VERSION
from stratus.core.errors import WaitingForContents
from stratus.core.reconcile import Outcome, parse_spec, reconcile
from stratus.handlers.children import parent_key, run

Members = kopf.Index[str, str]


@kopf.on.resume(GROUP, VERSION, SERVER_GROUP.plural)
@kopf.on.create(GROUP, VERSION, SERVER_GROUP.plural)
@kopf.on.update(GROUP, VERSION, SERVER_GROUP.plural)
def servergroup_changed(body: kopf.Body, **kwargs: Any) -> None:
    index: Members = kwargs["servers_by_group"]
    reconcile(SERVER_GROUP, body, lambda: observe_group(body, index))


@kopf.on.delete(GROUP, VERSION, SERVER_GROUP.plural)
def servergroup_deleted(body: kopf.Body, **kwargs: Any) -> None:
    """A group that still places Servers stays until they are gone: their pods' affinity
    would otherwise name a group nobody can see."""
    index: Members = kwargs["servers_by_group"]
    reconcile(SERVER_GROUP, body, lambda: release_group(body, index), "Deleting")


@kopf.index(GROUP, VERSION, SERVER_GROUP.plural)
def servergroups_by_name(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[str, kopf.Body]:
    return {parent_key(namespace, name): body}


def members_of(body: kopf.Body, index: Members) -> list[str]:
    key = parent_key(body["metadata"]["namespace"], body["metadata"]["name"])
    return sorted(set(index.get(key, [])))


def observe_group(body: kopf.Body, index: Members) -> Outcome:
    policy = parse_spec(ServerGroupSpec, body).policy
    members = members_of(body, index)
    return Outcome(
        phase="Active", message=f"{policy}, {len(members)} members", fields={"members": members}
    )


def release_group(body: kopf.Body, index: Members) -> Outcome:
    members = members_of(body, index)
    if members:
        raise WaitingForContents(
            "ServerGroupInUse", f"{len(members)} Servers are members: {', '.join(members)}"
        )
    return Outcome(phase="Deleting", ready=False, reason="Deleting", message="no members left")


@kopf.on.event(GROUP, VERSION, "servers")
def member_changed(body: kopf.Body, **kwargs: Any) -> None:
    """A Server joined or left its group: the group's member list follows."""
    group = (body.get("spec") or {}).get("serverGroup")
    if not group:
        return
    groups: kopf.Index[str, kopf.Body] = kwargs["servergroups_by_name"]
    index: Members = kwargs["servers_by_group"]
    for found in groups.get(parent_key(body["metadata"]["namespace"], group), []):
        run(SERVER_GROUP, found, lambda current: observe_group(current, index))
