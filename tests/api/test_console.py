"""The web console served by the API: built files, SPA fallback, the API's own paths untouched,
and the OpenAPI document the console's client is generated from kept current."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from attune_api.app import create_app
from attune_api.console import console_of
from attune_api.openapi import document
from attune_shared.constants import PROJECT_ROOT
from attune_shared.errors import ConfigError
from attune_shared.settings import Settings

from .harness import problem


def make_settings(**sections: Any) -> Settings:
    return Settings(environment="test", security={"secret_key": "unit-test-secret"}, **sections)


INDEX = '<!doctype html><html><head><script type="module" src="/assets/app-1a2b.js"></script></head></html>'
SCRIPT = "console.log('attune');\n" * 200


@pytest.fixture
def built(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(INDEX)
    (tmp_path / "assets" / "app-1a2b.js").write_text(SCRIPT)
    (tmp_path / "logo.svg").write_text("<svg/>")
    return tmp_path


@pytest_asyncio.fixture
async def http(built: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The application in-process (no lifespan: serving files needs no database)."""
    app = create_app(make_settings(api={"console_dir": built}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://attune") as client:
        yield client


async def test_the_index_is_served_at_the_root_and_for_every_console_route(http: httpx.AsyncClient) -> None:
    for path in ("/", "/executions", "/executions/42", "/rules/examples.page_on_critical"):
        response = await http.get(path)
        assert response.status_code == 200 and response.text == INDEX, path
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["cache-control"] == "no-cache"
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_hashed_assets_are_cached_and_gzipped(http: httpx.AsyncClient) -> None:
    response = await http.get("/assets/app-1a2b.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and response.text == SCRIPT  # httpx decodes it
    assert response.headers["content-encoding"] == "gzip"
    assert int(response.headers["content-length"]) < len(SCRIPT) / 10
    assert "immutable" in response.headers["cache-control"]
    assert response.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    plain = await http.get("/assets/app-1a2b.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.text == SCRIPT
    assert (await http.get("/logo.svg")).text == "<svg/>"


async def test_missing_files_are_404_and_nothing_outside_the_build_is_served(http: httpx.AsyncClient) -> None:
    for path in ("/assets/gone-9z9z.js", "/favicon.ico"):
        response = await http.get(path)
        assert response.status_code == 404 and response.text != INDEX, path
    for path in (
        "/assets/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2fetc/passwd",
    ):
        response = await http.get(path)
        assert "root:" not in response.text, path


async def test_api_paths_are_never_the_console(http: httpx.AsyncClient) -> None:
    for path in ("/api/v1/nothing", "/api/v2", "/auth/nothing", "/health/nothing", "/metrics/x"):
        body = problem(await http.get(path), 404)
        assert "no such endpoint" in str(body["detail"]), path
    problem(await http.post("/executions"), 404)  # only GET and HEAD reach the console
    problem(await http.put("/api/v1/executions/1"), 405)  # a wrong method stays a wrong method


async def test_console_dir_must_hold_a_build_when_configured(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"ATTUNE__API__CONSOLE_DIR.*no index.html.*npm --prefix console"):
        console_of(make_settings(api={"console_dir": tmp_path}))


async def test_unbuilt_default_console_says_how_to_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("attune_api.console.CONSOLE_DIST_DIR", tmp_path / "dist")
    app = create_app(make_settings())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://attune") as http:
        body = problem(await http.get("/"), 404)
    assert "not built" in str(body["detail"]) and "npm --prefix console run build" in str(body["detail"])


def test_the_console_client_is_generated_from_the_current_openapi_document() -> None:
    committed = json.loads((PROJECT_ROOT / "console" / "openapi.json").read_text())
    assert committed == document(), (
        "console/openapi.json is stale: run `uv run python -m attune_api.openapi console/openapi.json` "
        "and rebuild the console (npm --prefix console run build), whose types come from it"
    )
