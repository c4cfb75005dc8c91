"""A Volume deleted while a Server attaches it: exactly one of them wins, and cleanly. The
Server decides and writes its attachment holding the Volume's attachment key, and the
Volume's deletion checks for attachments holding the same key."""

import threading
from typing import Any

import kopf
import pytest

from stratus.api.server import ServerSpec
from stratus.builders.meta import Owner
from stratus.core import indexes
from stratus.core.errors import DependencyNotReady, WaitingForEvent
from stratus.core.workqueue import hold_all
from stratus.handlers.server import attachable, exclusive_keys
from stratus.handlers.volume import release_volume
from tests.unit.fakekube import FakeKube

SERVER = Owner("Server", "web", "uid-web", "acme")
SPEC = ServerSpec.model_validate({"flavor": "m1", "image": "cirros", "volumes": ["data"]})


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeKube:
    fake = FakeKube().install(monkeypatch)
    monkeypatch.setattr(indexes, "_bound", {"copies_by_source": {}})
    fake.add(
        {
            "apiVersion": "stratus.io/v1alpha1",
            "kind": "Volume",
            "metadata": {"name": "data", "namespace": "acme"},
            "spec": {"size": "1Gi"},
            "status": {"phase": "Available", "claimName": "data"},
        }
    )
    return fake


def attaching_machine() -> dict[str, Any]:
    volume = {"name": "disk-data", "persistentVolumeClaim": {"claimName": "data"}}
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": "web", "namespace": "acme"},
        "spec": {"template": {"spec": {"volumes": [volume]}}},
    }


def volume_body(api: FakeKube) -> kopf.Body:
    return kopf.Body(api.read("stratus.io/v1alpha1", "Volume", "data", "acme"))


def test_a_deletion_checking_while_a_server_attaches_waits_and_then_sees_the_attachment(
    api: FakeKube,
) -> None:
    checked, attach = threading.Event(), threading.Event()
    outcome: list[Any] = []

    def server_pass() -> None:
        with hold_all(exclusive_keys("acme", SPEC)):
            attachable(SERVER, "data", "VolumeNotReady")
            checked.set()
            attach.wait(5)
            api.add(attaching_machine())

    def deletion() -> None:
        try:
            outcome.append(release_volume(volume_body(api)))
        except WaitingForEvent as error:
            outcome.append(error)

    attaching = threading.Thread(target=server_pass)
    attaching.start()
    assert checked.wait(5)
    api.get("Volume", "data", "acme")["metadata"]["deletionTimestamp"] = "now"  # type: ignore[index]
    deleting = threading.Thread(target=deletion)
    deleting.start()
    deleting.join(0.3)
    assert deleting.is_alive(), "the deletion decided while the attachment was being made"
    attach.set()
    attaching.join(5)
    deleting.join(5)
    (result,) = outcome
    assert isinstance(result, WaitingForEvent)
    assert result.reason == "VolumeInUse"
    assert result.message == "Volume data is attached to web; detach it first"


def test_a_server_attaching_after_the_deletion_began_is_refused(api: FakeKube) -> None:
    api.get("Volume", "data", "acme")["metadata"]["deletionTimestamp"] = "now"  # type: ignore[index]
    release_volume(volume_body(api))
    with hold_all(exclusive_keys("acme", SPEC)), pytest.raises(DependencyNotReady) as refused:
        attachable(SERVER, "data", "VolumeNotReady")
    assert refused.value.message == "Volume data is being deleted"
