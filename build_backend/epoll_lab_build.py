"""The build backend (PEP 517) of epoll-lab, standard library only: a wheel whose one top-level name is epoll_lab.

The repository keeps lab/, server/ and clients/ at its top, importing each other absolutely (`from lab.x import`,
`from clients.y import`). Installed under those names they would clash with anyone's own `lab` or `server`, so the
wheel holds them under epoll_lab/ and rewrites their imports, and the commands their messages print, the way pip
rewrites the imports of what it vendors. The images still build from untouched copies in epoll_lab/image-sources/:
inside their containers the server and clients run as top-level `python -m server` and `python -m clients`.
Everything else under epoll_lab/ mirrors the checkout, so lab.settings.REPO_ROOT finds the same files in both.

No build requirements: `pip install` of a checkout or a git URL works without reaching a package index.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import io
import re
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "epoll_lab"
HOST_PACKAGES = ("lab", "clients", "server")  # imported on the host: rewritten under epoll_lab/
IMAGE_SOURCES = "image-sources"  # epoll_lab/image-sources/<name>/: the untouched build contexts (lab.settings)
IMAGE_PACKAGES = ("server", "clients")  # host packages that are also an image's build context
VERBATIM_UNDER_LAB = ("lab/probe_agent", "lab/images")  # build contexts inside lab/: never rewritten
DATA = ("docker-compose.yml", "board", "findings", "docs/findings")  # read at run time, relative to REPO_ROOT
SDIST_EXTRA = ("pyproject.toml", "requirements.txt", "README.md", "build_backend/epoll_lab_build.py")
SKIPPED_PARTS = {"__pycache__", ".host", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
# A fixed timestamp: the same checkout gives the same wheel, byte for byte.
ZIP_TIME = (2020, 1, 1, 0, 0, 0)

_NAMES = "|".join(HOST_PACKAGES)
_FROM_IMPORT = re.compile(rf"^(\s*)from ({_NAMES})(?=[ .])", re.MULTILINE)
_IMPORT = re.compile(rf"^(\s*)import ({_NAMES})\b(\.[\w.]+)?(\s+as\s+\w+)?", re.MULTILINE)
# Commands in messages and repro lines, as a person types them on the host. `python3 -m clients` (no rewrite) is
# what runs inside the clients container.
_COMMANDS = (
    (re.compile(r"python -m lab\."), "python -m epoll_lab.lab."),
    (re.compile(r"python -m lab\b"), "epoll-lab"),
    (re.compile(r'"python", "-m", "lab"'), '"epoll-lab"'),
    (re.compile(r"python -m (clients|server)\b"), r"python -m epoll_lab.\1"),
    # The host's own interpreter running a module: [sys.executable, "-m", "lab", ...].
    (re.compile(rf'(sys\.executable,\s*"-m",\s*")({_NAMES})\b'), r"\1epoll_lab.\2"),
)
# A string that is a dotted module name, such as "lab.chaos.views.pytest_plugin" (pytest's -p, importlib);
# not a file name.
_MODULE_LITERAL = re.compile(rf"([\"'])({_NAMES})((?:\.[A-Za-z_]\w*)+)\1")
FILE_SUFFIXES = {"py", "pyc", "toml", "json", "jsonl", "txt", "yml", "yaml", "md", "html", "png", "sh", "log", "gz"}


class BuildError(Exception):
    """The checkout cannot be packaged as it is: names the file and what is wrong."""


def rewrite_imports(text: str) -> str:
    """`from lab.x import y` → `from epoll_lab.lab.x import y`; `import lab` → `from epoll_lab import lab`."""

    def plain_import(match: re.Match[str]) -> str:
        indent, name, dotted, alias = match.groups()
        if dotted is None and alias is None:
            return f"{indent}from {PACKAGE} import {name}"
        return f"{indent}import {PACKAGE}.{name}{dotted or ''}{alias or ''}"

    text = _FROM_IMPORT.sub(rf"\1from {PACKAGE}.\2", text)
    return _IMPORT.sub(plain_import, text)


def rewrite_commands(text: str) -> str:
    """Commands and module names in strings, as the installed package spells them."""
    for pattern, replacement in _COMMANDS:
        text = pattern.sub(replacement, text)

    def module_literal(match: re.Match[str]) -> str:
        quote, name, rest = match.groups()
        if rest.rsplit(".", 1)[-1] in FILE_SUFFIXES:
            return match.group(0)
        return f"{quote}{PACKAGE}.{name}{rest}{quote}"

    return _MODULE_LITERAL.sub(module_literal, text)


def rewrite_module(text: str, where: str) -> str:
    """A host module as installed; a BuildError when an absolute import of a host package is left or a name broke."""
    rewritten = rewrite_commands(rewrite_imports(text))
    try:
        tree = ast.parse(rewritten, filename=where)
    except SyntaxError as error:
        raise BuildError(f"{where}: does not parse after rewriting its imports: {error}") from None
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if node.level == 0 else [])
        left = [name for name in names if name.split(".")[0] in HOST_PACKAGES]
        if left:
            raise BuildError(f"{where}:{node.lineno}: `{left[0]}` is still imported by its top-level name")
        # `import lab.x` became `import epoll_lab.lab.x`, which binds epoll_lab, not lab: a use of `lab.x` would break.
        if isinstance(node, ast.Import):
            broken = [alias.name for alias in node.names if alias.asname is None
                      and alias.name.startswith(f"{PACKAGE}.") and alias.name.split(".")[1] in _attribute_bases(tree)]
            if broken:
                raise BuildError(f"{where}:{node.lineno}: `import {broken[0]}` no longer binds the name the module "
                                 "uses: import it with `from ... import` or `as`")
    return rewritten


def _attribute_bases(tree: ast.AST) -> set[str]:
    """Host package names used as `name.attribute` in a module."""
    return {node.value.id for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in HOST_PACKAGES}


def _files(root: Path, relative: str) -> Iterator[Path]:
    top = root / relative
    if top.is_file():
        yield top
        return
    if not top.is_dir():
        raise BuildError(f"{relative}: missing from the checkout at {root}")
    for path in sorted(top.rglob("*")):
        parts = path.relative_to(root).parts
        if path.is_file() and not SKIPPED_PARTS.intersection(parts) and path.suffix != ".pyc":
            yield path


def staged_files(root: Path) -> Iterator[tuple[str, bytes]]:
    """Every file of the wheel's epoll_lab/ package: (its path in the wheel, its content)."""
    yield f"{PACKAGE}/__init__.py", (
        b'"""epoll-lab, installed: lab/, server/ and clients/ of the repository, under one name.\n\n'
        b"The command is `epoll-lab` (the same as `python -m lab` in a checkout).\n"
        b'"""\n')
    for name in HOST_PACKAGES:
        for path in _files(root, name):
            relative = path.relative_to(root).as_posix()
            data = path.read_bytes()
            verbatim = relative.startswith(tuple(f"{context}/" for context in VERBATIM_UNDER_LAB))
            if path.suffix == ".py" and not verbatim:
                data = rewrite_module(data.decode(), relative).encode()
            yield f"{PACKAGE}/{relative}", data
    for name in IMAGE_PACKAGES:
        for path in _files(root, name):
            yield f"{PACKAGE}/{IMAGE_SOURCES}/{path.relative_to(root).as_posix()}", path.read_bytes()
    for relative in DATA:
        for path in _files(root, relative):
            yield f"{PACKAGE}/{path.relative_to(root).as_posix()}", path.read_bytes()


# -- metadata -------------------------------------------------------------------------------------------------------

def _project(root: Path) -> dict[str, object]:
    with (root / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)


def requirements(root: Path, names: list[str]) -> list[str]:
    """The pins of requirements.txt (the one place they are kept) for the named runtime packages."""
    pins: dict[str, str] = {}
    for raw in (root / "requirements.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            pins[_normal(re.split(r"[=<>!~ ;\[]", line, maxsplit=1)[0])] = line
    missing = [name for name in names if _normal(name) not in pins]
    if missing:
        raise BuildError(f"requirements.txt pins no {missing[0]!r} (pyproject.toml [tool.epoll-lab] runtime)")
    return [pins[_normal(name)] for name in names]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _metadata(root: Path) -> tuple[str, str, dict[str, bytes]]:
    """(distribution name for file names, version, the dist-info files but RECORD)."""
    data = _project(root)
    project = data["project"]
    tool = data.get("tool", {})
    assert isinstance(project, dict) and isinstance(tool, dict)
    runtime = tool.get("epoll-lab", {}).get("runtime", [])
    name, version = str(project["name"]), str(project["version"])
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}",
             f"Summary: {project.get('description', '')}", f"Requires-Python: {project.get('requires-python', '')}"]
    if isinstance(project.get("license"), dict):
        lines.append(f"License: {project['license'].get('text', '')}")
    lines += [f"Requires-Dist: {pin}" for pin in requirements(root, list(runtime))]
    readme = root / str(project.get("readme", "README.md"))
    lines.append("Description-Content-Type: text/markdown")
    metadata = "\n".join(lines) + "\n\n" + (readme.read_text() if readme.exists() else "")
    groups = {"console_scripts": project.get("scripts", {}), **project.get("entry-points", {})}
    entry_points = "".join(f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in entries.items()) + "\n"
                           for group, entries in groups.items() if entries)
    wheel = f"Wheel-Version: 1.0\nGenerator: {Path(__file__).stem}\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    dist = _normal(name).replace("-", "_")
    return dist, version, {"METADATA": metadata.encode(), "entry_points.txt": entry_points.encode(),
                           "WHEEL": wheel.encode()}


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


# -- PEP 517 hooks ----------------------------------------------------------------------------------------------------

def get_requires_for_build_wheel(config_settings: dict[str, object] | None = None) -> list[str]:
    return []


def get_requires_for_build_sdist(config_settings: dict[str, object] | None = None) -> list[str]:
    return []


def prepare_metadata_for_build_wheel(metadata_directory: str, config_settings: dict[str, object] | None = None) -> str:
    dist, version, files = _metadata(Path.cwd())
    folder = Path(metadata_directory) / f"{dist}-{version}.dist-info"
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder.name


def build_wheel(wheel_directory: str, config_settings: dict[str, object] | None = None,
                metadata_directory: str | None = None) -> str:
    return write_wheel(Path.cwd(), Path(wheel_directory))


def write_wheel(root: Path, directory: Path) -> str:
    dist, version, metadata = _metadata(root)
    info = f"{dist}-{version}.dist-info"
    entries = [*staged_files(root), *((f"{info}/{name}", data) for name, data in metadata.items())]
    record = [_record_line(path, data) for path, data in entries] + [f"{info}/RECORD,,"]
    entries.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode()))
    filename = f"{dist}-{version}-py3-none-any.whl"
    directory.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(directory / filename, "w", compression=zipfile.ZIP_DEFLATED) as wheel:
        for path, data in entries:
            member = zipfile.ZipInfo(path, ZIP_TIME)
            member.external_attr = (0o755 if path.endswith(".sh") else 0o644) << 16
            member.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(member, data)
    return filename


def build_sdist(sdist_directory: str, config_settings: dict[str, object] | None = None) -> str:
    root = Path.cwd()
    dist, version, metadata = _metadata(root)
    top = f"{dist}-{version}"
    filename = f"{top}.tar.gz"
    with tarfile.open(Path(sdist_directory) / filename, "w:gz") as sdist:
        sources = [*HOST_PACKAGES, *DATA, *SDIST_EXTRA]
        files = [(path.relative_to(root).as_posix(), path.read_bytes()) for name in sources
                 for path in _files(root, name)]
        for relative, data in [*files, ("PKG-INFO", metadata["METADATA"])]:
            member = tarfile.TarInfo(f"{top}/{relative}")
            member.size, member.mode, member.mtime = len(data), 0o644, 1577836800
            sdist.addfile(member, io.BytesIO(data))
    return filename
