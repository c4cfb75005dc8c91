"""Project handlers: keep the namespace, quota, bindings and policy as the spec says;
on deletion, honour the deletion policy before letting the Project go."""

from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from stratus.api import KINDS
from stratus.api.project import PROJECT, ProjectSpec
from stratus.api.securitygroup import DEFAULT_GROUP, SECURITY_GROUP
from stratus.builders import project as build
from stratus.builders.meta import ChildRef, Children, Owner
from stratus.constants import (
    API_VERSION,
    GROUP,
    LABEL_MANAGED_BY,
    LABEL_PROJECT,
    MANAGED_BY,
    VERSION,
)
from stratus.core import kube
from stratus.core.drift import covers
from stratus.core.errors import Conflict, WaitingForContents
from stratus.core.indexes import index
from stratus.core.parents import Parent, own_pass, register
from stratus.core.quota import refresh_usage
from stratus.core.reconcile import Outcome, parse_spec, reconcile

Body = kopf.Body


@kopf.on.resume(GROUP, VERSION, PROJECT.plural)
@kopf.on.create(GROUP, VERSION, PROJECT.plural)
@kopf.on.update(GROUP, VERSION, PROJECT.plural)
def project_changed(body: Body, **_: Any) -> None:
    own_pass(PROJECT, body, ensure_project)


@kopf.on.delete(GROUP, VERSION, PROJECT.plural)
def project_deleted(body: Body, **_: Any) -> None:
    reconcile(PROJECT, body, release_project, error_phase="Terminating", deletion=True)


def namespace_of(body: Body, spec: ProjectSpec) -> str:
    return spec.namespace or str(body["metadata"]["name"])


def project_children(body: Body) -> Children:
    """The Project's children as the spec wants them, its namespace included."""
    spec = parse_spec(ProjectSpec, body)
    owner = Owner.of(body)
    namespace = namespace_of(body, spec)
    namespace_manifest = build.build_namespace(owner.name, namespace, adopted=False)
    return {
        ChildRef.of(namespace_manifest): namespace_manifest,
        **build.build_project_children(owner, namespace, spec.quota, spec.members),
    }


def ensure_project(body: Body) -> Outcome:
    spec = parse_spec(ProjectSpec, body)
    owner = Owner.of(body)
    namespace = namespace_of(body, spec)
    claim_namespace(owner.name, namespace)
    kube.sync(build.build_project_children(owner, namespace, spec.quota, spec.members))
    ensure_default_security_group(owner, namespace)
    refresh_usage(namespace)
    return observe_project(body)


def ensure_default_security_group(owner: Owner, namespace: str) -> None:
    """Every Project has Neutron's `default` group, made when it is missing (also after
    someone deleted it); its rules are the members' to edit, so an existing one is left alone."""
    if kube.read(API_VERSION, SECURITY_GROUP.kind, DEFAULT_GROUP, namespace) is not None:
        return
    try:
        kube.create(build.build_default_security_group(owner, namespace))
    except ApiException as error:
        if error.status != 409:  # made meanwhile by another pass: as good
            raise


def observe_project(body: Body) -> Outcome:
    """Ready once the quota is in force: until the quota controller has counted, the API
    server refuses every create the quota covers ("status unknown for quota")."""
    spec = parse_spec(ProjectSpec, body)
    namespace = namespace_of(body, spec)
    # Only kinds this version defines can be counted; the others cannot be created yet either.
    defined = {f"count/{kind.plural}.{GROUP}" for kind in KINDS}
    wanted = {k: v for k, v in build.quota_hard(spec.quota).items() if k in defined}
    if wanted:
        quota = kube.read("v1", "ResourceQuota", build.QUOTA_NAME, namespace) or {}
        hard = (quota.get("status") or {}).get("hard") or {}
        used = (quota.get("status") or {}).get("used") or {}
        if any(hard.get(k) != v for k, v in wanted.items()) or not wanted.keys() <= used.keys():
            return Outcome(
                phase="Active",
                ready=False,
                reason="QuotaPending",
                message="waiting for the quota controller to count the namespace",
                fields={"namespace": namespace},
            )
    return Outcome(
        phase="Active",
        message=f"namespace {namespace} is ready",
        fields={"namespace": namespace},
    )


@index(GROUP, VERSION, PROJECT.plural)
def projects_by_name(name: str, body: Body, **_: Any) -> dict[str, Body]:
    return {name: body}


register(Parent(PROJECT, projects_by_name, project_children, ensure_project, observe_project))


def claim_namespace(project: str, namespace: str) -> None:
    """Create the namespace, or adopt it if nobody else owns it; refuse another's namespace."""
    existing = kube.read("v1", "Namespace", namespace)
    if existing is None:
        kube.create(build.build_namespace(project, namespace, adopted=False))
        return
    labels = existing["metadata"].get("labels") or {}
    holder = labels.get(LABEL_PROJECT)
    if holder and holder != project:
        raise Conflict(
            "NamespaceOwnedByAnotherProject",
            f"namespace {namespace} belongs to Project {holder}; choose another spec.namespace",
        )
    if existing["metadata"].get("ownerReferences"):
        owners = ", ".join(
            f"{o['kind']}/{o['name']}" for o in existing["metadata"]["ownerReferences"]
        )
        raise Conflict(
            "NamespaceHasOtherOwner",
            f"namespace {namespace} is owned by {owners}; Stratus adopts only unowned namespaces",
        )
    if existing["status"].get("phase") == "Terminating":
        raise WaitingForContents(
            "NamespaceTerminating", f"namespace {namespace} is still being deleted"
        )
    annotations = existing["metadata"].get("annotations") or {}
    adopted = holder is None or annotations.get(build.ADOPTED_ANNOTATION) == "true"
    desired = build.build_namespace(project, namespace, adopted=adopted)
    if not covers(existing["metadata"], desired["metadata"]):
        kube.apply(desired)


def release_project(body: Body) -> Outcome:
    spec = parse_spec(ProjectSpec, body)
    name = str(body["metadata"]["name"])
    namespace = namespace_of(body, spec)
    existing = kube.read("v1", "Namespace", namespace)
    if existing is None or (existing["metadata"].get("labels") or {}).get(LABEL_PROJECT) != name:
        return Outcome(
            phase="Terminating", ready=False, reason="Deleted", message="nothing left to remove"
        )
    if spec.deletion_policy == "Retain":
        remaining = contents(namespace)
        if remaining:
            listed = ", ".join(f"{count} {kind}" for kind, count in sorted(remaining.items()))
            raise WaitingForContents(
                "DeletionBlocked",
                f"deletionPolicy is Retain and namespace {namespace} still holds {listed}; "
                "delete them, or set deletionPolicy: Cascade",
            )
        if (existing["metadata"].get("annotations") or {}).get(build.ADOPTED_ANNOTATION) == "true":
            kube.delete(API_VERSION, SECURITY_GROUP.kind, DEFAULT_GROUP, namespace)
            kube.merge_patch("v1", "Namespace", namespace, None, build.released_namespace_patch())
            return Outcome(
                phase="Terminating",
                ready=False,
                reason="Released",
                message=f"namespace {namespace} was adopted and is left in place",
            )
    kube.delete("v1", "Namespace", namespace)
    raise WaitingForContents(
        "NamespaceTerminating", f"waiting for namespace {namespace} to be deleted"
    )


def contents(namespace: str) -> dict[str, int]:
    """What a Retain deletion waits for: the tenant's Stratus objects and volume claims, not
    what Stratus made itself (the default SecurityGroup, Port records, its claims)."""
    theirs = f"{LABEL_MANAGED_BY}!={MANAGED_BY}"
    counted = {
        "PersistentVolumeClaim": len(
            kube.list_names("v1", "PersistentVolumeClaim", namespace, theirs)
        )
    }
    for kind in KINDS:
        if kind.scope == "Namespaced":
            counted[kind.kind] = len(kube.list_names(API_VERSION, kind.kind, namespace, theirs))
    return {kind: count for kind, count in counted.items() if count}
