"""The installed lab (build_backend/epoll_lab_build.py): one top-level name, imports rewritten, run-time files shipped.

No Docker and no pip: the wheel's tree is staged into a folder and imported from there by a fresh interpreter that
cannot see this checkout.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from build_backend import epoll_lab_build as backend
from build_backend.epoll_lab_build import BuildError, rewrite_commands, rewrite_imports, rewrite_module
from lab.images import LAB_IMAGES
from lab.settings import REPO_ROOT


def test_absolute_imports_of_the_three_packages_move_under_epoll_lab() -> None:
    source = ("from lab.chaos import checks\n"
              "from lab import settings\n"
              "    from clients.registry import get_behaviour\n"
              "import server.connection as connection_module\n"
              "import lab\n"
              "from labels import x\n"
              "import laboratory\n")
    assert rewrite_imports(source) == ("from epoll_lab.lab.chaos import checks\n"
                                       "from epoll_lab.lab import settings\n"
                                       "    from epoll_lab.clients.registry import get_behaviour\n"
                                       "import epoll_lab.server.connection as connection_module\n"
                                       "from epoll_lab import lab\n"
                                       "from labels import x\n"
                                       "import laboratory\n")


def test_commands_a_person_types_name_the_installed_command() -> None:
    text = ('"`python -m lab run x`", ["python", "-m", "lab", "run"], "python -m lab.chaos.run.picture t.json", '
            '"python -m clients replay h.json", ["python3", "-m", "clients", "run"]')
    assert rewrite_commands(text) == ('"`epoll-lab run x`", ["epoll-lab", "run"], '
                                      '"python -m epoll_lab.lab.chaos.run.picture t.json", '
                                      '"python -m epoll_lab.clients replay h.json", '
                                      '["python3", "-m", "clients", "run"]')  # this one runs in the container
    # Module names the host runs or loads: its own interpreter's -m, pytest's -p; a file name stays.
    text = '[sys.executable, "-m", "lab", "run"], ["-p", "lab.chaos.views.pytest_plugin"], "server.py", \'clients.cli\''
    assert rewrite_commands(text) == ('[sys.executable, "-m", "epoll_lab.lab", "run"], '
                                      '["-p", "epoll_lab.lab.chaos.views.pytest_plugin"], "server.py", '
                                      "'epoll_lab.clients.cli'")


def test_an_import_that_would_stop_binding_its_name_fails_the_build() -> None:
    with pytest.raises(BuildError, match="no longer binds"):
        rewrite_module("import lab.settings\n\nprint(lab.settings.REPO_ROOT)\n", "lab/x.py")
    # A side-effect import whose name is never used is fine.
    assert rewrite_module("def f() -> None:\n    import clients.behaviours\n", "clients/r.py") == \
        "def f() -> None:\n    import epoll_lab.clients.behaviours\n"


def test_runtime_requirements_come_from_the_pins() -> None:
    assert backend.requirements(REPO_ROOT, ["docker"]) == [
        line for line in (REPO_ROOT / "requirements.txt").read_text().splitlines() if line.startswith("docker==")]
    with pytest.raises(BuildError, match="no 'left-pad'"):
        backend.requirements(REPO_ROOT, ["left-pad"])


# Run by a fresh interpreter in the staged folder: every host module imports, none by a top-level name, and the
# files the lab reads are found where settings says.
PROBE = r"""
import importlib, json, pathlib, sys
root = pathlib.Path.cwd()
sys.path[:] = [str(root)] + [p for p in sys.path[1:] if not pathlib.Path(p, "lab").is_dir()]
modules = []
for package in ("lab", "clients", "server"):
    for path in sorted((root / "epoll_lab" / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if "images" in parts or "probe_agent" in parts or parts[-1] == "__main__":
            continue  # build contexts, and entry points that would run
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        importlib.import_module(name)
        modules.append(name)
from epoll_lab.lab import images, profiles, settings
from epoll_lab.lab.chaos.run import report
print(json.dumps({
    "modules": len(modules),
    "generic": sorted(name for name in sys.modules if name.split(".")[0] in ("lab", "clients", "server")),
    "installed": settings.INSTALLED,
    "hashes": {spec.tag: spec.source_hash("base") for spec in images.LAB_IMAGES},
    "compose": settings.COMPOSE_FILE.is_file(),
    "profiles": sorted(profiles.load_profiles()),
    "nginx_context": (settings.REPO_ROOT / profiles.find_profile("nginx").build).is_dir(),
    "reports": str(report.DEFAULT_REPORTS),
    "state": str(settings.STATE_DIR),
}))
"""


def test_the_staged_package_imports_without_the_checkout_and_finds_its_files(tmp_path: Path) -> None:
    for relative, data in backend.staged_files(REPO_ROOT):
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["epoll_lab"]
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout)
    assert seen["modules"] > 50 and seen["generic"] == [] and seen["installed"] is True
    # The images build from byte-identical sources: an installed lab reuses the checkout's images, and the reverse.
    assert seen["hashes"] == {spec.tag: spec.source_hash("base") for spec in LAB_IMAGES}
    assert seen["compose"] and seen["nginx_context"]
    assert seen["profiles"] == sorted(path.stem for path in (REPO_ROOT / "board" / "profiles").glob("*.toml"))
    # Installed, what the lab writes goes to the folder it runs in, not into site-packages.
    assert seen["reports"] == str(tmp_path / "reports") and seen["state"] == str(tmp_path / ".lab")


def test_the_wheel_holds_one_top_level_name_and_both_entry_points(tmp_path: Path) -> None:
    name = backend.write_wheel(REPO_ROOT, tmp_path)
    with zipfile.ZipFile(tmp_path / name) as wheel:
        names = wheel.namelist()
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/RECORD"))
        entry_points = wheel.read(f"{info}/entry_points.txt").decode()
        record = wheel.read(f"{info}/RECORD").decode().splitlines()
    assert {n.split("/")[0] for n in names} == {"epoll_lab", info}
    assert "epoll-lab = epoll_lab.lab.cli:main" in entry_points
    assert "[pytest11]\nepoll_lab = epoll_lab.lab.chaos.views.pytest_plugin" in entry_points
    assert len(record) == len(names)
    assert not [n for n in names if "__pycache__" in n or "/.host/" in n or n.endswith(".pyc")]
