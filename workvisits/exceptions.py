"""What a write refuses beyond the rules: the API answers each with its status and error entry."""

from __future__ import annotations

from . import rules


class OrderConflict(Exception):
    """The order's state (or a concurrent change) forbids the action: HTTP 409, naming `property`."""

    def __init__(self, message: str, property: str = "orderId"):  # noqa: A002 (the error entry's key)
        self.message, self.property = message, property
        super().__init__(message)


class OrderNotFound(Exception):
    """No such order for this user: HTTP 404."""


class OrderChangeDenied(rules.RuleViolation):
    """The user may see the order but not change or cancel it: HTTP 403 (EQ-2012007)."""
