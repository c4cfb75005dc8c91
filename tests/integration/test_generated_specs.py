"""Specs generated from each kind's CRD schema, as a property: whatever the real API server
admits (a server-side dry run), the operator reads as its model; whatever it refuses, it
refuses with a validation error, never a failure of its own rules. A sample of what it
admits is then created for real, and the operator takes each object to a Ready condition
and deletes it without a traceback or an orphan."""

import ipaddress
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes.client.exceptions import ApiException

from stratus.api import KINDS
from stratus.api.crd import Kind, build_crd
from stratus.api.project import PROJECT
from stratus.constants import API_VERSION
from stratus.core import kube
from stratus.core.errors import StratusError
from stratus.core.reconcile import parse_spec
from tests.integration.conftest import Cluster, Operator

USER_KINDS = [kind for kind in KINDS if not kind.record]
EXAMPLES = 100
"""Generated specs per kind: a few seconds of dry runs each."""
CREATED = 3
"""Admitted specs per kind created for real, the largest first: they touch the most."""
CHILD_KINDS = (
    "virtualmachines.kubevirt.io,datavolumes.cdi.kubevirt.io,persistentvolumeclaims,secrets,"
    "services,network-attachment-definitions.k8s.cni.cncf.io"
)
Schema = dict[str, Any]


def spec_schema(kind: Kind) -> Schema:
    schema: Schema = build_crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema["properties"]["spec"]


def rules_of(schema: Schema) -> str:
    return " ".join(rule["rule"] for rule in schema.get("x-kubernetes-validations", []))


QUANTITIES = st.from_regex(r"[0-9]{1,5}(\.[0-9])?(Ki|Mi|Gi|Ti|k|M|G|m)?", fullmatch=True)
ADDRESSES = st.ip_addresses().map(str)
NETWORKS = st.builds(
    lambda address, prefix: str(ipaddress.ip_network(f"{address}/{prefix}", strict=False)),
    st.ip_addresses(v=4),
    st.integers(8, 30),
) | st.ip_addresses(v=6).map(lambda a: str(ipaddress.ip_network(f"{a}/64", strict=False)))
TIMES = st.datetimes().map(lambda t: t.replace(microsecond=0).isoformat() + "Z")
WILD_TEXT = st.text(max_size=24) | st.sampled_from(["", " ", "\x00", "é", "a\nb", "-", "."])


def specs(kind: Kind) -> st.SearchStrategy[Any]:
    """Half the specs keep to what the schema declares, so that many are admitted; the other
    half may stray anywhere, so that refusals are exercised too."""
    schema = spec_schema(kind)
    return values(schema, wild=False) | values(schema, wild=True)


def values(schema: Schema, wild: bool) -> st.SearchStrategy[Any]:
    """Values of one schema node: what it declares (the regex of a pattern, the range of a
    number, an address where a CEL rule wants one) and, when `wild`, what it does not."""
    strategy = _declared(schema, wild)
    if schema.get("nullable"):
        strategy = strategy | st.none()
    return strategy


def _declared(schema: Schema, wild: bool) -> st.SearchStrategy[Any]:
    stray: st.SearchStrategy[Any] = WILD_TEXT if wild else st.nothing()
    if "enum" in schema:
        return st.sampled_from(schema["enum"]) | stray
    if schema.get("x-kubernetes-int-or-string"):
        return QUANTITIES | st.integers(0 if not wild else -2, 2**40) | stray
    kind = schema.get("type")
    if kind == "object":
        return _objects(schema, wild)
    if kind == "array":
        most, items = min(schema.get("maxItems", 4), 4), values(schema["items"], wild)
        unique = _identity if schema.get("x-kubernetes-list-type") == "set" else None
        lists = st.lists(items, min_size=schema.get("minItems", 0), max_size=most, unique_by=unique)
        return lists | st.lists(items, max_size=most + 1) if wild else lists
    if kind == "integer":
        low, high = schema.get("minimum", -(2**31)), schema.get("maximum", 2**31)
        return st.integers(low, high) | (st.sampled_from([low - 1, high + 1]) if wild else stray)
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        longest = schema.get("maxLength", 64)
        fitting = _strings(schema, rules_of(schema), longest)
        return fitting | stray | st.just("x" * (longest + 1)) if wild else fitting
    return st.nothing()


def _identity(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _strings(schema: Schema, rules: str, longest: int) -> st.SearchStrategy[str]:
    """Strings of the shape a pattern or a CEL rule asks for, read from the rule itself."""
    prefixes = re.findall(r"startsWith\('([^']*)'\)", rules)
    matches = re.search(r"matches\('((?:[^'\\]|\\.)*)'\)", rules)
    if "isCIDR" in rules:
        fitting: st.SearchStrategy[str] = NETWORKS
    elif "isIP" in rules:
        fitting = ADDRESSES
    elif "isQuantity" in rules:
        fitting = QUANTITIES
    elif schema.get("format") == "date-time":
        fitting = TIMES
    elif prefixes:
        fitting = st.builds(str.__add__, st.sampled_from(prefixes), st.text(PRINTABLE, max_size=40))
    elif matches:
        pattern = matches.group(1).replace("\\\\", "\\")
        fitting = st.from_regex(pattern, fullmatch=True, alphabet=PRINTABLE)
    elif "pattern" in schema:
        fitting = st.from_regex(schema["pattern"], fullmatch=True, alphabet=PRINTABLE)
    else:
        fitting = st.text(PRINTABLE, max_size=min(longest, 40))
    return fitting.filter(lambda text: len(text.encode()) <= longest)


PRINTABLE = st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs"))


def _objects(schema: Schema, wild: bool) -> st.SearchStrategy[dict[str, Any]]:
    properties = schema.get("properties", {})
    if not properties:
        extra = schema.get("additionalProperties")
        keys = st.from_regex(r"[a-z][a-z0-9./-]{0,20}", fullmatch=True)
        held = values(extra, wild) if extra else st.text(max_size=8)
        return st.dictionaries(keys, held, max_size=3)
    required = set(schema.get("required", []))
    children = {name: values(child, wild) for name, child in properties.items()}
    return st.fixed_dictionaries(
        {name: child for name, child in children.items() if name in required},
        optional={name: child for name, child in children.items() if name not in required},
    )


def manifest(kind: Kind, name: str, namespace: str, spec: Any) -> dict[str, Any]:
    metadata = {"name": name} | ({"namespace": namespace} if kind.scope == "Namespaced" else {})
    return {"apiVersion": API_VERSION, "kind": kind.kind, "metadata": metadata, "spec": spec}


def dry_run(body: dict[str, Any]) -> dict[str, Any] | ApiException:
    """What the API server would store, defaults applied; or how it refuses."""
    client = kube._dynamic_client()
    resource = kube._resource(API_VERSION, body["kind"])
    try:
        created: dict[str, Any] = client.create(
            resource, body=body, namespace=body["metadata"].get("namespace"), dry_run="All"
        ).to_dict()
    except ApiException as refusal:
        return refusal
    return created


@pytest.fixture(scope="module")
def project(cluster: Cluster, operator: Operator) -> Iterator[str]:
    """A Project to create the admitted specs in; it takes what is left with it."""
    created = f"generated-{uuid.uuid4().hex[:5]}"
    cluster.apply(manifest(PROJECT, created, "", {"deletionPolicy": "Cascade"}))
    cluster.wait(f"project/{created}", "condition=Ready")
    yield created
    cluster.kubectl("delete", "project", created, "--wait=false")


@pytest.mark.parametrize("kind", USER_KINDS, ids=[kind.kind for kind in USER_KINDS])
def test_what_the_api_server_admits_the_operator_handles(
    cluster: Cluster, operator: Operator, operator_client: None, project: str, kind: Kind
) -> None:
    admitted: list[dict[str, Any]] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(spec=specs(kind))
    def the_operator_reads_what_is_admitted(spec: Any) -> None:
        answer = dry_run(manifest(kind, f"generated-{kind.singular}", project, spec))
        if isinstance(answer, ApiException):
            refusal = json.loads(answer.body or "{}")
            assert answer.status == 422, refusal
            assert "no such key" not in refusal.get("message", ""), refusal["message"]
            return
        try:
            parse_spec(kind.spec, answer)
        except StratusError as error:
            pytest.fail(f"admitted but unreadable: {json.dumps(answer['spec'])}: {error}")
        admitted.append(answer["spec"])

    the_operator_reads_what_is_admitted()
    assert admitted, f"no generated {kind.kind} was admitted: the property proved nothing"
    reasons = create_for_real(cluster, operator, kind, project, admitted)
    print(f"{kind.kind}: {len(admitted)} generated specs admitted; created: {reasons}")


def create_for_real(
    cluster: Cluster, operator: Operator, kind: Kind, project: str, admitted: list[Any]
) -> list[str]:
    """The largest admitted specs as real objects: each gets Ready (True, or False with a
    reason), then goes without a finalizer left, an orphan, or a traceback in the log."""
    log_start = len(operator.session_log())
    names = [f"gen-{kind.singular}-{uuid.uuid4().hex[:5]}" for _ in range(CREATED)]
    largest = sorted(admitted, key=lambda spec: len(json.dumps(spec)), reverse=True)
    for name, spec in zip(names, largest, strict=False):
        # A generated namespace could be another test's: a Project's is its own name.
        own = {"namespace": name} if kind.kind == "Project" and "namespace" in spec else {}
        cluster.apply(manifest(kind, name, project, spec | own))
    where = ["-n", project] if kind.scope == "Namespaced" else []
    made = names[: len(largest)]
    bodies = [wait_for_ready_condition(cluster, kind, name, where) for name in made]
    uids = {body["metadata"]["uid"] for body in bodies}
    cluster.kubectl("delete", kind.plural, *made, *where, "--timeout=120s")
    if kind.kind == "Project":
        cluster.kubectl("delete", "namespace", *made, "--ignore-not-found", "--timeout=120s")
    children = json.loads(cluster.kubectl("get", CHILD_KINDS, "-A", "-o", "json").stdout)
    orphans = [
        f"{child['kind']}/{child['metadata']['name']}"
        for child in children["items"]
        if any(owner["uid"] in uids for owner in child["metadata"].get("ownerReferences", []))
    ]
    assert not orphans, orphans
    tracebacks = [line for line in operator.session_log()[log_start:] if "Traceback" in line]
    assert not tracebacks, tracebacks[0][:3000]
    return [ready_reason(body) for body in bodies]


def ready_reason(body: dict[str, Any]) -> str:
    return next(c["reason"] for c in body["status"]["conditions"] if c["type"] == "Ready")


def wait_for_ready_condition(
    cluster: Cluster, kind: Kind, name: str, where: list[str]
) -> dict[str, Any]:
    """The object once the operator has said whether it is Ready, and why."""
    reason = '{.status.conditions[?(@.type=="Ready")].reason}'
    cluster.kubectl(
        "wait", f"{kind.plural}/{name}", *where, f"--for=jsonpath={reason}", "--timeout=60s"
    )
    body = cluster.get(kind.plural, name, where[1] if where else None)
    assert body is not None
    assert body["status"]["observedGeneration"] == body["metadata"]["generation"], body
    return body
