from tests.api.harness import api  # noqa: F401  (the module-scoped API process fixture)
