"""Installing a pack: fetch, check, build its virtual environment, register, swap in; and removing one.

``install_pack(db, source, packs)`` takes a git URL (``URL@ref`` for a branch, tag or commit), a
directory, or a ``.tar.gz`` archive. The pack is staged under ``<home>/packs/.staging``, read and
checked whole (as :func:`~attune_shared.packs.register_pack` does), its ``python_versions``,
``stackstorm_version`` and ``dependencies`` are checked, its virtual environment is created with
uv from ``requirements.txt``, its python actions and sensors are imported in it (a file that does
not import, or a sensor class that is not there, refuses the pack), then it is moved to
``<home>/packs/<ref>`` (its environment to ``<home>/virtualenvs/<ref>``) and registered. A failure
at any step leaves the previous version installed and registered; installing the same content
again changes nothing.

Nothing is written outside the staging directory and the pack's own: archives are extracted with
:mod:`tarfile`'s ``data`` filter (no absolute paths, no ``..``, no links leaving the archive, no
devices), a directory's symbolic links must stay inside it, and a local source (a path, a
``file://`` URL) must be inside ``packs.local_sources`` when that is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import tarfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import asyncpg
import semver
from pydantic import BaseModel, Field

from attune_shared.bus.messages import RuleChanged
from attune_shared.constants import PACK_INSTALL_LOCK_KEY
from attune_shared.errors import AttuneError
from attune_shared.packs.loader import PACK_FILE, LoadedPack, load_pack, read_mapping
from attune_shared.packs.problems import ROOT, InvalidPackError, PackProblem
from attune_shared.packs.refs import PACK_REF_RE
from attune_shared.packs.registry import register_pack
from attune_shared.packs.report import RegistrationReport
from attune_shared.packs.stackstorm import STACKSTORM_PACK_REF
from attune_shared.repos import PackRepository, RuleRepository
from attune_shared.secrets import SecretBox
from attune_shared.settings import PacksSettings, expand_home
from attune_shared.st2compat import CHECK_WRAPPER

log = logging.getLogger("attune.packs.install")

#: The StackStorm version whose packs this project runs (checked against ``stackstorm_version``).
STACKSTORM_VERSION = "3.9.0"
#: Seconds a git clone, a virtual environment or the import check may take.
STEP_TIMEOUT = 600.0
#: Packs that ship with this project and are not installed or removed.
BUNDLED = frozenset({"core"})
#: The file an installed pack's content digest is kept in (beside the pack, not in it).
_DIGEST_SUFFIX = ".digest"


class InstallError(AttuneError):
    """A pack that cannot be installed (fetched, built or checked); nothing changed."""


class InstallReport(BaseModel):
    """What :func:`install_pack` did."""

    pack_ref: str
    version: str
    source: str
    path: str
    #: ``installed`` (new), ``upgraded`` (another version or content), ``unchanged``
    outcome: str
    previous_version: str | None = None
    virtualenv: str | None = None
    registration: RegistrationReport | None = None
    rule_changes: list[RuleChanged] = Field(default_factory=list)


@dataclass
class _Staged:
    #: the staging directory of this install, removed at the end
    workdir: Path
    root: Path
    source: str
    digest: str
    pack: LoadedPack | None = None
    venv: Path | None = None


async def install_pack(
    db: asyncpg.Pool, source: str, packs: PacksSettings, *, force: bool = False, box: SecretBox | None = None
) -> InstallReport:
    """Install (or upgrade) the pack at ``source``; see the module docstring.

    ``force`` installs even when ``stackstorm_version`` or ``python_versions`` exclude this
    system, and reinstalls unchanged content. ``box`` seals the config's secrets (see
    :func:`~attune_shared.packs.register_pack`).

    :raises InvalidPackError: the pack's files are invalid (every problem, by file and field).
    :raises InstallError: it cannot be fetched, built, or its checks fail.
    """
    for directory in (packs.packs_dir, packs.virtualenvs_dir, packs.configs_dir, _staging(packs)):
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    staged = await _fetch(source, packs)
    try:
        ref = _ref_of(staged.root)
        if ref in BUNDLED:
            raise InstallError(f"pack {ref} ships with Attune and cannot be installed")
        staged.root = staged.root.rename(staged.workdir / ref)  # StackStorm names the directory by the ref
        async with _locked(db, ref):
            return await _install(db, staged, ref, packs, force, box)
    finally:
        await asyncio.to_thread(shutil.rmtree, staged.workdir, True)


async def _install(
    db: asyncpg.Pool, staged: _Staged, ref: str, packs: PacksSettings, force: bool, box: SecretBox | None
) -> InstallReport:
    target, venv = packs.packs_dir / ref, packs.virtualenvs_dir / ref
    previous = await PackRepository(db).get_by_ref(ref)
    installed_digest = await asyncio.to_thread(_read_digest, packs, ref)
    staged.pack = await asyncio.to_thread(load_pack, staged.root, configs_dir=packs.configs_dir)
    version = str(staged.pack.values["version"])
    in_place = await asyncio.to_thread(target.is_dir)
    if previous is not None and installed_digest == staged.digest and in_place and not force:
        return InstallReport(
            pack_ref=ref,
            version=version,
            source=staged.source,
            path=str(target),
            outcome="unchanged",
            previous_version=previous.version,
            virtualenv=str(venv) if venv.is_dir() else None,
        )
    await _check_requirements(db, staged.pack, force)
    staged.venv = await _virtualenv(staged)
    await _check_imports(staged)
    # swap in: the previous version stays aside until the new one is registered
    moved = await asyncio.to_thread(_swap_in, staged, target, venv)
    try:
        registration = await register_pack(
            db, target, configs_dir=packs.configs_dir, source=staged.source, box=box
        )
    except BaseException:
        await asyncio.to_thread(_swap_back, moved, target, venv)
        raise
    await asyncio.to_thread(_write_digest, packs, ref, staged.digest)
    outcome = "installed" if previous is None else "upgraded"
    log.info(
        "pack.installed", extra={"pack": ref, "version": version, "source": staged.source, "outcome": outcome}
    )
    return InstallReport(
        pack_ref=ref,
        version=version,
        source=staged.source,
        path=str(target),
        outcome=outcome,
        previous_version=previous.version if previous else None,
        virtualenv=str(venv),
        registration=registration,
        rule_changes=registration.rule_changes,
    )


def _swap_in(staged: _Staged, target: Path, venv: Path) -> list[tuple[Path, Path]]:
    """Move the installed version aside and the staged one in; what was moved aside, to where."""
    assert staged.venv is not None
    aside = staged.workdir / "previous"
    aside.mkdir()
    moved = [(path, aside / name) for path, name in ((target, "pack"), (venv, "venv")) if path.exists()]
    for path, backup in moved:
        path.rename(backup)
    shutil.move(str(staged.root), target)
    shutil.move(str(staged.venv), venv)
    return moved


def _swap_back(moved: list[tuple[Path, Path]], target: Path, venv: Path) -> None:
    for path in (target, venv):
        shutil.rmtree(path, ignore_errors=True)
    for path, backup in moved:
        backup.rename(path)


async def remove_pack(db: asyncpg.Pool, ref: str, packs: PacksSettings) -> list[RuleChanged]:
    """Remove a pack: its rows (every component), and, when it was installed, its files and virtual
    environment. Returns the rule changes to publish.

    :raises InstallError: for a pack that ships with Attune, or one that does not exist.
    """
    if ref in BUNDLED:
        raise InstallError(f"pack {ref} ships with Attune and cannot be removed")
    async with _locked(db, ref):
        pack = await PackRepository(db).get_by_ref(ref)
        if pack is None:
            raise InstallError(f"no pack {ref}")
        rules = await RuleRepository(db).list(pack=ref)
        await PackRepository(db).delete_by_ref(ref)
        if pack.path:
            await asyncio.to_thread(_remove_files, Path(pack.path), ref, packs)
    return [
        RuleChanged(rule_ref=r.ref, trigger_ref=r.trigger_ref, enabled=False, op="deleted") for r in rules
    ]


def _remove_files(path: Path, ref: str, packs: PacksSettings) -> None:
    """The files of an installed pack (one registered in place is left alone)."""
    if path.resolve() != (packs.packs_dir / ref).resolve():
        return
    shutil.rmtree(packs.packs_dir / ref, ignore_errors=True)
    shutil.rmtree(packs.virtualenvs_dir / ref, ignore_errors=True)
    (packs.packs_dir / f".{ref}{_DIGEST_SUFFIX}").unlink(missing_ok=True)


# -- fetching ------------------------------------------------------------------------------------


async def _fetch(source: str, packs: PacksSettings) -> _Staged:
    """Copy ``source`` into a new staging directory (the pack in ``<workdir>/fetched``)."""
    where = _staging(packs) / uuid.uuid4().hex
    await asyncio.to_thread(where.mkdir)
    try:
        local = await asyncio.to_thread(_stage_local, source, where, packs)
        if not local:
            await _clone(source, where / "fetched", packs)
        root = await asyncio.to_thread(_pack_root, where / "fetched")
        return _Staged(where, root, source, await asyncio.to_thread(_digest, root))
    except BaseException:
        await asyncio.to_thread(shutil.rmtree, where, True)
        raise


def _stage_local(source: str, where: Path, packs: PacksSettings) -> bool:
    """Copy a directory or extract an archive into ``<where>/fetched``; False for anything else (git)."""
    path = _user_path(source)
    try:
        path.exists()
    except OSError as exc:  # a name too long, say: neither a path nor a git URL
        raise InstallError(
            f"{source[:200]}: not a directory, an archive or a git URL ({exc.strerror})"
        ) from None
    if path.exists():
        _check_local(path, source, packs)
    if path.is_dir():
        # only the pack is copied: a directory that holds none is refused before anything is read
        # below it (`/` would have been walked whole)
        try:
            _copy_tree(_pack_root(path.resolve()), where / "fetched")
        except OSError as exc:  # shutil.Error too: an unreadable file is the source's, not a server's
            raise InstallError(f"{source}: cannot be read: {exc}") from None
        return True
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz")):
        _extract(path, where / "archive")
        shutil.move(str(_pack_root(where / "archive")), where / "fetched")
        return True
    if path.exists():
        raise InstallError(f"{source}: not a directory, a .tar.gz archive, or a git URL")
    return False


async def _clone(source: str, into: Path, packs: PacksSettings) -> None:
    url, _, ref = source.rpartition("@") if _has_ref(source) else (source, "", "")
    if url.startswith("-"):
        raise InstallError(f"{source}: not a git URL")
    local = _local_path(url)
    if local is not None:
        _check_local(local, source, packs)
    # a repository by path or file:// is the one checked above; git reaches no other local one
    file_protocol = "always" if local is not None or packs.local_sources is None else "never"
    await _run(
        ["git", "-c", "protocol.ext.allow=never", "-c", f"protocol.file.allow={file_protocol}"]
        + ["clone", "--quiet", "--", url, str(into)],
        f"git clone {url}",
    )
    if ref:
        await _run(["git", "-C", str(into), "checkout", "--quiet", ref, "--"], f"git checkout {ref}")
    shutil.rmtree(into / ".git", ignore_errors=True)
    await asyncio.to_thread(_check_links, into)


def _local_path(url: str) -> Path | None:
    """The directory a git URL names on this machine (a path, ``file://``), else ``None``."""
    if url.startswith("file://"):
        return Path(urlparse(url).path)
    if "://" in url or re.match(r"^[^/]+:", url):  # a URL, or scp-like host:path
        return None
    return _user_path(url)


def _user_path(text: str) -> Path:
    """``text`` as a path, ``~`` expanded; a ``~user`` of no user here is the source's error."""
    try:
        return expand_home(Path(text))
    except ValueError as exc:
        raise InstallError(f"{text[:200]}: {exc}") from None


def _check_local(path: Path, source: str, packs: PacksSettings) -> None:
    """Refuse a local source outside ``packs.local_sources`` (when set); links are followed first."""
    roots = packs.local_sources
    if roots is None:
        return
    real = path.resolve()
    if not any(real.is_relative_to(root) for root in roots):
        allowed = ", ".join(map(str, roots)) or "none"
        raise InstallError(
            f"{source}: a local source outside packs.local_sources ({allowed}); "
            "add its directory there to allow it"
        )


def _has_ref(source: str) -> bool:
    """``URL@ref``: an ``@`` after the last ``/`` (``git@host:path`` keeps its user part)."""
    tail = source.rsplit("/", 1)[-1]
    return "@" in tail and not tail.endswith("@")


def _extract(archive: Path, into: Path) -> None:
    """Extract refusing absolute paths, ``..``, links leaving the archive and special files."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(into, filter=_member)
    except (tarfile.TarError, OSError) as exc:
        raise InstallError(f"{archive}: cannot be extracted safely: {exc}") from None


def _member(member: tarfile.TarInfo, into: str) -> tarfile.TarInfo | None:
    """tarfile's ``data`` filter, which also refuses an absolute name (it would strip the ``/``)."""
    if member.name.startswith(("/", "\\")):
        raise tarfile.AbsolutePathError(member)
    return tarfile.data_filter(member, into)


def _copy_tree(source: Path, into: Path) -> None:
    """Copy a pack directory, refusing symbolic links that point outside it."""
    _check_links(source)
    shutil.copytree(source, into, symlinks=True, ignore=shutil.ignore_patterns(".git"))


def _check_links(root: Path) -> None:
    """Refuse symbolic links under ``root`` that point outside it (a directory, a git checkout)."""
    root = root.resolve()
    for path in root.rglob("*"):
        if path.is_symlink():
            target = path.resolve()
            if not target.is_relative_to(root):
                raise InstallError(f"{path.relative_to(root)}: a symbolic link to {target}, outside the pack")


def _pack_root(path: Path) -> Path:
    """The pack directory: ``path`` itself, or its only subdirectory (archives usually hold one)."""
    if (path / PACK_FILE).is_file():
        return path
    children = [c for c in path.iterdir() if not c.name.startswith(".")]
    if len(children) == 1 and (children[0] / PACK_FILE).is_file():
        return children[0]
    raise InvalidPackError(str(path), [PackProblem(PACK_FILE, ROOT, "not found: this is not a pack")])


def _ref_of(root: Path) -> str:
    """The ref the pack will be installed as: ``ref``, else ``name`` (the directory takes it)."""
    data, problems = read_mapping(root / PACK_FILE, PACK_FILE)
    if data is None:
        raise InvalidPackError(str(root), problems)
    ref = data.get("ref") or data.get("name")
    if not isinstance(ref, str) or not (PACK_REF_RE.match(ref) or STACKSTORM_PACK_REF.match(ref)):
        raise InvalidPackError(
            str(root),
            [
                PackProblem(
                    PACK_FILE,
                    "ref",
                    f"{ref!r}: a pack needs a ref (or name) of lowercase letters, digits, '_'",
                )
            ],
        )
    return ref


def _digest(root: Path) -> str:
    sha = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts):
        sha.update(path.relative_to(root).as_posix().encode() + b"\0")
        sha.update(path.read_bytes())
        sha.update(b"\0")
    return sha.hexdigest()


def _read_digest(packs: PacksSettings, ref: str) -> str | None:
    path = packs.packs_dir / f".{ref}{_DIGEST_SUFFIX}"
    return path.read_text().strip() if path.is_file() else None


def _write_digest(packs: PacksSettings, ref: str, digest: str) -> None:
    (packs.packs_dir / f".{ref}{_DIGEST_SUFFIX}").write_text(digest + "\n")


def _staging(packs: PacksSettings) -> Path:
    return packs.packs_dir / ".staging"


# -- checks ----------------------------------------------------------------------------------------


async def _check_requirements(db: asyncpg.Pool, pack: LoadedPack, force: bool) -> None:
    metadata = pack.values.get("metadata") or {}
    problems: list[str] = []
    python_versions = [str(v) for v in metadata.get("python_versions", ["2", "3"])]
    if "3" not in python_versions and not force:
        problems.append(f"pack {pack.ref} supports Python {', '.join(python_versions)} only, not 3")
    wanted = metadata.get("stackstorm_version")
    if wanted and not force:
        try:
            compatible = all(
                semver.Version.parse(STACKSTORM_VERSION).match(c.strip()) for c in str(wanted).split(",")
            )
        except ValueError:
            compatible = False
            problems.append(f'stackstorm_version "{wanted}" is not a version specifier such as ">=3.0.0"')
        if not compatible and not problems:
            problems.append(
                f'pack {pack.ref} requires StackStorm "{wanted}", and Attune runs packs as StackStorm '
                f"{STACKSTORM_VERSION}: install with force to override"
            )
    for dependency in metadata.get("dependencies", []):
        name, _, version = str(dependency).partition("=")
        dep_ref = re.sub(r"^stackstorm-", "", name.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git"))
        installed = await PackRepository(db).get_by_ref(dep_ref)
        if installed is None:
            problems.append(
                f"pack {pack.ref} depends on {dependency}, which is not installed: install it first"
            )
        elif version and re.fullmatch(r"\d+\.\d+\.\d+\S*", version) and installed.version != version:
            problems.append(
                f"pack {pack.ref} depends on {dep_ref} {version}; {installed.version} is installed"
            )
    if problems:
        raise InstallError("; ".join(problems))


async def _virtualenv(staged: _Staged) -> Path:
    """The pack's virtual environment, built with uv beside the staged pack."""
    venv = staged.workdir / "virtualenv"
    uv = _uv()
    # relocatable: it is built here and moved into place once everything passed
    await _run(
        [uv, "venv", "--quiet", "--relocatable", "--python", sys.executable, str(venv)],
        "creating the virtual environment",
    )
    requirements = staged.root / "requirements.txt"
    if await asyncio.to_thread(_has_requirements, requirements):
        await _run(
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--python",
                str(venv / "bin" / "python"),
                "-r",
                str(requirements),
            ],
            "installing requirements.txt",
            cwd=staged.root,
        )
    return venv


def _has_requirements(path: Path) -> bool:
    if not path.is_file():
        return False
    return any(line.strip() and not line.lstrip().startswith("#") for line in path.read_text().splitlines())


async def _check_imports(staged: _Staged) -> None:
    """Import every python-script action and sensor in the new environment; refuse what does not load."""
    assert staged.pack is not None and staged.venv is not None
    root = staged.root
    job = {
        "actions": [
            {"file": a.file, "path": str(root / "actions" / a.values["entry_point"])}
            for a in staged.pack.of("action")
            if a.values["runner_type"] == "python-script"
        ],
        "sensors": [
            {
                "file": s.file,
                "path": str(root / "sensors" / s.values["entry_point"]),
                "class_name": s.values["class_name"],
            }
            for s in staged.pack.of("sensor")
            if s.values.get("class_name")
        ],
        "lib_paths": [str(root / "actions" / "lib")],
    }
    if not job["actions"] and not job["sensors"]:
        return
    out = await _run(
        [str(staged.venv / "bin" / "python"), "-E", "-s", str(CHECK_WRAPPER)],
        "importing the pack's python actions and sensors",
        stdin=json.dumps(job).encode(),
        cwd=root,
    )
    try:
        problems = json.loads(out.splitlines()[-1])["problems"]
    except (ValueError, IndexError, KeyError):
        raise InstallError(f"the import check printed no report: {out[-500:]!r}") from None
    if problems:
        raise InvalidPackError(
            str(root), [PackProblem(p["file"], p["field"], p["message"]) for p in problems]
        )


def _uv() -> str:
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found is None:
            raise InstallError("uv is not installed: it builds the packs' virtual environments") from None
        return found


async def _run(argv: list[str], what: str, *, stdin: bytes | None = None, cwd: Path | None = None) -> str:
    """Run a command to its end; its stdout, or :class:`InstallError` with its stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTUNE__")}
    env.update(GIT_TERMINAL_PROMPT="0", VIRTUAL_ENV="")
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=str(cwd) if cwd else None,
            env=env,
        )
    except OSError as exc:
        raise InstallError(f"{what}: cannot run {argv[0]}: {exc.strerror or exc}") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), STEP_TIMEOUT)
    except TimeoutError:
        proc.kill()
        raise InstallError(f"{what}: took longer than {STEP_TIMEOUT:g} s") from None
    if proc.returncode != 0:
        detail = err.decode(errors="replace").strip().splitlines()
        raise InstallError(f"{what} failed: {' '.join(detail[-3:]) or f'exit code {proc.returncode}'}")
    return out.decode(errors="replace")


@contextlib.asynccontextmanager
async def _locked(db: asyncpg.Pool, ref: str) -> AsyncIterator[None]:
    """One install or removal of a pack at a time, across processes."""
    async with db.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1, hashtext($2))", PACK_INSTALL_LOCK_KEY, ref)
        try:
            yield
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1, hashtext($2))", PACK_INSTALL_LOCK_KEY, ref)
