"""What the signed-in person may see and do, as the API server's RBAC tells them, so that the
console finds their Projects without any cluster-wide right and hides what they may not do.
The API server still decides every request: this only shapes the pages."""

from dataclasses import dataclass
from typing import Any

from stratus.constants import GROUP

ANY = "*"


@dataclass(frozen=True)
class Rule:
    verbs: frozenset[str]
    groups: frozenset[str]
    resources: frozenset[str]
    names: frozenset[str]

    def matches(self, verb: str, group: str, resource: str) -> bool:
        return (
            bool({verb, ANY} & self.verbs)
            and bool({group, ANY} & self.groups)
            and bool({resource, ANY} & self.resources)
        )


@dataclass(frozen=True)
class Permissions:
    """A SelfSubjectRulesReview's resource rules in one namespace, cluster-wide ones included.
    An incomplete review (an authorizer that cannot list its rules) allows everything here:
    the console then shows every action, and the API server refuses what it must."""

    rules: tuple[Rule, ...]
    incomplete: bool = False

    @classmethod
    def of(cls, review_status: dict[str, Any]) -> "Permissions":
        rules = tuple(
            Rule(
                frozenset(r.get("verbs") or ()),
                frozenset(r.get("apiGroups") or ()),
                frozenset(r.get("resources") or ()),
                frozenset(r.get("resourceNames") or ()),
            )
            for r in review_status.get("resourceRules") or ()
        )
        return cls(rules, bool(review_status.get("incomplete")))

    def can(self, verb: str, resource: str, group: str = GROUP) -> bool:
        """Whether `verb` is allowed on every object of `resource` here."""
        return self.incomplete or any(
            r.matches(verb, group, resource) and not r.names for r in self.rules
        )

    @property
    def administers(self) -> bool:
        """May see the cluster's nodes: the mark of an administrator, to whom the console
        shows its Admin pages."""
        return self.can("list", "nodes", group="")

    def named(self, verb: str, resource: str, group: str = GROUP) -> set[str]:
        """The objects of `resource` that rules naming them allow `verb` on: how a member
        finds their Projects, each one granted to them by name."""
        return {name for r in self.rules if r.matches(verb, group, resource) for name in r.names}
