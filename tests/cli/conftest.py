from tests.api.harness import api, services  # noqa: F401  (module API process, other services)
