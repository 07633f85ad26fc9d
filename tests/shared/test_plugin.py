"""The harness's --timescale-required: a run that selects the TimescaleDB tier must run it."""

import subprocess
import sys
from pathlib import Path

import pytest

TESTS = """
import pytest

@pytest.mark.timescale
def test_tier():
    pytest.skip("no TimescaleDB here")

def test_other():
    pass
"""


def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    timescale: the tier\n")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "attune_shared.testing.plugin", "--timescale-required", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_a_skipped_tier_fails_the_run(tmp_path: Path) -> None:
    result = _pytest(tmp_path)
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout
    assert "0 timescale tests passed, 1 skipped; the tier must run" in result.stdout


def test_a_run_without_the_tier_selected_is_not_failed_for_it(tmp_path: Path) -> None:
    result = _pytest(tmp_path, "-k", "other")
    assert result.returncode == pytest.ExitCode.OK, result.stdout
    assert "the tier must run" not in result.stdout
