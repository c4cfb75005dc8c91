"""Flavor handlers: keep the KubeVirt cluster instancetype in step with the Flavor."""

from typing import Any

import kopf

from stratus.api.flavor import FLAVOR, FlavorSpec
from stratus.builders.kubevirt import build_cluster_instancetype
from stratus.builders.meta import Owner
from stratus.constants import GROUP, VERSION
from stratus.core import kube
from stratus.core.reconcile import Outcome, parse_spec, reconcile


@kopf.on.resume(GROUP, VERSION, FLAVOR.plural)
@kopf.on.create(GROUP, VERSION, FLAVOR.plural)
@kopf.on.update(GROUP, VERSION, FLAVOR.plural)
def flavor_changed(body: kopf.Body, **_: Any) -> None:
    reconcile(FLAVOR, body, lambda: ensure_flavor(body), error_phase="Pending")


def ensure_flavor(body: kopf.Body) -> Outcome:
    spec = parse_spec(FlavorSpec, body)
    instancetype = kube.apply(build_cluster_instancetype(Owner.of(body), spec))
    name = instancetype["metadata"]["name"]
    return Outcome(
        phase="Active", message=f"instancetype {name} is ready", fields={"instancetype": name}
    )
