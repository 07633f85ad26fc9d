"""Hostile pack sources: archives that write outside their folder, links leaving the pack, YAML
bombs, local sources outside ``packs.local_sources``: refused with a reason, nothing written
outside the staging area, nothing registered."""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
import tarfile
from pathlib import Path

import asyncpg
import pytest

from attune_shared.packs import InstallError, InvalidPackError, install_pack
from attune_shared.repos import PackRepository
from attune_shared.settings import PacksSettings
from attune_shared.yamlfile import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, YamlError, load_yaml

PACK_YAML = b"ref: tiny\nlabel: Tiny\ndescription: A tiny pack.\nversion: 1.0.0\n"


@pytest.fixture
def packs(tmp_path: Path) -> PacksSettings:
    return PacksSettings(home=tmp_path / "home")


def _tiny(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "pack.yaml").write_bytes(PACK_YAML)
    return root


def _archive(path: Path, *members: tuple[tarfile.TarInfo, bytes | None]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("tiny/pack.yaml")
        info.size = len(PACK_YAML)
        tar.addfile(info, io.BytesIO(PACK_YAML))
        for member, data in members:
            tar.addfile(member, None if data is None else io.BytesIO(data))
    return path


def _file(name: str, data: bytes = b"owned\n") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def _written_outside(tmp_path: Path, packs: PacksSettings) -> list[Path]:
    """Files under ``tmp_path`` other than the sources the test wrote and the install's own home."""
    return [
        p
        for p in tmp_path.rglob("*")
        if not p.is_relative_to(packs.home)
        and not p.is_relative_to(tmp_path / "src")
        and p.name != "evil.tar.gz"
    ]


HOSTILE_ARCHIVES = {
    "dot-dot": [_file("tiny/../../escaped.txt")],
    "absolute": [_file("/tmp/attune-escaped.txt")],
    "symlink out": [_link("tiny/passwd", "/etc/passwd")],
    "symlink up": [_link("tiny/up", "../../..")],
    "hard link out": [_link("tiny/shadow", "/etc/hostname", tarfile.LNKTYPE)],
    "device": [(tarfile.TarInfo("tiny/null"), None)],
}
HOSTILE_ARCHIVES["device"][0][0].type = tarfile.CHRTYPE


@pytest.mark.parametrize("members", HOSTILE_ARCHIVES.values(), ids=HOSTILE_ARCHIVES.keys())
async def test_hostile_archives_are_refused_and_write_nothing_outside(
    db_pool: asyncpg.Pool,
    tmp_path: Path,
    packs: PacksSettings,
    members: list[tuple[tarfile.TarInfo, bytes | None]],
) -> None:
    (tmp_path / "src").mkdir()
    archive = _archive(tmp_path / "evil.tar.gz", *members)

    with pytest.raises(InstallError, match=r"evil\.tar\.gz: cannot be extracted safely: .+"):
        await install_pack(db_pool, str(archive), packs)

    assert _written_outside(tmp_path, packs) == []
    assert not await asyncio.to_thread(Path("/tmp/attune-escaped.txt").exists)
    assert not list((packs.packs_dir / ".staging").iterdir())
    assert await PackRepository(db_pool).get_by_ref("tiny") is None


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
    )


async def test_a_git_repository_with_a_link_out_is_refused(
    db_pool: asyncpg.Pool, tmp_path: Path, packs: PacksSettings
) -> None:
    repo = _tiny(tmp_path / "src" / "repo")
    (repo / "passwd").symlink_to("/etc/passwd")
    _git(repo, "init", "--quiet")
    _git(repo, "add", "--all")
    _git(repo, "commit", "--quiet", "-m", "evil")

    with pytest.raises(InstallError, match="passwd: a symbolic link to /etc/passwd, outside the pack"):
        await install_pack(db_pool, f"file://{repo}", packs)

    assert not (packs.packs_dir / "tiny").exists()
    assert await PackRepository(db_pool).get_by_ref("tiny") is None


@pytest.mark.parametrize("form", ["{path}", "file://{path}", "{path}@main", "{archive}"])
async def test_local_sources_outside_the_allowed_roots_are_refused(
    db_pool: asyncpg.Pool, tmp_path: Path, form: str
) -> None:
    allowed = tmp_path / "src" / "allowed"
    allowed.mkdir(parents=True)
    outside = _tiny(tmp_path / "src" / "outside" / "tiny")
    _git(outside, "init", "--quiet", "--initial-branch=main")
    _git(outside, "add", "--all")
    _git(outside, "commit", "--quiet", "-m", "tiny")
    archive = tmp_path / "src" / "outside" / "tiny.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(outside, arcname="tiny")
    packs = PacksSettings(home=tmp_path / "home", local_sources=[allowed])
    source = form.format(path=outside, archive=archive)

    with pytest.raises(InstallError, match=rf"a local source outside packs.local_sources \({allowed}\)"):
        await install_pack(db_pool, source, packs)
    assert await PackRepository(db_pool).get_by_ref("tiny") is None

    link = allowed / "tiny"
    link.symlink_to(outside)  # a link inside the allowed root to a pack outside it
    with pytest.raises(InstallError, match="outside packs.local_sources"):
        await install_pack(db_pool, str(link), packs)


async def test_local_sources_inside_the_allowed_roots_install(db_pool: asyncpg.Pool, tmp_path: Path) -> None:
    allowed = tmp_path / "src"
    pack = _tiny(allowed / "tiny")
    packs = PacksSettings(home=tmp_path / "home", local_sources=[allowed])

    report = await install_pack(db_pool, str(pack), packs)

    assert (report.pack_ref, report.outcome) == ("tiny", "installed")


# -- YAML bombs -----------------------------------------------------------------------------------


def _laughs() -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    return "ref: tiny\nversion: 1.0.0\n" + "\n".join(lines) + "\n"


YAML_BOMBS = {
    "billion laughs": (_laughs(), f"more than {MAX_NODES} values once aliases are expanded"),
    "deep flow": ("x: " + "[" * 5000 + "]" * 5000 + "\n", f"nested too deeply (at most {MAX_DEPTH} levels)"),
    "deep block": (
        "".join("  " * i + f"k{i}:\n" for i in range(400)) + "  " * 400 + "v\n",
        f"nested too deeply (at most {MAX_DEPTH} levels)",
    ),
    "lone surrogate": ('ref: "x\\ud800"\n', "a string holds a lone surrogate"),
    "huge": ("x: " + "a" * (MAX_FILE_BYTES + 1) + "\n", f"YAML files may have at most {MAX_FILE_BYTES}"),
}


@pytest.mark.parametrize(("text", "refusal"), YAML_BOMBS.values(), ids=YAML_BOMBS.keys())
def test_yaml_bombs_are_refused_by_the_reader(tmp_path: Path, text: str, refusal: str) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    with pytest.raises(YamlError, match=re.escape(refusal)):
        load_yaml(path)


@pytest.mark.parametrize(("text", "refusal"), YAML_BOMBS.values(), ids=YAML_BOMBS.keys())
async def test_yaml_bombs_in_a_pack_are_refused_naming_the_file(
    db_pool: asyncpg.Pool, tmp_path: Path, packs: PacksSettings, text: str, refusal: str
) -> None:
    pack = _tiny(tmp_path / "src" / "tiny")
    (pack / "rules").mkdir()
    (pack / "rules" / "bomb.yaml").write_text(text)

    with pytest.raises(InvalidPackError) as refused:
        await install_pack(db_pool, str(pack), packs)

    assert any(str(p).startswith("rules/bomb.yaml:") and refusal in str(p) for p in refused.value.problems), (
        refused.value.problems
    )
    assert await PackRepository(db_pool).get_by_ref("tiny") is None
