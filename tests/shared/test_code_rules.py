"""Rules of the house, checked over the source tree."""

import re
import subprocess
import sys
from pathlib import Path

from attune_shared.constants import PROJECT_ROOT

SOURCE_DIRS = ["shared", "services", "cli", "migrations", "bench"]
SELECT_STAR = re.compile(r"SELECT\s+(DISTINCT\s+)?(\w+\.)?\*", re.IGNORECASE)


def _source_files() -> list[Path]:
    files: list[Path] = []
    for d in SOURCE_DIRS:
        root = PROJECT_ROOT / d
        if root.exists():
            files += [
                p for p in root.rglob("*") if p.suffix in {".py", ".sql"} and "node_modules" not in p.parts
            ]
    return files


def test_no_select_star_anywhere() -> None:
    offenders = [
        f"{p.relative_to(PROJECT_ROOT)}:{n}"
        for p in _source_files()
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if SELECT_STAR.search(line)
    ]
    assert not offenders, offenders


def test_import_contract() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken" in result.stdout
