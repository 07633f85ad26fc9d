"""Installing packs from git repositories made here (nothing from the internet), directories and
archives; a failed install leaves the installed version as it was."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import asyncpg
import pytest

from attune_shared.packs import InstallError, InvalidPackError, install_pack, remove_pack
from attune_shared.repos import ActionRepository, PackRepository, SensorRepository
from attune_shared.secrets import SecretBox
from attune_shared.settings import PacksSettings

from .conftest import ST2DEMO
from .repos import commit, make_repo, wheel

#: seals the config's api_token
BOX = SecretBox("test-secret-key")


def tinylib_value(venv: Path) -> str:
    python = venv / "bin" / "python"
    found = subprocess.run(
        [python, "-c", "import tinylib; print(tinylib.VALUE)"], capture_output=True, text=True
    )
    return found.stdout.strip()


@pytest.fixture
def packs(tmp_path: Path) -> PacksSettings:
    home = tmp_path / "home"
    (home / "configs").mkdir(parents=True)
    (home / "configs" / "st2demo.yaml").write_text("api_token: t\n")
    return PacksSettings(home=home)


async def test_install_from_git_then_again_then_a_new_version(
    db_pool: asyncpg.Pool, tmp_path: Path, packs: PacksSettings
) -> None:
    repo = make_repo(tmp_path)
    (repo / "vendor").mkdir()
    wheel(repo / "vendor")
    (repo / "requirements.txt").write_text("./vendor/tinylib-0.1-py3-none-any.whl\n")
    commit(repo, "a requirement")

    report = await install_pack(db_pool, str(repo), packs, box=BOX)
    assert (report.pack_ref, report.version, report.outcome) == ("st2demo", "0.1.0", "installed")
    assert report.path == str(packs.packs_dir / "st2demo") and report.registration is not None
    assert "st2demo.hello" in report.registration.actions.created
    assert tinylib_value(packs.virtualenvs_dir / "st2demo") == "from the pack virtualenv"
    pack = await PackRepository(db_pool).get_by_ref("st2demo")
    assert pack is not None and pack.source == str(repo) and pack.path == str(packs.packs_dir / "st2demo")
    assert not (packs.packs_dir / "st2demo" / ".git").exists()

    again = await install_pack(db_pool, str(repo), packs, box=BOX)
    assert again.outcome == "unchanged" and again.registration is None
    after = await PackRepository(db_pool).get_by_ref("st2demo")
    assert after is not None and after.updated == pack.updated

    (repo / "pack.yaml").write_text(
        (repo / "pack.yaml").read_text().replace("version: 0.1", "version: 0.2.0")
    )
    commit(repo, "0.2.0")
    upgraded = await install_pack(db_pool, f"{repo}@main", packs, box=BOX)
    assert (upgraded.outcome, upgraded.version, upgraded.previous_version) == ("upgraded", "0.2.0", "0.1.0")
    older = await install_pack(db_pool, f"{repo}@v0.1.0", packs, box=BOX)  # a tag
    assert (older.outcome, older.version) == ("upgraded", "0.1.0")

    changes = await remove_pack(db_pool, "st2demo", packs)
    assert {c.rule_ref for c in changes} >= {"st2demo.on_file", "st2demo.after_greet"}
    assert await PackRepository(db_pool).get_by_ref("st2demo") is None
    assert not (packs.packs_dir / "st2demo").exists() and not (packs.virtualenvs_dir / "st2demo").exists()


BROKEN = {
    "a python action that does not import": (
        "actions/py/hello.py",
        "import not_a_module_anywhere\n",
        "actions/hello.yaml:entry_point: does not import: ModuleNotFoundError: No module named 'not_a_module_anywhere'",
    ),
    "a python action without an Action class": (
        "actions/py/hello.py",
        "def run():\n    pass\n",
        "actions/hello.yaml:entry_point: has no action class (a subclass of Action)",
    ),
    "a sensor class that is not found": (
        "sensors/counter_sensor.py",
        "class Other:\n    pass\n",
        'sensors/counter.yaml:class_name: the sensor module has no class named "CounterSensor"',
    ),
    "a missing entry point": (
        "actions/args.yaml",
        "name: args\nrunner_type: local-shell-script\nentry_point: scripts/gone.sh\n",
        "actions/args.yaml:entry_point: file actions/scripts/gone.sh does not exist",
    ),
    "an unknown runner type": (
        "actions/args.yaml",
        "name: args\nrunner_type: teleport\n",
        "actions/args.yaml:runner_type: unknown runner type 'teleport'",
    ),
}


@pytest.mark.parametrize(("file", "text", "expected"), BROKEN.values(), ids=BROKEN.keys())
async def test_a_broken_pack_is_refused_and_the_installed_version_stays(
    db_pool: asyncpg.Pool, tmp_path: Path, packs: PacksSettings, file: str, text: str, expected: str
) -> None:
    repo = make_repo(tmp_path)
    await install_pack(db_pool, str(repo), packs, box=BOX)
    before = await PackRepository(db_pool).get_by_ref("st2demo")
    (repo / file).write_text(text)
    (repo / "pack.yaml").write_text(
        (repo / "pack.yaml").read_text().replace("version: 0.1", "version: 0.2.0")
    )
    commit(repo, "broken")
    with pytest.raises(InvalidPackError) as info:
        await install_pack(db_pool, str(repo), packs, box=BOX)
    assert [str(p) for p in info.value.problems][0].startswith(expected), info.value.problems
    after = await PackRepository(db_pool).get_by_ref("st2demo")
    assert after == before  # not half-registered: the previous version, untouched
    assert (packs.packs_dir / "st2demo" / "pack.yaml").read_text() == (ST2DEMO / "pack.yaml").read_text()
    assert (packs.virtualenvs_dir / "st2demo" / "bin" / "python").exists()
    assert await ActionRepository(db_pool).get_by_ref("st2demo.hello") is not None
    assert await SensorRepository(db_pool).get_by_ref("st2demo.CounterSensor") is not None
    assert not list((packs.packs_dir / ".staging").iterdir())


async def test_requirements_dependencies_and_versions_are_checked(
    db_pool: asyncpg.Pool, tmp_path: Path, packs: PacksSettings
) -> None:
    source = tmp_path / "st2demo"
    shutil.copytree(ST2DEMO, source)
    (source / "requirements.txt").write_text("./vendor/missing-0.1-py3-none-any.whl\n")
    with pytest.raises(InstallError, match="installing requirements.txt failed"):
        await install_pack(db_pool, str(source), packs, box=BOX)
    (source / "requirements.txt").unlink()
    meta = (source / "pack.yaml").read_text()
    (source / "pack.yaml").write_text(
        meta + "dependencies:\n  - https://github.com/StackStorm-Exchange/stackstorm-aws\n"
    )
    with pytest.raises(InstallError, match="depends on .*stackstorm-aws, which is not installed"):
        await install_pack(db_pool, str(source), packs, box=BOX)
    (source / "pack.yaml").write_text(meta.replace('">=3.0.0"', '"<3.0.0"'))
    with pytest.raises(InstallError, match='requires StackStorm "<3.0.0"'):
        await install_pack(db_pool, str(source), packs, box=BOX)
    assert await PackRepository(db_pool).get_by_ref("st2demo") is None
    forced = await install_pack(db_pool, str(source), packs, force=True, box=BOX)  # from a directory
    assert forced.outcome == "installed"


async def test_archives_are_extracted_safely(
    db_pool: asyncpg.Pool, tmp_path: Path, packs: PacksSettings
) -> None:
    good = tmp_path / "st2demo-0.1.tar.gz"
    with tarfile.open(good, "w:gz") as tar:
        tar.add(ST2DEMO, arcname="st2demo-0.1")
    assert (await install_pack(db_pool, str(good), packs, box=BOX)).outcome == "installed"

    escaping = tmp_path / "evil.tar.gz"
    with tarfile.open(escaping, "w:gz") as tar:
        tar.add(ST2DEMO, arcname="st2demo")
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 0
        tar.addfile(info)
    with pytest.raises(InstallError, match="cannot be extracted safely"):
        await install_pack(db_pool, str(escaping), packs, box=BOX)
    assert not (packs.packs_dir / ".staging" / "escaped.txt").exists()

    linked = tmp_path / "linked"
    shutil.copytree(ST2DEMO, linked)
    (linked / "actions" / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(InstallError, match="a symbolic link to /etc/passwd, outside the pack"):
        await install_pack(db_pool, str(linked), packs, box=BOX)
    with pytest.raises(InstallError, match="ships with Attune"):
        await remove_pack(db_pool, "core", packs)


async def test_a_source_naming_no_user_is_refused(db_pool: asyncpg.Pool, packs: PacksSettings) -> None:
    """``~user`` of no user here: pathlib raises RuntimeError, which the API answered with a 500
    (found by schemathesis)."""
    with pytest.raises(InstallError) as refused:
        await install_pack(db_pool, "~no-such-user-attune/st2demo@v1", packs, box=BOX)
    assert str(refused.value) == (
        "~no-such-user-attune/st2demo@v1: ~no-such-user-attune names no user of this machine"
    )
    assert list((packs.packs_dir / ".staging").iterdir()) == []


async def test_only_the_pack_of_a_directory_is_copied(
    db_pool: asyncpg.Pool, tmp_path: Path, packs: PacksSettings
) -> None:
    """A directory that holds no pack is refused before anything below it is read (``/`` was
    walked whole, and a file it could not read answered 503); one holding a pack in its only
    subdirectory installs that pack."""
    with pytest.raises(InvalidPackError) as refused:
        await install_pack(db_pool, "/", packs, box=BOX)
    assert "not a pack" in str(refused.value)
    assert list((packs.packs_dir / ".staging").iterdir()) == []

    wrapper = tmp_path / "wrapper"
    shutil.copytree(ST2DEMO, wrapper / "st2demo-0.1")
    report = await install_pack(db_pool, str(wrapper), packs, box=BOX)
    assert (report.pack_ref, report.outcome) == ("st2demo", "installed")
