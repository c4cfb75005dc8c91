"""Names shared by the API, the builders and the handlers, defined once."""

GROUP = "stratus.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "stratus"

FIELD_MANAGER = "stratus"
FINALIZER = f"{GROUP}/finalizer"

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "stratus"
LABEL_KIND = f"{GROUP}/kind"
LABEL_NAME = f"{GROUP}/name"
LABEL_NAMESPACE = f"{GROUP}/namespace"
LABEL_PROJECT = f"{GROUP}/project"

TENANT_ROLES = ("admin", "member", "reader")


def tenant_cluster_role(role: str) -> str:
    """The ClusterRole a Project member's role is bound to."""
    return f"stratus:{role}"
