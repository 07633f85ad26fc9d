"""``attune-api``: the HTTP API (REST, SSE, webhooks) on uvicorn."""

from __future__ import annotations

import argparse
import functools

from attune_api.app import SERVICE, serve
from attune_shared.runtime import run

DESCRIPTION = """\
Attune API service: REST (/api/v1), live streams (SSE), webhooks, analytics, auth; OpenAPI at
/docs. Stops gracefully on SIGTERM (stops accepting, ends live streams, finishes in-flight requests).
"""

EPILOG = """\
Configuration: config.yaml (path in ATTUNE_CONFIG) and environment variables ATTUNE__SECTION__KEY,
e.g. ATTUNE__DATABASE__URL, ATTUNE__NATS__URL, ATTUNE__API__HOST, ATTUNE__API__PORT.
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="attune-api",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", help="listen address (default: api.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (default: api.port, 8080; 0 = any free port)")
    args = parser.parse_args()
    run(SERVICE, functools.partial(serve, host=args.host, port=args.port))


if __name__ == "__main__":
    main()
