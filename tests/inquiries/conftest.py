"""Inquiry tests use the module's API process and services started beside it."""

from ..api.harness import api, services  # noqa: F401  (fixtures)
