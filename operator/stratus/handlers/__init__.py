"""Kopf handlers, one module per kind; importing this package registers them all."""

from stratus.handlers import (
    children,
    flavor,
    image,
    keypair,
    network,
    placement,
    project,
    server,
    servergroup,
    settings,
    snapshot,
    volume,
)

__all__ = [
    "children",
    "flavor",
    "image",
    "keypair",
    "network",
    "placement",
    "project",
    "server",
    "servergroup",
    "settings",
    "snapshot",
    "volume",
]
