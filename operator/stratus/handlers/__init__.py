"""Kopf handlers, one module per kind; importing this package registers them all."""

from stratus.handlers import flavor, project, settings

__all__ = ["flavor", "project", "settings"]
