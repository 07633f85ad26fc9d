"""The leak test runs the real API, sensor and executor processes of tests/api's harness."""

from ..api.harness import api, services  # noqa: F401  (fixtures)
