"""The Stratus API: one pydantic model per kind, the single source of the CRDs."""

from stratus.api.crd import Kind
from stratus.api.flavor import FLAVOR
from stratus.api.keypair import KEYPAIR
from stratus.api.network import NETWORK
from stratus.api.port import PORT
from stratus.api.project import PROJECT

KINDS: tuple[Kind, ...] = (PROJECT, FLAVOR, KEYPAIR, NETWORK, PORT)
