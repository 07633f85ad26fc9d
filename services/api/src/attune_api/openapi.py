"""``python -m attune_api.openapi [FILE]``: the API's OpenAPI document, as the console's client is
generated from it (``console/openapi.json``; a test checks that file is current)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from attune_api.app import create_app
from attune_shared.settings import Settings


def document() -> dict[str, Any]:
    """The OpenAPI document of the application as configured by default."""
    app = create_app(Settings(environment="development", api={"docs_public": True}))
    return app.openapi()


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    text = render()
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text)
    else:
        sys.stdout.write(text)
