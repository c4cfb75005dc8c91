"""`python -m devcluster.simulator --kubeconfig PATH --data-dir DIR`: run the data-plane
simulator (see __init__), keeping the volumes' bytes under DIR.

One standalone Kopf process, cluster-wide, whose bookkeeping (finalizer, annotations) lives
under its own prefix so that it never mixes with the Stratus operator's.
"""

import argparse
import logging
import os
from pathlib import Path
from typing import Any

import kopf

from devcluster.simulator import (
    cdi,
    contents,
    kube,
    kubevirt,
    migration,
    movers,
    snapshots,
    storage,
)

PREFIX = "simulator.devcluster.stratus.io"
HANDLER_MODULES = (
    storage,
    snapshots,
    cdi,
    kubevirt,
    migration,
    movers,
)  # importing them registers their handlers


class QuietSuccess(logging.Filter):
    """Drops Kopf's line per handled event; the handlers log what they change themselves."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Handler ") and message.endswith(" succeeded."))


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.finalizer = f"{PREFIX}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=PREFIX, key="last-handled-configuration"
    )
    # Upstream controllers post their own Events; Kopf's log lines are not theirs to post.
    settings.posting.enabled = False
    settings.execution.max_workers = 16
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """Kopf connects with the same kubeconfig as the handlers' client."""
    info: kopf.ConnectionInfo | None = kopf.login_with_kubeconfig(**kwargs)
    return info


def main() -> None:
    parser = argparse.ArgumentParser(prog="devcluster.simulator", description=__doc__)
    parser.add_argument("--kubeconfig", required=True, help="the local cluster's kubeconfig")
    parser.add_argument(
        "--data-dir", type=Path, required=True, help="where the volumes' bytes are kept"
    )
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    os.environ["KUBECONFIG"] = args.kubeconfig
    kube.configure(args.kubeconfig)
    contents.configure(args.data_dir)
    kopf.configure(verbose=args.verbose)
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    logging.getLogger("kopf.objects").addFilter(QuietSuccess())
    kopf.run(standalone=True, clusterwide=True)


if __name__ == "__main__":
    main()
