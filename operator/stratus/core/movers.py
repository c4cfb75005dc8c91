"""Mover pods of one volume's backups in one Bucket, started one kind at a time: a removal
collects the chunks no manifest lists, so it must never run beside a backup (whose manifest
is written last) or a restore (which reads the chunks)."""

from stratus.builders.backup import LABEL_ACTION, LABEL_STORE
from stratus.builders.meta import Manifest
from stratus.constants import LABEL_KIND, LABEL_NAME
from stratus.core import kube
from stratus.core.errors import DependencyNotReady
from stratus.core.workqueue import hold
from stratus.status.mover import mover_result


class StoreBusy(DependencyNotReady):
    """Another mover of the same backups runs; its pod's end starts this one at once."""

    retry_after = 120.0


def _conflicts(action: str, other: str) -> bool:
    return "remove" in (action, other)


def start_mover(pod: Manifest) -> None:
    """Create or keep the mover pod, unless a conflicting one of the same store runs. The
    check and the create hold the store's key, so two passes never both start."""
    metadata = pod["metadata"]
    namespace, labels = metadata["namespace"], metadata["labels"]
    action = labels[LABEL_ACTION]
    with hold(f"backup-store/{namespace}/{labels[LABEL_STORE]}"):
        if kube.read("v1", "Pod", metadata["name"], namespace) is None:
            selector = f"{LABEL_STORE}={labels[LABEL_STORE]}"
            for other in kube.list_objects("v1", "Pod", namespace, selector):
                other_labels = other["metadata"]["labels"]
                other_action = other_labels.get(LABEL_ACTION, "")
                owner = (other_labels.get(LABEL_KIND), other_labels.get(LABEL_NAME))
                if owner == (labels[LABEL_KIND], labels[LABEL_NAME]):
                    continue  # the same owner's: a deleted backup's own pod, say
                if _conflicts(action, other_action) and not mover_result(other).finished:
                    raise StoreBusy(
                        "WaitingForMover",
                        f"waiting for {other_action} pod {other['metadata']['name']} of the "
                        "same volume's backups to finish",
                    )
        kube.converge(pod)
