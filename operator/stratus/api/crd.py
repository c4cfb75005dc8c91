"""Turns the pydantic models of each kind into a structural CustomResourceDefinition."""

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from stratus.constants import CATEGORY, GROUP, VERSION

JSON = dict[str, Any]
RULES = "x-kubernetes-validations"


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    json_path: str
    type: Literal["string", "integer", "number", "boolean", "date"] = "string"
    priority: int = 0


READY_COLUMN = PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status')
PHASE_COLUMN = PrinterColumn("Phase", ".status.phase")
AGE_COLUMN = PrinterColumn("Age", ".metadata.creationTimestamp", "date")


@dataclass(frozen=True)
class Kind:
    """Everything the API server needs to know about one Stratus kind."""

    kind: str
    plural: str
    scope: Literal["Cluster", "Namespaced"]
    short_names: tuple[str, ...]
    spec: type[BaseModel]
    status: type[BaseModel]
    description: str
    columns: tuple[PrinterColumn, ...] = ()
    rules: tuple[JSON, ...] = field(default=())
    """CEL rules on the whole object (they may read metadata.name)."""
    record: bool = False
    """A record Stratus writes for itself (a Port): not in `kubectl get stratus`, no Ready."""

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


NAME_LENGTH_RULE: JSON = {
    "rule": "size(self.metadata.name) <= 63",
    "message": "a name has at most 63 characters: Stratus labels every child with its owner's "
    "name, and a label value holds no more",
}


def build_crd(kind: Kind) -> JSON:
    """The CustomResourceDefinition of one kind, as the API server and `kubectl explain` see it."""
    schema: JSON = {
        "type": "object",
        "description": kind.description,
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": structural_schema(kind.spec),
            "status": structural_schema(kind.status),
        },
        "required": ["spec"],
    }
    rules = [*(() if kind.record else (NAME_LENGTH_RULE,)), *kind.rules]
    if rules:
        schema["x-kubernetes-validations"] = rules
    columns = (*kind.columns, AGE_COLUMN)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": kind.crd_name},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": list(kind.short_names),
                "categories": [] if kind.record else [CATEGORY],
            },
            "scope": kind.scope,
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [_printer_column(c) for c in columns],
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def _printer_column(column: PrinterColumn) -> JSON:
    rendered: JSON = {"name": column.name, "type": column.type, "jsonPath": column.json_path}
    if column.priority:
        rendered["priority"] = column.priority
    return rendered


def structural_schema(model: type[BaseModel]) -> JSON:
    """Pydantic's JSON schema rewritten into the structural subset the API server accepts."""
    raw = model.model_json_schema(by_alias=True)
    definitions = raw.pop("$defs", {})
    return _structural(raw, definitions)


def _structural(node: JSON, definitions: JSON) -> JSON:
    node = dict(node)
    if "$ref" in node:
        node = _merged(_definition(node.pop("$ref"), definitions), node)
    if "allOf" in node and len(node["allOf"]) == 1:
        node = _merged(_structural(node.pop("allOf")[0], definitions), node)
    if "anyOf" in node:
        node = _without_null_branch(node, definitions)
    if "const" in node:
        node["enum"] = [node.pop("const")]
    node.pop("title", None)
    if node.get("default", 0) is None:
        del node["default"]
    if "properties" in node:
        node["type"] = "object"
        node["properties"] = {
            name: _structural(child, definitions) for name, child in node["properties"].items()
        }
    if isinstance(node.get("items"), dict):
        node["items"] = _structural(node["items"], definitions)
    if isinstance(node.get("additionalProperties"), dict):
        node["additionalProperties"] = _structural(node["additionalProperties"], definitions)
    if node.get("additionalProperties") is False:
        del node["additionalProperties"]
    return node


def _merged(model: JSON, field: JSON) -> JSON:
    """A field's schema over its type's: the field's keys win, but CEL rules of both apply."""
    rules = [*model.get(RULES, []), *field.get(RULES, [])]
    merged = {**model, **field}
    if rules:
        merged[RULES] = rules
    return merged


def _definition(reference: str, definitions: JSON) -> JSON:
    name = reference.rsplit("/", 1)[-1]
    return _structural(definitions[name], definitions)


def _without_null_branch(node: JSON, definitions: JSON) -> JSON:
    """`X | None` becomes X with `nullable: true`; a real union (int-or-string) stays."""
    branches = [b for b in node["anyOf"] if b != {"type": "null"}]
    nullable = len(branches) < len(node["anyOf"])
    if len(branches) == 1:
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        node = _merged(_structural(branches[0], definitions), rest)
    else:
        node["anyOf"] = branches
    if nullable:
        node["nullable"] = True
    return node
