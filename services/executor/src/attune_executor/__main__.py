"""``attune-executor``: the executor service (rule matching, enforcements, scheduling, action runs)."""

from __future__ import annotations

from attune_executor.app import SERVICE, serve
from attune_shared.runtime import run, service_parser

DESCRIPTION = """\
Attune executor: matches events against rules, turns enforcements into executions, applies
policies and runs actions (builtin, shell, python, http). Replicas share the work through durable
NATS consumers.
"""


def main() -> None:
    service_parser(
        SERVICE,
        DESCRIPTION,
        "ATTUNE__EXECUTOR__CONCURRENCY=16",
        "ATTUNE__EXECUTOR__NAME=executor-1",
        "ATTUNE__EXECUTOR__METRICS_PORT",
    ).parse_args()
    run(SERVICE, serve)


if __name__ == "__main__":
    main()
