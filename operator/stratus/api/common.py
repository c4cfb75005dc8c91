"""Schema pieces every kind shares: conditions, quantities and the base models."""

from typing import Annotated, Any, Literal

from pydantic import AliasGenerator, BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

QUANTITY_JSON_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "integer"}, {"type": "string"}],
    "x-kubernetes-int-or-string": True,
    "x-kubernetes-validations": [
        {
            "rule": "type(self) == int || isQuantity(self)",
            "message": "must be a Kubernetes quantity such as 20Gi or 512Mi",
        },
        {
            "rule": "type(self) == int ? self >= 0"
            " : !isQuantity(self) || !quantity(self).isLessThan(quantity('0'))",
            "message": "must not be negative",
        },
    ],
}

Quantity = Annotated[int | str, WithJsonSchema(QUANTITY_JSON_SCHEMA)]
"""A Kubernetes resource quantity (``64Gi``), validated by the API server with CEL."""


def rule(expression: str, message: str) -> JsonDict:
    """A CEL validation rule and the message the API server answers with when it fails."""
    return {"rule": expression, "message": message}


def validations(*rules: JsonDict) -> JsonDict:
    """Schema extras carrying CEL rules, for a field's or a model's json_schema_extra."""
    return {"x-kubernetes-validations": list(rules)}


def immutable(what: str) -> JsonDict:
    return rule("self == oldSelf", f"{what} is immutable")


QUOTA_ADMITTED = "QuotaAdmitted"
"""The condition of a kind whose objects are admitted against a Project's quota on sums."""

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class Model(BaseModel):
    """Base of every API model: camelCase on the wire, unknown fields kept out."""

    model_config = ConfigDict(
        alias_generator=AliasGenerator(alias=to_camel),
        populate_by_name=True,
        extra="ignore",
    )


class Condition(Model):
    """A condition in the Kubernetes API convention."""

    type: str = Field(description="Type of condition, for example Ready.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(
        description="Machine-readable CamelCase reason for the last transition.",
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        max_length=1024,
    )
    message: str = Field(default="", description="Human-readable details.", max_length=32768)
    last_transition_time: str = Field(
        description="When status last changed.", json_schema_extra={"format": "date-time"}
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="The .metadata.generation the condition was set for."
    )


Conditions = Annotated[
    list[Condition],
    Field(
        default_factory=list,
        description="Observations of the object's state; Ready is always present once seen.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    ),
]


class Status(Model):
    """Fields every kind's status carries, as kstatus and `kubectl wait` expect."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="The .metadata.generation last reconciled."
    )
    phase: str | None = Field(default=None, description="A one-word summary of the lifecycle.")
    conditions: Conditions
