"""What must hold once the soak's faults stop, each counted by code from what the API server
and the object store say: 0 is the only passing count."""

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from minio import Minio, MinioAdmin
from minio.credentials.providers import StaticProvider

from devcluster.cluster import MINIO_PASSWORD, MINIO_USER, State, kubectl
from soak.churn import LABEL, READY, Manifest, expected_reasons
from stratus.builders.meta import read_secret_value
from stratus.core.quota import tally

STRATUS_KINDS = [
    "servers", "volumes", "snapshots", "buckets", "keypairs", "servergroups", "securitygroups",
    "floatingips", "loadbalancers", "images", "networks", "routers", "projects", "flavors",
]  # fmt: skip
STRATUS_RESOURCES = ",".join(f"{plural}.stratus.io" for plural in STRATUS_KINDS)
"""Every Stratus kind, as one kubectl argument."""
CHILD_KINDS = [
    "virtualmachines.kubevirt.io", "virtualmachineinstances.kubevirt.io",
    "datavolumes.cdi.kubevirt.io", "persistentvolumeclaims", "secrets", "services", "pods",
    "network-attachment-definitions.k8s.cni.cncf.io", "ports.stratus.io",
]  # fmt: skip


TALLIES = frozenset({"objects", "secretsWatched"})
"""Counts of what was checked, not of breaches: every other count must be 0."""


def breached(counts: dict[str, int]) -> dict[str, int]:
    return {name: value for name, value in counts.items() if name not in TALLIES and value}


@dataclass
class Deleted:
    """What the churn deleted that lives outside Kubernetes: buckets and their users."""

    buckets: set[str] = field(default_factory=set)
    access_keys: set[str] = field(default_factory=set)


def listed(state: State, kinds: list[str]) -> list[Manifest]:
    items: list[Manifest] = json.loads(kubectl(state, "get", ",".join(kinds), "-A", "-o", "json"))[
        "items"
    ]
    return items


def key(body: Manifest) -> tuple[str, str, str]:
    return body["kind"], body["metadata"].get("namespace", ""), body["metadata"]["name"]


def outcome(body: Manifest) -> str:
    """READY, or the reason of Ready=False; "Unobserved" while the spec is not handled."""
    status = body.get("status") or {}
    if status.get("observedGeneration") != body["metadata"].get("generation"):
        return "Unobserved"
    for condition in status.get("conditions") or []:
        if condition["type"] == "Ready":
            return READY if condition["status"] == "True" else str(condition.get("reason"))
    return "NoReadyCondition"


def count(
    state: State,
    wanted: dict[tuple[str, str, str], Manifest],
    deleted: Deleted,
    log: str,
    secrets: set[str],
) -> tuple[dict[str, int], list[str]]:
    """The invariant counts, and a line for each breach."""
    stratus = {key(b): b for b in listed(state, STRATUS_KINDS)}
    children = [
        c for c in listed(state, CHILD_KINDS) if c["metadata"]["namespace"].startswith("soak-")
    ]
    uids = {b["metadata"]["uid"] for b in [*stratus.values(), *children]}
    breaches: list[str] = []

    for wanted_key, manifest in wanted.items():
        body = stratus.get(wanted_key)
        got = outcome(body) if body else "Missing"
        if got not in expected_reasons(manifest):
            breaches.append(f"unconverged: {'/'.join(wanted_key)} is {got}")
    unconverged = len(breaches)

    ours = [b for k, b in stratus.items() if LABEL in (b["metadata"].get("labels") or {})]
    stuck = [b for b in ours if key(b) not in wanted]
    breaches += [f"not gone: {'/'.join(key(b))} {b['metadata'].get('finalizers')}" for b in stuck]

    orphans = []
    for child in children:
        owners = child["metadata"].get("ownerReferences") or []
        managed = (child["metadata"].get("labels") or {}).get("app.kubernetes.io/managed-by")
        # A Port names its holder instead of an owner: the leaked-address count is its check.
        unowned = managed and not owners and child["kind"] != "Port"
        if (owners and not any(o["uid"] in uids for o in owners)) or unowned:
            orphans.append(child)
    breaches += [f"orphan: {'/'.join(key(c))}" for c in orphans]

    leaked = [
        port for port in listed(state, ["ports.stratus.io"])
        if tuple(port["spec"]["holder"].split("/", 2)) not in stratus
        and port["spec"]["holder"].split("/", 2)[1].startswith("soak-")
    ]  # fmt: skip
    breaches += [
        f"leaked address: {p['spec']['address']} held by {p['spec']['holder']}" for p in leaked
    ]

    machines = Counter(
        (c["metadata"]["namespace"], (c["metadata"].get("labels") or {}).get("stratus.io/server"))
        for c in children
        if c["kind"] == "Pod" and (c.get("status") or {}).get("phase") in ("Pending", "Running")
        and (c["metadata"].get("labels") or {}).get("kubevirt.io") == "virt-launcher"
    )  # fmt: skip
    duplicates = [m for m, n in machines.items() if n > 1]
    breaches += [f"duplicate instances: {m}" for m in duplicates]

    usage = _usage_mismatches(stratus)
    breaches += usage
    store_orphans = _store_orphans(state, deleted)
    breaches += store_orphans
    tracebacks = log.count("Traceback (most recent call last)")
    breaches += [
        f"traceback: {line[-600:]}"
        for line in log.splitlines()
        if "Traceback (most recent call last)" in line
    ]
    watched = secrets | _bucket_secret_keys(children)
    leaks = _secret_leaks(state, stratus, watched, log)
    breaches += leaks
    counts = {
        "objects": len(wanted),
        "unconverged": unconverged,
        "stuckFinalizers": len(stuck),
        "orphanChildren": len(orphans) + len(store_orphans),
        "duplicateVMs": len(duplicates),
        "leakedAddresses": len(leaked),
        "usageMismatches": len(usage),
        "tracebacks": tracebacks,
        "leakedSecrets": len(leaks),
        "secretsWatched": len(watched),
    }
    return counts, breaches


def _usage_mismatches(stratus: dict[tuple[str, str, str], Manifest]) -> list[str]:
    """Each soak Project's reported usage against a recount of what its namespace holds."""
    found = []
    for (kind, _, name), body in stratus.items():
        if kind == "Project" and name.startswith("soak-"):
            held: dict[str, list[Manifest]] = {}
            for (other, namespace, _), item in stratus.items():
                if namespace == name:
                    held.setdefault(other, []).append(item)
            reported, recount = (body.get("status") or {}).get("usage"), tally(held)
            if reported != recount:
                found.append(f"usage of {name}: reported {reported}, recounted {recount}")
    return found


def _store_orphans(state: State, deleted: Deleted) -> list[str]:
    """Buckets and users the store still has for Buckets the churn deleted."""
    endpoint = state.endpoints()["minio"].removeprefix("http://")
    s3 = Minio(endpoint, MINIO_USER, MINIO_PASSWORD, secure=False)
    admin = MinioAdmin(
        endpoint=endpoint, credentials=StaticProvider(MINIO_USER, MINIO_PASSWORD), secure=False
    )
    buckets = {b.name for b in s3.list_buckets()} & deleted.buckets
    users: dict[str, Any] = json.loads(admin.user_list())
    keys = set(users) & deleted.access_keys
    return [f"store bucket left: {b}" for b in sorted(buckets)] + [
        f"store user left: {k}" for k in sorted(keys)
    ]


def _bucket_secret_keys(children: list[Manifest]) -> set[str]:
    """The secret keys the store issued to Buckets, as their credential Secrets hold them."""
    return {
        read_secret_value(child["data"]["secretKey"])
        for child in children
        if child["kind"] == "Secret" and "secretKey" in (child.get("data") or {})
    }


def _secret_leaks(
    state: State, stratus: dict[tuple[str, str, str], Manifest], secrets: set[str], log: str
) -> list[str]:
    """Where a secret shows that only its Secret should hold: the operator's log, an Event
    (of any namespace), a status of a Stratus object."""
    places = {
        "the operator log": log,
        "an Event": kubectl(state, "get", "events", "-A", "-o", "json"),
        **{f"the status of {'/'.join(k)}": json.dumps(b.get("status")) for k, b in stratus.items()},
    }
    return [
        f"a secret in {place}"
        for value in sorted(secrets)
        for place, text in places.items()
        if value in text
    ]
