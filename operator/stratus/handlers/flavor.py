"""Flavor handlers: keep the KubeVirt cluster instancetype in step with the Flavor."""

from typing import Any

import kopf

from stratus.api.flavor import FLAVOR, FlavorSpec
from stratus.builders.kubevirt import build_cluster_instancetype
from stratus.builders.meta import ChildRef, Children, Owner
from stratus.constants import GROUP, VERSION
from stratus.core import kube
from stratus.core.indexes import index
from stratus.core.parents import Parent, own_pass, register
from stratus.core.reconcile import Outcome, parse_spec


@kopf.on.resume(GROUP, VERSION, FLAVOR.plural)
@kopf.on.create(GROUP, VERSION, FLAVOR.plural)
@kopf.on.update(GROUP, VERSION, FLAVOR.plural)
def flavor_changed(body: kopf.Body, **_: Any) -> None:
    own_pass(FLAVOR, body, ensure_flavor)


def flavor_children(body: kopf.Body) -> Children:
    instancetype = build_cluster_instancetype(Owner.of(body), parse_spec(FlavorSpec, body))
    return {ChildRef.of(instancetype): instancetype}


def ensure_flavor(body: kopf.Body) -> Outcome:
    children = flavor_children(body)
    (instancetype,) = children
    kube.sync(children)
    return Outcome(
        phase="Active",
        message=f"instancetype {instancetype.name} is ready",
        fields={"instancetype": instancetype.name},
    )


@index(GROUP, VERSION, FLAVOR.plural)
def flavors_by_name(name: str, body: kopf.Body, **_: Any) -> dict[str, kopf.Body]:
    return {name: body}


PARENT = Parent(
    FLAVOR, flavors_by_name, flavor_children, ensure_flavor, waiting_phase=lambda _: "Pending"
)
register(PARENT)
