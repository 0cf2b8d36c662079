"""The reviewers' and operators' admin, one module per part of the domain; importing them registers their pages."""

from . import api_clients, catalogue, door, operations, orders, organizations, series  # noqa: F401
