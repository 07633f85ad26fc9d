"""``attune-executor``: the executor service (rule matching, enforcements, scheduling, action runs)."""

from __future__ import annotations

import argparse

from attune_executor.app import SERVICE, serve
from attune_shared.runtime import run

DESCRIPTION = """\
Attune executor: matches events against rules, turns enforcements into executions, applies
policies and runs actions (builtin, shell, python, http). Replicas share the work through durable
NATS consumers. Stops gracefully on SIGTERM.
"""

EPILOG = """\
Configuration: config.yaml (path in ATTUNE_CONFIG) and environment variables ATTUNE__SECTION__KEY,
e.g. ATTUNE__DATABASE__URL, ATTUNE__NATS__URL, ATTUNE__EXECUTOR__CONCURRENCY=16,
ATTUNE__EXECUTOR__NAME=executor-1, ATTUNE__EXECUTOR__METRICS_PORT.
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="attune-executor",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.parse_args()
    run(SERVICE, serve)


if __name__ == "__main__":
    main()
