"""Run-wide hooks: ``--timescale-required``, and whether a test failed (to dump logs at teardown)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--timescale-required",
        action="store_true",
        help="fail the run unless tests marked `timescale` ran and passed (CI sets it)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_timescale_selected] = 0
    config.stash[_timescale_passed] = 0
    config.stash[_timescale_skipped] = 0


def pytest_collection_finish(session: pytest.Session) -> None:
    session.config.stash[_timescale_selected] = sum(
        1 for item in session.items if item.get_closest_marker("timescale") is not None
    )


_timescale_selected = pytest.StashKey[int]()
_timescale_passed = pytest.StashKey[int]()
_timescale_skipped = pytest.StashKey[int]()
_report_key = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:  # noqa: ARG001
    report: pytest.TestReport = yield  # type: ignore[assignment]
    item.stash.setdefault(_report_key, {})[report.when] = report
    if item.get_closest_marker("timescale") is not None:
        if report.skipped:
            item.config.stash[_timescale_skipped] += 1
        elif report.when == "call" and report.passed:
            item.config.stash[_timescale_passed] += 1
    return report  # type: ignore[return-value]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:  # noqa: ARG001
    config = session.config
    # a run narrowed with -k or a path to other tests has nothing to prove about the tier
    if not config.getoption("--timescale-required") or not config.stash[_timescale_selected]:
        return
    skipped, passed = config.stash[_timescale_skipped], config.stash[_timescale_passed]
    if skipped or not passed:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"--timescale-required: {passed} timescale tests passed, {skipped} skipped; the tier must run",
                red=True,
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def failed(request: pytest.FixtureRequest) -> bool:
    """Whether the requesting test has failed so far (for dumping logs at teardown)."""
    reports = request.node.stash.get(_report_key, {})
    return any(r.failed for r in reports.values())
