"""Git repositories and wheels made in a temporary folder: packs are installed from them, never
from the internet."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

from .conftest import ST2DEMO


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@e",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@e",
            "PATH": "/usr/bin:/bin",
            "HOME": str(repo),
        },
    ).stdout.strip()


def make_repo(root: Path, name: str = "stackstorm-st2demo") -> Path:
    """A git repository holding st2demo, as packs are published ("stackstorm-<name>")."""
    repo = root / name
    shutil.copytree(ST2DEMO, repo)
    git(repo, "init", "--quiet", "--initial-branch=main")
    commit(repo, "first")
    git(repo, "tag", "v0.1.0")
    return repo


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", message)


def wheel(into: Path, name: str = "tinylib") -> Path:
    """A tiny pure-Python wheel (a requirement that installs without an index)."""
    path = into / f"{name}-0.1-py3-none-any.whl"
    info = f"{name}-0.1.dist-info"
    files = {
        f"{name}/__init__.py": "VALUE = 'from the pack virtualenv'\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{n},,\n" for n in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as archive:
        for n, text in files.items():
            archive.writestr(n, text)
    return path
