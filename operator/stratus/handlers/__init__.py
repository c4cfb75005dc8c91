"""Kopf handlers, one module per kind; importing this package registers them all."""

from stratus.handlers import (
    bucket,
    children,
    flavor,
    image,
    keypair,
    network,
    placement,
    project,
    quota,
    securitygroup,
    server,
    servergroup,
    settings,
    snapshot,
    volume,
)

__all__ = [
    "bucket",
    "children",
    "flavor",
    "image",
    "keypair",
    "network",
    "placement",
    "project",
    "quota",
    "securitygroup",
    "server",
    "servergroup",
    "settings",
    "snapshot",
    "volume",
]
