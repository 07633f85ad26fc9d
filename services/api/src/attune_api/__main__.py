"""``attune-api``: the HTTP API (REST, SSE, webhooks) on uvicorn."""

from __future__ import annotations

import functools

from attune_api.app import SERVICE, serve
from attune_shared.runtime import run, service_parser

DESCRIPTION = """\
Attune API service: REST (/api/v1), live streams (SSE), webhooks, analytics, auth; OpenAPI at
/docs. On SIGTERM it stops accepting, ends live streams and finishes in-flight requests.
"""


def main() -> None:
    parser = service_parser(SERVICE, DESCRIPTION, "ATTUNE__API__HOST", "ATTUNE__API__PORT")
    parser.add_argument("--host", help="listen address (default: api.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (default: api.port, 8080; 0 = any free port)")
    args = parser.parse_args()
    run(SERVICE, functools.partial(serve, host=args.host, port=args.port))


if __name__ == "__main__":
    main()
