"""The pytest plugin: real PostgreSQL, NATS and TimescaleDB for every test, never mocks.

Servers come from ``ATTUNE_TEST_DATABASE_URL`` / ``ATTUNE_TEST_NATS_URL`` / ``ATTUNE_TEST_TIMESCALE_URL``
when set, otherwise they are started as local processes (see :mod:`attune_shared.embedded`).
Each test gets its own database, cloned from a template migrated once per session, and its own
NATS subject prefix (so its own streams).

Fixtures: ``postgres_server_url``, ``database_url``, ``db_pool``, ``nats_url``, ``nats_prefix``,
``nats_client``, ``bus``, ``settings``, ``service_env``, ``spawn_service``, ``timescale_url``, ``timescale_conn``,
plus ``owned_nats`` / ``owned_postgres`` (private servers a fault test may stop, kill and restart),
``owned_nats_cluster`` (a private three-node JetStream cluster)
and ``owned_database`` (migrated, on ``owned_postgres``). They live in the modules named below,
one concern each.
"""

pytest_plugins = [
    "attune_shared.testing.hooks",
    "attune_shared.testing.servers",
    "attune_shared.testing.databases",
    "attune_shared.testing.bus",
    "attune_shared.testing.settings",
    "attune_shared.testing.spawning",
]
