"""The Stratus API: one pydantic model per kind, the single source of the CRDs."""

from stratus.api.backup import VOLUME_BACKUP
from stratus.api.bucket import BUCKET
from stratus.api.crd import Kind
from stratus.api.flavor import FLAVOR
from stratus.api.floatingip import FLOATING_IP
from stratus.api.image import IMAGE
from stratus.api.keypair import KEYPAIR
from stratus.api.loadbalancer import LOAD_BALANCER
from stratus.api.maintenance import HOST_MAINTENANCE
from stratus.api.network import NETWORK
from stratus.api.port import PORT
from stratus.api.project import PROJECT
from stratus.api.router import ROUTER
from stratus.api.securitygroup import SECURITY_GROUP
from stratus.api.server import SERVER
from stratus.api.servergroup import SERVER_GROUP
from stratus.api.snapshot import SNAPSHOT
from stratus.api.volume import VOLUME

KINDS: tuple[Kind, ...] = (
    PROJECT,
    FLAVOR,
    KEYPAIR,
    NETWORK,
    PORT,
    IMAGE,
    VOLUME,
    SNAPSHOT,
    SERVER_GROUP,
    SECURITY_GROUP,
    SERVER,
    HOST_MAINTENANCE,
    ROUTER,
    FLOATING_IP,
    LOAD_BALANCER,
    BUCKET,
    VOLUME_BACKUP,
)
