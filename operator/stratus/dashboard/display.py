"""How the console writes what the API holds, for people: sizes, ages, states and quota."""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from stratus.core.units import amount

GOOD_PHASES = frozenset({"Active", "Available", "InUse", "Ready"})
BAD_PHASES = frozenset({"Error"})


def size(value: object) -> str:
    """A quantity or a number of bytes as people read it: `2.2 GiB`; `-` for what is not
    there (None, or a template's undefined value)."""
    text = "" if value is None else str(value)
    if not text:
        return "-"
    number = amount(text)
    for unit, factor in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if number >= factor:
            return f"{number / factor:.1f} {unit}".replace(".0 ", " ")
    return f"{number} B"


def age(timestamp: object) -> str:
    """How long ago, as kubectl writes it: `45s`, `12m`, `3h`, `5d`."""
    text = "" if timestamp is None else str(timestamp)
    if not text:
        return "-"
    then = datetime.fromisoformat(text.replace("Z", "+00:00"))
    seconds = max(0, int((datetime.now(UTC) - then).total_seconds()))
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= length:
            return f"{seconds // length}{unit}"
    return f"{seconds}s"


def state(phase: str | None) -> str:
    """The class a phase is drawn with: good, bad, or on its way."""
    if phase in GOOD_PHASES:
        return "good"
    if phase in BAD_PHASES:
        return "bad"
    return "busy"


@dataclass(frozen=True)
class Gauge:
    """One quota: how much is used of how much is allowed (None: unlimited)."""

    key: str
    title: str
    used: float
    limit: float | None
    unit: str = ""

    @property
    def left(self) -> float | None:
        return None if self.limit is None else max(0.0, self.limit - self.used)

    def text(self, value: float | None) -> str:
        if value is None:
            return "unlimited"
        shown = f"{value:.1f}".removesuffix(".0")
        return f"{shown} {self.unit}".strip()


QUOTAS = (
    ("servers", "Servers", ""),
    ("cores", "vCPUs", ""),
    ("memory", "RAM", "GiB"),
    ("volumes", "Volumes", ""),
    ("storage", "Storage", "GiB"),
    ("networks", "Networks", ""),
    ("buckets", "Buckets", ""),
    ("floatingIps", "Floating IPs", ""),
    ("loadBalancers", "Load balancers", ""),
)


def _number(value: Any, unit: str) -> float:
    if value is None:
        return 0.0
    parsed: Decimal = amount(value)
    return float(parsed / 2**30) if unit == "GiB" else float(parsed)


def gauges(project: dict[str, Any]) -> list[Gauge]:
    """The Project's quota and usage, one gauge per quota, as Horizon's overview draws them."""
    quota = (project.get("spec") or {}).get("quota") or {}
    usage = (project.get("status") or {}).get("usage") or {}
    return [
        Gauge(
            key,
            title,
            _number(usage.get(key), unit),
            None if quota.get(key) is None else _number(quota[key], unit),
            unit,
        )
        for key, title, unit in QUOTAS
    ]


FILTERS = {"size": size, "age": age, "state": state}


@dataclass(frozen=True)
class Need:
    """What one more object would take of a quota, and whether it still fits."""

    gauge: Gauge
    adds: float

    @property
    def fits(self) -> bool:
        return self.gauge.limit is None or self.gauge.used + self.adds <= self.gauge.limit


def launch_needs(project: dict[str, Any], flavor: dict[str, Any] | None) -> list[Need]:
    """What launching one Server of `flavor` takes of the Project's server, vCPU and RAM
    quotas, as the operator will count it when it admits the Server."""
    spec = (flavor or {}).get("spec") or {}
    adds = {"servers": 1.0, "cores": float(spec.get("vcpus") or 0), "memory": 0.0}
    if spec.get("memory"):
        adds["memory"] = _number(spec["memory"], "GiB")
    return [Need(g, adds[g.key]) for g in gauges(project) if g.key in adds]
