"""What a Project becomes: its namespace, quota, member role bindings and isolation policy."""

from stratus.api.project import ProjectMember, ProjectQuota
from stratus.api.securitygroup import DEFAULT_GROUP, SECURITY_GROUP
from stratus.builders.meta import ChildRef, Children, Manifest, Owner, child
from stratus.builders.securitygroup import NETWORK_POLICY_API, default_group_rules
from stratus.builders.server import LABEL_SERVER
from stratus.constants import (
    API_VERSION,
    GROUP,
    LABEL_KIND,
    LABEL_MANAGED_BY,
    LABEL_NAME,
    LABEL_PROJECT,
    MANAGED_BY,
    TENANT_ROLES,
    tenant_cluster_role,
)

QUOTA_NAME = "stratus-project"
ISOLATION_POLICY_NAME = "stratus-project-isolation"
SERVERS_DEFAULT_DENY_NAME = "stratus-servers-default-deny"
ADOPTED_ANNOTATION = f"{GROUP}/adopted"

COUNTED_KINDS = {
    "servers": "servers",
    "volumes": "volumes",
    "networks": "networks",
    "buckets": "buckets",
    "backups": "volumebackups",
    "floating_ips": "floatingips",
    "load_balancers": "loadbalancers",
}
"""Quota fields the API server itself enforces as object counts, by the plural they count."""


def role_binding_name(role: str) -> str:
    return f"stratus-{role}"


def build_namespace(project: str, namespace: str, adopted: bool) -> Manifest:
    """The project's namespace. It has no ownerReference on purpose: a foreground deletion
    of the Project would otherwise let the garbage collector empty it before Retain is honoured."""
    metadata: Manifest = {
        "name": namespace,
        "labels": {
            LABEL_MANAGED_BY: MANAGED_BY,
            LABEL_KIND: "Project",
            LABEL_NAME: project,
            LABEL_PROJECT: project,
        },
    }
    if adopted:
        metadata["annotations"] = {ADOPTED_ANNOTATION: "true"}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}


def released_namespace_patch() -> Manifest:
    """A merge patch that hands an adopted namespace back, without Stratus's marks."""
    labels = dict.fromkeys((LABEL_MANAGED_BY, LABEL_KIND, LABEL_NAME, LABEL_PROJECT))
    return {"metadata": {"labels": labels, "annotations": {ADOPTED_ANNOTATION: None}}}


def quota_hard(quota: ProjectQuota) -> dict[str, str]:
    """ResourceQuota limits for the quota fields that are object counts."""
    return {
        f"count/{plural}.{GROUP}": str(limit)
        for field, plural in COUNTED_KINDS.items()
        if (limit := getattr(quota, field)) is not None
    }


def build_resource_quota(owner: Owner, namespace: str, quota: ProjectQuota) -> Manifest | None:
    """The ResourceQuota, or None when no counted limit is set."""
    hard = quota_hard(quota)
    if not hard:
        return None
    manifest = child(
        "v1", "ResourceQuota", QUOTA_NAME, owner, namespace, {LABEL_PROJECT: owner.name}
    )
    manifest["spec"] = {"hard": hard}
    return manifest


def build_role_bindings(
    owner: Owner, namespace: str, members: list[ProjectMember]
) -> dict[str, Manifest | None]:
    """One RoleBinding per tenant role, by role; None where no member holds the role."""
    bindings: dict[str, Manifest | None] = {}
    for role in TENANT_ROLES:
        subjects = [subject(m.kind, m.name) for m in members if m.role == role]
        if not subjects:
            bindings[role] = None
            continue
        binding = child(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            role_binding_name(role),
            owner,
            namespace,
            {LABEL_PROJECT: owner.name},
        )
        binding["roleRef"] = {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": tenant_cluster_role(role),
        }
        binding["subjects"] = subjects
        bindings[role] = binding
    return bindings


def project_finder_name(project: str) -> str:
    return f"stratus:project:{project}"


def build_project_finder(owner: Owner, members: list[ProjectMember]) -> Children:
    """A ClusterRole that lets the Project's members read this one Project, and its binding.
    It is how a member finds their Projects without listing any: a SelfSubjectRulesReview
    shows the Project's name among the rules of its ClusterRoleBindings. None without members."""
    rbac = "rbac.authorization.k8s.io/v1"
    name = project_finder_name(owner.name)
    refs = (ChildRef(rbac, "ClusterRole", name), ChildRef(rbac, "ClusterRoleBinding", name))
    subjects = unique_subjects(members)
    if not subjects:
        return dict.fromkeys(refs)
    role = child(rbac, "ClusterRole", name, owner, labels={LABEL_PROJECT: owner.name})
    role["rules"] = [
        {
            "apiGroups": [GROUP],
            "resources": ["projects"],
            "resourceNames": [owner.name],
            "verbs": ["get", "watch"],
        }
    ]
    binding = child(rbac, "ClusterRoleBinding", name, owner, labels={LABEL_PROJECT: owner.name})
    binding["roleRef"] = {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": name,
    }
    binding["subjects"] = subjects
    return {refs[0]: role, refs[1]: binding}


def unique_subjects(members: list[ProjectMember]) -> list[Manifest]:
    """RBAC subjects for the members, each once whatever roles it holds, in spec order."""
    return [subject(kind, name) for kind, name in dict.fromkeys((m.kind, m.name) for m in members)]


def subject(kind: str, name: str) -> Manifest:
    return {"kind": kind, "name": name, "apiGroup": "rbac.authorization.k8s.io"}


def build_network_policy(owner: Owner, namespace: str) -> Manifest:
    """Isolate the project: its pods accept traffic only from pods of the same namespace.
    Servers are left to their SecurityGroups (build_servers_default_deny), which decide
    alone what reaches them, so the isolation policy does not select their pods."""
    policy = child(
        NETWORK_POLICY_API,
        "NetworkPolicy",
        ISOLATION_POLICY_NAME,
        owner,
        namespace,
        {LABEL_PROJECT: owner.name},
    )
    policy["spec"] = {
        "podSelector": {"matchExpressions": [{"key": LABEL_SERVER, "operator": "DoesNotExist"}]},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": namespace}
                        }
                    }
                ]
            }
        ],
    }
    return policy


def build_servers_default_deny(owner: Owner, namespace: str) -> Manifest:
    """Every Server of the Project receives and sends nothing but what one of its
    SecurityGroups allows: network policies add up, and this one allows nothing."""
    policy = child(
        NETWORK_POLICY_API,
        "NetworkPolicy",
        SERVERS_DEFAULT_DENY_NAME,
        owner,
        namespace,
        {LABEL_PROJECT: owner.name},
    )
    policy["spec"] = {
        "podSelector": {"matchExpressions": [{"key": LABEL_SERVER, "operator": "Exists"}]},
        "policyTypes": ["Ingress", "Egress"],
    }
    return policy


def build_default_security_group(owner: Owner, namespace: str) -> Manifest:
    """The Project's `default` SecurityGroup, made once: its members may edit its rules, as
    in Neutron, so Stratus creates it when it is missing and never writes it again."""
    group = child(API_VERSION, SECURITY_GROUP.kind, DEFAULT_GROUP, owner, namespace)
    group["spec"] = {
        "description": "Every Server's group unless it names others: all egress, and "
        "ingress from the group's own members.",
        "rules": default_group_rules(),
    }
    return group


def build_project_children(
    owner: Owner, namespace: str, quota: ProjectQuota, members: list[ProjectMember]
) -> Children:
    """Everything a Project keeps inside its namespace."""
    rbac = "rbac.authorization.k8s.io/v1"
    children: Children = {
        ChildRef("v1", "ResourceQuota", QUOTA_NAME, namespace): build_resource_quota(
            owner, namespace, quota
        ),
        ChildRef(NETWORK_POLICY_API, "NetworkPolicy", ISOLATION_POLICY_NAME, namespace): (
            build_network_policy(owner, namespace)
        ),
        ChildRef(NETWORK_POLICY_API, "NetworkPolicy", SERVERS_DEFAULT_DENY_NAME, namespace): (
            build_servers_default_deny(owner, namespace)
        ),
    }
    for role, binding in build_role_bindings(owner, namespace, members).items():
        children[ChildRef(rbac, "RoleBinding", role_binding_name(role), namespace)] = binding
    children.update(build_project_finder(owner, members))
    return children
