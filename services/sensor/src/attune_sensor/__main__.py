"""``attune-sensor``: the sensor service."""

from __future__ import annotations

from attune_sensor.app import SERVICE, serve
from attune_shared.runtime import run, service_parser

DESCRIPTION = """\
Attune sensor: stores trigger payloads published to <prefix>.trigger.<trigger_ref> as events
(announced on <prefix>.event.created) and fires the timers of enabled rules on core.intervaltimer,
core.crontimer and core.datetimetimer (one replica at a time, by a lease in NATS).
Bad messages go to <prefix>.dlq.<reason>.
"""


def main() -> None:
    service_parser(
        SERVICE,
        DESCRIPTION,
        "ATTUNE__NATS__PREFIX",
        "ATTUNE__SENSOR__BATCH_SIZE",
        "ATTUNE__SENSOR__MAX_PAYLOAD_BYTES",
        "ATTUNE__SENSOR__TIMER_LEASE_TTL",
        "ATTUNE__SENSOR__METRICS_PORT",
    ).parse_args()
    run(SERVICE, serve)


if __name__ == "__main__":
    main()
