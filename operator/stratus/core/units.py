"""Kubernetes quantities as numbers and back, for quota sums and placement."""

from decimal import Decimal

from kubernetes.utils.quantity import parse_quantity


def amount(text: str | int) -> Decimal:
    """A Kubernetes quantity as a number (the kubernetes package leaves this untyped)."""
    parsed: Decimal = parse_quantity(text)  # type: ignore[no-untyped-call]
    return parsed


def gibibytes(amount: Decimal) -> str:
    return f"{amount / 2**30:.1f}Gi"


def quantity(amount: Decimal) -> str:
    """Bytes as the largest binary unit that holds them exactly, as Kubernetes writes them."""
    for suffix, factor in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if amount and amount % factor == 0:
            return f"{amount // factor}{suffix}"
    return str(amount)
