"""The web console in headless Chromium (Debian's package, driven by Playwright) against a real
stack: the module's API process serving the built console, a sensor and an executor, the example
pack, the workflow tests' pack and this folder's pack of sensors."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, async_playwright

from attune_shared.constants import PACKS_DIR, PROJECT_ROOT
from attune_shared.packs import register_pack
from attune_shared.processes import ServiceProcess, console_script

from ..api.harness import Api, api  # noqa: F401  (the module's API process)
from ..workflows.stack import PACK_DIR as WORKFLOWS_PACK

CHROMIUM_ENV = "ATTUNE_TEST_CHROMIUM"
#: Where the tests save a screenshot of each page (docs/images/console to refresh the docs').
SCREENSHOTS_ENV = "ATTUNE_CONSOLE_SCREENSHOTS"
#: Without the background-networking flags Chromium keeps calling home on a closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Sensors for the sensors page: one that keeps running, one that keeps crashing.
SENSORS_PACK = Path(__file__).parent / "packs" / "consoletest"
AXE = PROJECT_ROOT / "console" / "node_modules" / "axe-core" / "axe.min.js"
EXECUTOR_ENV = {
    "ATTUNE__EXECUTOR__HEARTBEAT_INTERVAL": "0.5",
    "ATTUNE__EXECUTOR__CANCEL_CHECK_INTERVAL": "0.5",
    "ATTUNE__EXECUTOR__KILL_GRACE": "0.5",
    "ATTUNE__EXECUTOR__NAME": "console-executor",
}


@pytest.fixture(scope="session")
def console_built() -> None:
    """The console built from the current sources (a no-op when console/dist is up to date)."""
    result = subprocess.run(
        [str(PROJECT_ROOT / "scripts" / "build-console")], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"scripts/build-console failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")


@pytest.fixture(scope="session")
def chromium() -> str:
    path = os.environ.get(CHROMIUM_ENV) or shutil.which("chromium")
    if not path:
        pytest.fail(
            f"chromium not found: apt-get install chromium (scripts/test does it as root), or set {CHROMIUM_ENV}",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def screenshots() -> Path:
    configured = os.environ.get(SCREENSHOTS_ENV)
    path = Path(configured) if configured else Path(tempfile.mkdtemp(prefix="attune-console-shots-"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class Stack:
    """The running stack: the API (with one key per role), a sensor and an executor."""

    api: Api
    processes: list[ServiceProcess] = field(default_factory=list)

    async def publish(self, trigger_ref: str, payload: dict[str, Any]) -> None:
        """A trigger message over NATS, as any producer sends it."""
        nc = await nats.connect(self.api.settings.nats.url)
        try:
            subject = f"{self.api.settings.nats.prefix}.trigger.{trigger_ref}"
            await nc.jetstream().publish(subject, json.dumps(payload).encode())
        finally:
            await nc.close()


@pytest_asyncio.fixture(scope="module")
async def stack(
    api: Api,  # noqa: F811  (the fixture imported above)
    console_built: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Stack]:
    conn = await api.db()
    try:
        for pack in (PACKS_DIR / "examples", WORKFLOWS_PACK, SENSORS_PACK):
            await register_pack(conn, pack)
    finally:
        await conn.close()
    logs = tmp_path_factory.mktemp("stack")
    sensor_env = {"ATTUNE__PACKS__HOME": str(tmp_path_factory.mktemp("packs-home"))}
    running = Stack(api)
    try:
        for script, env in (("attune-sensor", sensor_env), ("attune-executor", EXECUTOR_ENV)):
            proc = ServiceProcess(
                script, [console_script(script)], {**api.env, **env}, logs / f"{script}.log"
            ).start()
            running.processes.append(proc)
            await proc.wait_ready(60)
        yield running
    finally:
        for proc in running.processes:
            await proc.kill()


@dataclass
class Browsing:
    """Pages signed in as a role; every console error or uncaught exception is recorded."""

    browser: Browser
    base_url: str
    keys: dict[str, str]
    errors: list[str] = field(default_factory=list)
    contexts: list[BrowserContext] = field(default_factory=list)

    async def page(self, width: int = 1280, height: int = 860) -> Page:
        context = await self.browser.new_context(
            base_url=self.base_url, viewport={"width": width, "height": height}
        )
        self.contexts.append(context)
        page = await context.new_page()
        page.set_default_timeout(15_000)

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.errors.append(f"{page.url}: console error: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: uncaught: {exc}"))
        return page

    async def signed_in(self, role: str, width: int = 1280, height: int = 860) -> Page:
        page = await self.page(width, height)
        await page.goto("/")
        await page.get_by_label("API key or token").fill(self.keys[role])
        await page.get_by_label("API key or token").press("Enter")
        await page.get_by_role("heading", name="Dashboard").wait_for()
        return page

    async def close(self) -> None:
        for context in self.contexts:
            with contextlib.suppress(Exception):
                await context.close()


@pytest_asyncio.fixture(scope="module")
async def browsing(stack: Stack, chromium: str) -> AsyncIterator[Browsing]:
    async with async_playwright() as playwright:
        # launch() gives the browser a fresh profile of its own, deleted when it closes
        browser = await playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS, headless=True
        )
        session = Browsing(browser, stack.api.url, stack.api.keys)
        try:
            yield session
        finally:
            await session.close()
            await browser.close()


@pytest_asyncio.fixture
async def browser_errors(browsing: Browsing) -> AsyncIterator[None]:
    """Fails the test when the browser logged an error or a page threw while it ran."""
    browsing.errors.clear()
    yield
    assert not browsing.errors, "\n".join(browsing.errors)


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Serious and critical accessibility violations of the page (axe-core)."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(
            AXE.read_text()
        )  # evaluated by the browser's devtools: not an inline script the CSP refuses
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    assert len(result["passes"]) > 10, f"axe checked next to nothing on {page.url}"
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
