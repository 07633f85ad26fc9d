"""``attune-executor``: the executor service (rule matching, enforcements, scheduling, action runs)."""

from __future__ import annotations

import argparse

from attune_shared.runtime import run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="attune-executor",
        description=(
            "Match events against rules, turn enforcements into executions, apply policies and run "
            "actions (builtin, shell, python, http). Replicas share the work through durable NATS "
            "consumers. Configured like every Attune service: config.yaml (ATTUNE_CONFIG) and "
            "ATTUNE__SECTION__KEY variables, e.g. ATTUNE__EXECUTOR__CONCURRENCY=16, "
            "ATTUNE__EXECUTOR__NAME=executor-1. Stops gracefully on SIGTERM."
        ),
    )
    parser.parse_args(argv)
    from attune_executor.app import main as serve

    run("executor", serve)


if __name__ == "__main__":
    main()
