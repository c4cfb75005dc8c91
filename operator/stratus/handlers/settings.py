"""Operator-wide Kopf settings, set once at startup."""

import logging
import os
from collections.abc import Iterable
from typing import Any

import kopf
from prometheus_client import start_http_server

from stratus.constants import FINALIZER, GROUP
from stratus.core import indexes, kube


class GenerationDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """Kopf's record of the last spec it handed over, with its generation. A pass reads the
    object as it is by then, which may be a newer spec than the one Kopf handed over; were the
    spec to go back at once to that older one, Kopf would see nothing new, and the object would
    keep what was made of the spec in between. With the generation, every change of the spec
    is one."""

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[kopf.FieldSpec] | None = None
    ) -> kopf.BodyEssence:
        return super().build(body=body, extra_fields=[*(extra_fields or []), "metadata.generation"])


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **kwargs: Any) -> None:
    # Kopf hands its (still empty, then live) indexes to startup handlers too.
    indexes.bind(kwargs)
    # Kopf's bookkeeping lives under Stratus's own group, not kopf.zalando.org.
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = GenerationDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    # Only warnings from Kopf's own logs become Events; Stratus posts its own transitions.
    settings.posting.level = logging.WARNING
    settings.execution.max_workers = kube.HANDLER_THREADS
    metrics_port = int(os.environ.get("STRATUS_METRICS_PORT", "0"))
    if metrics_port:
        start_http_server(metrics_port, addr=os.environ.get("STRATUS_METRICS_ADDRESS", "0.0.0.0"))
