"""Kopf handlers, one module per kind; importing this package registers them all."""

from stratus.handlers import children, flavor, keypair, project, settings

__all__ = ["children", "flavor", "keypair", "project", "settings"]
