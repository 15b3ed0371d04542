"""How numbers of a job's status read to a person: ``kubectl get trainingjobs`` shows these strings (the status
carries them, as Kubernetes printer columns cannot format numbers)."""

from __future__ import annotations


def percent_text(percentage: float) -> str:
    """``42%``: progress as a whole percent, rounded down so that 100% means done."""
    return f"{int(percentage)}%"


def loss_text(loss: float) -> str:
    """``0.1235``: four significant digits."""
    return f"{loss:.4g}"


def money_text(amount: float) -> str:
    """``$1,234.57``: an amount of US dollars, to the cent."""
    return f"${amount:,.2f}"
