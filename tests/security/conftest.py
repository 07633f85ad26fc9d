"""The API process for the webhook tests (its fixture lives with the API tests)."""

from ..api.harness import api  # noqa: F401
