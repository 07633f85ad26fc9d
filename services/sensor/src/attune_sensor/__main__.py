"""``attune-sensor``: the sensor service."""

from __future__ import annotations

import argparse

from attune_sensor.app import SERVICE, serve
from attune_shared.runtime import run

DESCRIPTION = """\
Attune sensor: stores trigger payloads published to <prefix>.trigger.<trigger_ref> as events
(announced on <prefix>.event.created) and fires the timers of enabled rules on core.intervaltimer,
core.crontimer and core.datetimetimer (one replica at a time, by a lease in NATS).
Bad messages go to <prefix>.dlq.<reason>. Stops gracefully on SIGTERM.
"""

EPILOG = """\
Configuration: config.yaml (path in ATTUNE_CONFIG) and environment variables ATTUNE__SECTION__KEY,
e.g. ATTUNE__DATABASE__URL, ATTUNE__NATS__URL, ATTUNE__NATS__PREFIX, ATTUNE__SENSOR__BATCH_SIZE,
ATTUNE__SENSOR__MAX_PAYLOAD_BYTES, ATTUNE__SENSOR__TIMER_LEASE_TTL, ATTUNE__SENSOR__METRICS_PORT.
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="attune-sensor",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.parse_args()
    run(SERVICE, serve)


if __name__ == "__main__":
    main()
