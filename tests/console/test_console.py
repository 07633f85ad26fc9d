"""The web console as operators and viewers use it, in headless Chromium against a real stack
(api serving the built console, sensor, executor): live lists, detail pages, the buttons each
role gets, accessibility (axe-core) and a screenshot of every page."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, Route, expect

from ..executor.helpers import wait_for
from .conftest import Browsing, Stack, axe_violations

pytestmark = pytest.mark.slow

CSRF = {"X-Attune-CSRF": "1"}


async def api_get(stack: Stack, path: str, **params: Any) -> Any:
    async with stack.api.client("admin") as http:
        response = await http.get(path, params=params)
        response.raise_for_status()
        return response.json()


async def run(stack: Stack, action_ref: str, parameters: dict[str, Any]) -> int:
    async with stack.api.client("operator") as http:
        response = await http.post(
            "/api/v1/executions", json={"action_ref": action_ref, "parameters": parameters}
        )
        response.raise_for_status()
        return int(response.json()["id"])


async def status_of(stack: Stack, execution_id: int) -> str:
    return str((await api_get(stack, f"/api/v1/executions/{execution_id}"))["status"])


async def finished(stack: Stack, execution_id: int, status: str = "completed") -> None:
    async def done() -> bool:
        return await status_of(stack, execution_id) == status

    await wait_for(done, 30, f"execution {execution_id} to be {status}")


async def test_sign_in_with_the_keyboard_then_sign_out(browsing: Browsing, browser_errors: None) -> None:
    page = await browsing.page()
    await page.goto("/executions")
    await expect(page.get_by_role("heading", name="Attune")).to_be_visible()
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("API key or token")).to_be_focused()
    await page.keyboard.type("atn_" + "x" * 43)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("alert")).to_contain_text("invalid credentials")
    # the refused sign-in is the only error the browser reports
    assert all("status of 401" in e for e in browsing.errors), browsing.errors
    browsing.errors.clear()

    await page.get_by_label("API key or token").fill(browsing.keys["operator"])
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Executions")).to_be_visible()  # where it was going
    await expect(page.get_by_role("banner")).to_contain_text("operator-user")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    assert await page.evaluate("document.cookie") == ""  # HttpOnly: scripts never see the session

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("API key or token")).to_be_visible()
    await page.goto("/rules")
    await expect(page.get_by_label("API key or token")).to_be_visible()


async def test_an_event_over_nats_shows_its_execution_live_until_completed(
    stack: Stack, browsing: Browsing, browser_errors: None
) -> None:
    page = await browsing.signed_in("operator")
    await page.get_by_role("navigation").get_by_role("link", name="Executions").click()
    await expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()
    await page.evaluate("window.notReloaded = true")

    await stack.publish("examples.alert", {"host": "db-7", "severity": "critical", "message": "replica lag"})
    row = page.get_by_role("row").filter(has_text="examples.page_on_critical").first
    await expect(row).to_contain_text("examples.notify")
    await expect(row).to_contain_text("completed", timeout=30_000)
    assert await page.evaluate("window.notReloaded === true")

    await row.get_by_role("link", name=re.compile(r"^#\d+$")).click()
    execution_id = int(page.url.rsplit("/", 1)[1])
    await expect(page.get_by_role("heading", name=f"Execution #{execution_id}")).to_be_visible()
    await expect(page.locator("pre.stdout")).to_contain_text("critical: db-7: replica lag")
    history = (await api_get(stack, f"/api/v1/executions/{execution_id}/history"))["data"]
    statuses = [h["new_values"]["status"] for h in reversed(history) if "status" in h["changed_fields"]]
    assert statuses[0] == "requested" and statuses[-1] == "completed" and "running" in statuses
    timeline = page.get_by_role("list", name="Status timeline").locator(".status")
    await expect(timeline).to_have_text(statuses)
    for link in ("examples.page_on_critical", re.compile(r"^event #\d+$"), re.compile(r"^#\d+$")):
        await expect(page.get_by_role("link", name=link).first).to_be_visible()


async def test_a_rule_switched_off_runs_nothing_for_the_next_event(
    stack: Stack, browsing: Browsing, browser_errors: None
) -> None:
    page = await browsing.signed_in("operator")
    await page.goto("/rules/examples.page_on_critical")
    switch = page.get_by_role("switch")
    await expect(switch).to_be_checked()
    await switch.click()
    await expect(switch).not_to_be_checked()
    assert (await api_get(stack, "/api/v1/rules/examples.page_on_critical"))["enabled"] is False
    try:
        # page_on_critical would match this alert; failed_disk_check does, and proves the
        # executor has handled the event once its execution exists
        alert = {
            "host": "off-1",
            "severity": "critical",
            "message": "x",
            "checks": [{"name": "disk", "status": "failed"}],
        }
        await stack.publish("examples.alert", alert)

        async def sentinel() -> int | None:
            rows = (await api_get(stack, "/api/v1/executions", rule_ref="examples.failed_disk_check"))["data"]
            found = [x for x in rows if "off-1" in str(x["config"])]
            return found[0]["enforcement"] if found else None

        enforcement = await wait_for(sentinel, 30, "the sentinel rule's execution")
        event_id = (await api_get(stack, f"/api/v1/enforcements/{enforcement}"))["event"]
        event = await api_get(stack, f"/api/v1/events/{event_id}")
        # rules whose criteria cannot apply to this alert leave disabled records; the switched-off
        # rule leaves nothing, and only the sentinel's enforcement was processed
        rules = {f["rule_ref"]: f["status"] for f in event["enforcements"]}
        assert "examples.page_on_critical" not in rules
        assert [r for r, status in rules.items() if status == "processed"] == ["examples.failed_disk_check"]

        await page.goto(f"/events/{event_id}")
        enforcements = page.get_by_role("region", name="Enforcements this event produced")
        await expect(enforcements).to_contain_text("examples.failed_disk_check")
        await expect(enforcements).not_to_contain_text("examples.page_on_critical")
    finally:
        await page.goto("/rules/examples.page_on_critical")
        await page.get_by_role("switch").click()
        await expect(page.get_by_role("switch")).to_be_checked()


async def test_run_an_action_from_its_generated_form(
    stack: Stack, browsing: Browsing, browser_errors: None
) -> None:
    page = await browsing.signed_in("operator")
    await page.goto("/actions/examples.notify")
    form = page.get_by_role("region", name="Run")
    await expect(form.get_by_label("channel")).to_have_value("#ops")  # the schema's default
    await expect(form.get_by_label("message (required)")).to_have_attribute("required", "")
    await form.get_by_label("severity").select_option(label="warning")
    await form.get_by_label("message (required)").fill("deploy finished")
    await form.get_by_role("button", name="Run examples.notify").click()

    await expect(page.get_by_role("heading", name=re.compile(r"^Execution #\d+"))).to_be_visible()
    await expect(page.locator("h1 .status")).to_have_text("completed", timeout=30_000)
    await expect(page.locator("pre.stdout")).to_contain_text("[#ops] warning: deploy finished")
    parameters = page.get_by_label("Parameters (secrets masked)")
    await expect(parameters).to_contain_text('"severity": "warning"')


async def test_cancel_a_running_sleep(stack: Stack, browsing: Browsing, browser_errors: None) -> None:
    page = await browsing.signed_in("operator")
    await page.goto("/actions/core.sleep")
    form = page.get_by_role("region", name="Run")
    await form.get_by_label("seconds").fill("60")
    await form.get_by_role("button", name="Run core.sleep").click()
    status = page.locator("h1 .status")
    await expect(status).to_have_text("running", timeout=20_000)
    await page.get_by_role("button", name="Cancel").click()
    await expect(status).to_have_text("cancelled", timeout=20_000)
    await expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    timeline = page.get_by_role("list", name="Status timeline")
    await expect(timeline).to_contain_text("canceling")


async def test_a_viewer_gets_no_buttons_and_the_api_refuses_anyway(
    stack: Stack, browsing: Browsing, browser_errors: None
) -> None:
    sleeping = await run(stack, "core.sleep", {"seconds": 60})
    try:
        page = await browsing.signed_in("viewer")
        await page.goto(f"/executions/{sleeping}")
        await expect(page.locator("h1 .status")).to_have_text("running", timeout=20_000)
        await expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
        await expect(page.get_by_role("button", name="Re-run…")).to_have_count(0)
        refused = await page.request.post(f"/api/v1/executions/{sleeping}/cancel", headers=CSRF)
        assert refused.status == 403 and "operator" in (await refused.json())["detail"]
        assert await status_of(stack, sleeping) == "running"

        await page.goto("/rules/examples.page_on_critical")
        await expect(page.get_by_role("heading", name="Rule examples.page_on_critical")).to_be_visible()
        await expect(page.get_by_role("switch")).to_have_count(0)
        await page.goto("/actions/core.echo")
        await expect(page.get_by_role("heading", name="Action core.echo")).to_be_visible()
        await expect(page.get_by_role("button", name=re.compile("^Run"))).to_have_count(0)
    finally:
        async with stack.api.client("operator") as http:
            await http.post(f"/api/v1/executions/{sleeping}/cancel")


async def test_the_dashboard_draws_charts_and_counts_live(
    stack: Stack, browsing: Browsing, browser_errors: None
) -> None:
    await finished(stack, await run(stack, "core.echo", {"message": "for the charts"}))
    page = await browsing.signed_in("operator")
    figure = page.get_by_role("figure", name="Executions per hour by status")
    await expect(figure).to_be_visible()
    assert int(await figure.get_attribute("data-total") or 0) > 0
    drawn = await figure.locator("canvas").evaluate(
        "c => { const blank = document.createElement('canvas'); blank.width = c.width; blank.height = c.height;"
        " return c.width > 0 && c.height > 0 && c.toDataURL() !== blank.toDataURL(); }"
    )
    assert drawn, "the status chart's canvas is blank"
    for name in ("Failure rate per hour", "Events and enforcements per hour", "Top actions", "Top rules"):
        await expect(page.get_by_role("figure", name=name)).to_be_visible()
    await expect(page.get_by_role("figure", name="Top actions")).to_have_attribute(
        "data-total", re.compile(r"^[1-9]")
    )

    await page.get_by_role("button", name="7 days").click()
    await expect(page.get_by_role("button", name="7 days")).to_have_attribute("aria-pressed", "true")
    await expect(figure).to_have_attribute("data-total", re.compile(r"^[1-9]"))

    counters = page.get_by_role("region", name="Since you opened this page")
    await expect(counters.get_by_role("status").filter(has_text="Live")).to_be_visible()
    await stack.publish("examples.alert", {"host": "count-1", "severity": "info", "message": "hello"})
    events = counters.locator("li").filter(has_text="Events").locator(".count")
    await expect(events).not_to_have_text("0", timeout=20_000)
    await expect(page.get_by_role("region", name="Workers")).to_contain_text("console-executor")


async def test_a_workflow_shows_its_task_tree_and_is_paused_and_resumed(
    stack: Stack, browsing: Browsing, browser_errors: None
) -> None:
    workflow = await run(stack, "wftest.pausable", {"seconds": 6})
    page = await browsing.signed_in("operator")
    await page.goto(f"/executions/{workflow}")
    tasks = page.get_by_role("region", name="Task tree")
    slow = tasks.get_by_role("row").filter(has=page.get_by_role("rowheader", name="slow"))
    await expect(slow).to_contain_text("running", timeout=20_000)
    await expect(slow).to_contain_text("wftest.sleep")

    await page.get_by_role("button", name="Pause").click()
    status = page.locator("h1 .status")
    await expect(status).to_have_text(re.compile("^paus"))  # pausing while slow still runs
    await expect(status).to_have_text("paused", timeout=20_000)
    await expect(slow).to_contain_text("completed")
    assert await tasks.get_by_role("rowheader").all_text_contents() == ["slow"]  # quick waits

    viewer = await browsing.signed_in("viewer")
    await viewer.goto(f"/executions/{workflow}")
    await expect(viewer.locator("h1 .status")).to_have_text("paused")
    await expect(viewer.get_by_role("region", name="Task tree")).to_contain_text("slow")
    for button in ("Pause", "Resume", "Cancel"):
        await expect(viewer.get_by_role("button", name=button)).to_have_count(0)
    refused = await viewer.request.post(f"/api/v1/executions/{workflow}/resume", headers=CSRF)
    assert refused.status == 403
    browsing.errors.clear()  # the refusal is the only error the browser reports
    assert await status_of(stack, workflow) == "paused"

    await expect(page.get_by_role("button", name="Pause")).to_have_count(0)
    await page.get_by_role("button", name="Resume").focus()
    await page.keyboard.press("Enter")
    await expect(status).to_have_text("completed", timeout=20_000)
    await expect(tasks.get_by_role("rowheader")).to_have_text(["slow", "quick"])
    await expect(tasks.locator(".status")).to_have_text(["completed", "completed"])
    timeline = page.get_by_role("list", name="Status timeline")
    steps = await timeline.locator(".status").all_text_contents()
    assert steps[-4:-1] == ["pausing", "paused", "running"] or steps[-5:-1] == [
        "pausing",
        "paused",
        "resuming",
        "running",
    ], steps
    assert steps[-1] == "completed", steps

    # a nested workflow's tasks open under its row, with the keyboard
    parent = await run(stack, "wftest.pausable_parent", {})
    await finished(stack, parent)
    await page.goto(f"/executions/{parent}")
    await expect(tasks.get_by_role("rowheader")).to_have_text([re.compile("inner$"), "last"])
    toggle = tasks.get_by_role("button", name="Show the tasks of inner")
    await toggle.focus()
    await page.keyboard.press("Enter")
    await expect(tasks.get_by_role("button", name="Hide the tasks of inner")).to_have_attribute(
        "aria-expanded", "true"
    )
    await expect(tasks.get_by_role("rowheader")).to_have_text([re.compile("inner$"), "slow", "quick", "last"])
    await tasks.get_by_role("link", name=re.compile(r"\(quick\)$")).click()
    await expect(page.get_by_role("heading", name=re.compile(r"^Execution #\d+"))).to_be_visible()
    await expect(page.get_by_role("main")).to_contain_text("Workflow task")
    await page.get_by_role("link", name=re.compile(r"^#\d+ wftest\.pausable$")).click()
    await expect(page.get_by_role("region", name="Task tree")).to_contain_text("quick")


async def _pending_inquiry(stack: Stack, *, parent: int | None = None, id: int | None = None) -> Any:
    """The pending inquiry a workflow (``parent``) or a ``core.ask`` execution (``id``) opened."""

    async def opened() -> Any:
        rows = (await api_get(stack, "/api/v1/inquiries"))["data"]
        return next((i for i in rows if parent in (None, i["parent"]) and id in (None, i["id"])), None)

    return await wait_for(opened, 30, "the inquiry to open")


async def test_an_inquiry_is_answered_through_its_form_and_its_workflow_continues(
    stack: Stack, browsing: Browsing, browser_errors: None
) -> None:
    page = await browsing.signed_in("operator")
    await page.goto("/inquiries")
    await expect(page.get_by_role("button", name="Pending")).to_have_attribute("aria-pressed", "true")
    await expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()
    workflow = await run(stack, "wftest.approval", {"host": "web-9"})
    row = page.get_by_role("row").filter(has_text=f"workflow #{workflow}")
    await expect(row).to_be_visible(timeout=30_000)  # appears without a reload

    # the paused workflow's page offers the answer, not Resume (which would not move it on)
    asked = await _pending_inquiry(stack, parent=workflow)

    async def paused() -> bool:
        return await status_of(stack, workflow) == "paused"

    await wait_for(paused, 30, "the workflow paused at its ask task")
    await page.goto(f"/executions/{workflow}")
    await expect(page.get_by_role("button", name="Cancel")).to_be_visible()
    await expect(page.get_by_role("button", name="Resume")).to_have_count(0)
    waiting = page.locator("p.notice").filter(has_text="This workflow waits for an answer")
    await waiting.get_by_role("link", name=f"answer inquiry #{asked['id']}").click()
    await expect(page.get_by_role("heading", name=re.compile(r"^Inquiry #\d+"))).to_be_visible()
    await page.goto("/inquiries")
    await row.get_by_role("link", name=re.compile(r"^#\d+$")).click()
    await expect(page.get_by_role("heading", name=re.compile(r"^Inquiry #\d+"))).to_be_visible()
    form = page.get_by_role("region", name="Respond")
    approved = form.get_by_label("approved (required)")
    await approved.focus()
    await page.keyboard.press("Space")
    await expect(approved).to_be_checked()
    await form.get_by_label("reason").fill("change window")
    await page.keyboard.press("Enter")
    await expect(page.locator("h1 .status")).to_have_text("responded")
    await expect(page.get_by_label("Response (JSON)")).to_contain_text('"approved": true')
    await expect(page.get_by_role("region", name="Respond")).to_have_count(0)

    await page.get_by_role("link", name=f"#{workflow}", exact=True).click()
    await expect(page.locator("h1 .status")).to_have_text("completed", timeout=30_000)
    tasks = page.get_by_role("region", name="Task tree")
    await expect(tasks.get_by_role("rowheader")).to_have_text(["ask", "deploy"])
    await expect(page.locator("pre.json[aria-label=Result]")).to_contain_text('"outcome": "deployed web-9"')


async def test_an_inquiry_form_shows_the_apis_refusals(
    stack: Stack, browsing: Browsing, browser_errors: None
) -> None:
    schema = {
        "type": "object",
        "properties": {"replicas": {"type": "integer", "minimum": 1, "description": "how many"}},
        "required": ["replicas"],
    }
    asked = await run(stack, "core.ask", {"schema": schema, "route": "capacity"})
    await _pending_inquiry(stack, id=asked)

    viewer = await browsing.signed_in("viewer")
    await viewer.goto(f"/inquiries/{asked}")
    await expect(viewer.get_by_role("region", name="Respond")).to_contain_text("Only operators may answer")
    await expect(viewer.get_by_role("button", name="Send response")).to_have_count(0)

    page = await browsing.signed_in("operator")
    await page.goto(f"/executions/{asked}")
    await page.get_by_role("link", name=f"answer inquiry #{asked}").click()
    form = page.get_by_role("region", name="Respond")
    replicas = form.get_by_label("replicas (required)")
    await replicas.fill("0")
    await form.get_by_role("button", name="Send response").click()
    await expect(form.get_by_role("alert")).to_contain_text("did not pass schema validation")
    await expect(replicas).to_have_attribute("aria-invalid", "true")
    await expect(form.locator("#param-replicas-error")).to_contain_text("minimum")

    # someone else answers first: the form says so and the page shows the answer. The admin answers
    # while the browser's request is held, so the page's live update cannot remove the form first.
    async def answered_first(route: Route) -> None:
        async with stack.api.client("admin") as http:
            answered = await http.post(
                f"/api/v1/inquiries/{asked}/respond", json={"response": {"replicas": 3}}
            )
            assert answered.status_code == 200, answered.text
        await route.continue_()

    await page.route(f"**/api/v1/inquiries/{asked}/respond", answered_first)
    await replicas.fill("2")
    await form.get_by_role("button", name="Send response").click()
    await expect(page.get_by_role("alert").first).to_contain_text("already been responded to")
    await expect(page.locator("h1 .status")).to_have_text("responded")
    await expect(page.get_by_label("Response (JSON)")).to_contain_text('"replicas": 3')
    # the refused calls are the only errors the browser reports
    assert browsing.errors and all(re.search(r"status of (422|409)", e) for e in browsing.errors), (
        browsing.errors
    )
    browsing.errors.clear()
    await finished(stack, asked)


async def test_the_sensors_page_shows_processes_with_their_status_and_restarts(
    stack: Stack, browsing: Browsing, browser_errors: None
) -> None:
    async def flaky_restarted() -> bool:
        sensors = {s["ref"]: s for s in (await api_get(stack, "/api/v1/sensors", pack="consoletest"))["data"]}
        steady, flaky = sensors["consoletest.Steady"]["process"], sensors["consoletest.Flaky"]["process"]
        return bool(steady and steady["status"] == "running" and flaky and flaky["restarts"] >= 1)

    await wait_for(flaky_restarted, 60, "the steady sensor running and the flaky one restarted")
    page = await browsing.signed_in("viewer")
    await page.goto("/sensors")
    table = page.get_by_role("region", name="Sensors")
    steady = table.get_by_role("row").filter(has_text="consoletest.Steady")
    await expect(steady.locator(".status").nth(1)).to_have_text("running")
    await expect(steady.get_by_role("cell").nth(3)).to_have_text("0")
    flaky = table.get_by_role("row").filter(has_text="consoletest.Flaky")
    await expect(flaky.get_by_role("cell").nth(3)).to_have_text(re.compile(r"^[1-9]\d*$"))
    await expect(flaky).to_contain_text("the upstream feed went away")
    await flaky.locator("summary").focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_label("Last error of consoletest.Flaky")).to_contain_text(
        'Sensor "Flaky" run method raised an exception'
    )
    timer = table.get_by_role("row").filter(has_text="core.timer")
    await expect(timer).to_contain_text("built in")


async def test_the_keys_page_masks_secret_values(
    stack: Stack, browsing: Browsing, browser_errors: None
) -> None:
    async with stack.api.client("admin") as http:
        for name, body in (
            (
                "console.pager_token",
                {"value": "s3cr3t-pager-token", "secret": True, "description": "PagerDuty"},
            ),
            ("console.channel", {"value": "#ops", "description": "where alerts go"}),
        ):
            (await http.put(f"/api/v1/keys/{name}", json=body)).raise_for_status()
    page = await browsing.signed_in("admin")
    async with page.expect_response(re.compile(r"/api/v1/keys\b")) as listed:
        await page.goto("/keys?prefix=console.")
    assert "s3cr3t" not in await (await listed.value).text()  # the API never sent it to the browser
    table = page.get_by_role("region", name="Keys")
    secret = table.get_by_role("row").filter(has_text="console.pager_token")
    await expect(secret.get_by_label("secret value hidden")).to_be_visible()
    await expect(table.get_by_role("row").filter(has_text="console.channel")).to_contain_text("#ops")
    assert "s3cr3t" not in await page.content()


async def _ids(stack: Stack) -> dict[str, Any]:
    """Rows the detail pages show: a completed execution with its enforcement and event."""
    rows = (await api_get(stack, "/api/v1/executions", rule_ref="examples.*", status="completed"))["data"]
    if not rows:
        await stack.publish(
            "examples.alert", {"host": "shot-1", "severity": "critical", "message": "disk full"}
        )
        rows = [await wait_for(lambda: _first_completed(stack), 30, "a rule's execution")]
    execution = rows[0]
    enforcement = await api_get(stack, f"/api/v1/enforcements/{execution['enforcement']}")
    return {"execution": execution["id"], "enforcement": enforcement["id"], "event": enforcement["event"]}


async def _first_completed(stack: Stack) -> dict[str, Any] | None:
    rows = (await api_get(stack, "/api/v1/executions", rule_ref="examples.*", status="completed"))["data"]
    return rows[0] if rows else None


async def _ready(page: Page, path: str) -> None:
    await page.goto(path)
    await expect(page.locator("main h1")).to_be_visible()
    await expect(page.get_by_text("Loading…")).to_have_count(0)


async def test_every_page_is_accessible_and_screenshotted(
    stack: Stack, browsing: Browsing, browser_errors: None, screenshots: Any
) -> None:
    await stack.publish("examples.nonexistent", {"why": "a dead letter for its page"})
    await wait_for(lambda: _dead_letters(stack), 30, "a dead letter")
    ids = await _ids(stack)
    # a workflow waiting at its question: the workflow's page shows its task tree, the inquiry's
    # page its response form
    approval = await run(stack, "wftest.approval", {"host": "db-2"})
    inquiry = (await _pending_inquiry(stack, parent=approval))["id"]
    pages = {
        "dashboard": "/",
        "executions": "/executions",
        "execution": f"/executions/{ids['execution']}",
        "events": "/events",
        "event": f"/events/{ids['event']}",
        "enforcements": "/enforcements",
        "enforcement": f"/enforcements/{ids['enforcement']}",
        "rules": "/rules",
        "rule": "/rules/examples.page_on_critical",
        "actions": "/actions",
        "action": "/actions/examples.notify",
        "packs": "/packs",
        "pack": "/packs/examples",
        "triggers": "/triggers",
        "sensors": "/sensors",
        "workflow": f"/executions/{approval}",
        "inquiries": "/inquiries",
        "inquiry": f"/inquiries/{inquiry}",
        "workers": "/workers",
        "deadletters": "/deadletters",
        "keys": "/keys",
    }
    page = await browsing.signed_in("admin", height=900)
    problems = {}
    for name, path in pages.items():
        await _ready(page, path)
        if name == "deadletters":
            await page.locator("details summary").first.click()
        found = await axe_violations(page)
        if found:
            problems[name] = found
        await page.screenshot(path=screenshots / f"{name}.png")

    phone = await browsing.signed_in("operator", width=390, height=800)
    for name in ("dashboard", "executions", "execution", "workflow", "inquiries", "inquiry", "sensors"):
        await _ready(phone, pages[name])
        overflow = await phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} is {overflow}px wider than a phone"
        found = await axe_violations(phone)
        if found:
            problems[f"phone {name}"] = found
        await phone.screenshot(path=screenshots / f"phone-{name}.png")
    await phone.get_by_role("button", name="Menu").click()
    await phone.get_by_role("navigation").get_by_role("link", name="Rules").click()
    await expect(phone.get_by_role("heading", name="Rules")).to_be_visible()
    assert not problems, problems
    async with stack.api.client("operator") as http:  # a workflow paused at its question cancels
        cancelled = await http.post(f"/api/v1/executions/{approval}/cancel")
        assert cancelled.status_code == 200, cancelled.text


async def _dead_letters(stack: Stack) -> bool:
    return bool((await api_get(stack, "/api/v1/deadletters"))["data"])


async def test_the_console_is_served_compressed_within_its_budget(stack: Stack) -> None:
    """First load (index, its script and style, the dashboard's chunk): at most 300 KB of
    JavaScript compressed."""
    async with httpx.AsyncClient(base_url=stack.api.url, headers={"Accept-Encoding": "gzip"}) as http:
        index = await http.get("/")
        assert index.status_code == 200
        scripts = re.findall(r'src="(/assets/[^"]+\.js)"', index.text)
        assert scripts, index.text
        chunks: set[str] = set()
        total = 0
        for path in scripts:
            response = await http.get(path)
            assert response.headers["content-encoding"] == "gzip"
            total += int(response.headers["content-length"])
            chunks |= set(re.findall(r"(Dashboard-[\w-]+\.js)", response.text))
        assert chunks, "the dashboard's chunk is not referenced by the entry script"
        for chunk in chunks:
            total += int((await http.get(f"/assets/{chunk}")).headers["content-length"])
    assert 0 < total <= 300 * 1024, f"first load is {total} bytes of compressed JavaScript"


async def test_a_rule_is_tested_against_a_payload_in_the_page(
    browsing: Browsing, browser_errors: None
) -> None:
    page = await browsing.signed_in("viewer")
    await page.goto("/rules/examples.page_on_critical")
    payload = page.get_by_label("Trigger payload (JSON)")
    await payload.fill('{"host": "web-2", "severity": "critical", "message": "down"}')
    await page.get_by_role("button", name="Test", exact=True).click()
    report = page.locator(".rule-report")
    await expect(report.locator(".verdict")).to_have_text("Match: the rule would run examples.notify")
    await expect(report.get_by_label("Rendered action parameters")).to_contain_text("web-2: down")
    await payload.fill('{"host": "web-2", "severity": "info"}')
    await page.get_by_role("button", name="Test", exact=True).click()
    await expect(report.locator(".verdict")).to_contain_text("No match")
    await expect(report.get_by_role("region", name="Each criterion")).to_contain_text("failed")
