from __future__ import annotations

from tests.deploy.manifests import SECRET_NAME, env_example


def test_secrets_are_left_empty() -> None:
    values = env_example()
    secrets = {name: value for name, value in values.items() if SECRET_NAME.search(name)}
    assert secrets == {
        "ATTUNE__SECURITY__SECRET_KEY": "",
        "ATTUNE__SECURITY__PREVIOUS_SECRET_KEY": "",
        "POSTGRES_PASSWORD": "",
    }


def test_documents_the_database_container() -> None:
    assert {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"} <= env_example().keys()


def test_every_variable_has_a_comment() -> None:
    from tests.deploy.manifests import ENV_EXAMPLE

    lines = ENV_EXAMPLE.read_text().splitlines()
    for index, line in enumerate(lines):
        if line and not line.startswith("#"):
            block = lines[:index]
            while block and block[-1] and not block[-1].startswith("#"):
                block.pop()  # variables grouped under one comment
            assert block and block[-1].startswith("#"), f".env.example: {line!r} has no comment above it"
