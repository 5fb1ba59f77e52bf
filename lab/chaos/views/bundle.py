"""A repro bundle: one tar.gz with everything needed to look at a case's failure on another machine.

manifest.json (case, seed, target, verdicts, the exact commands, the image ids, what the capture says),
timeline.json (the whole history, replayable into a picture) and its picture, the clients' operation histories
(`python -m clients replay`), and the packet capture and syscall trace. `python -m lab show BUNDLE` prints it.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path
from typing import Any

from lab.errors import LabError

MANIFEST = "manifest.json"
FORMAT = 1


def write_bundle(path: Path, manifest: dict[str, Any], files: dict[str, Path]) -> Path:
    """The archive at `path`: the manifest, then each file (or folder) under its name in the bundle."""
    path.parent.mkdir(parents=True, exist_ok=True)
    present = {name: source for name, source in sorted(files.items()) if source.exists()}
    manifest = {"format": FORMAT, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **manifest,
                "files": _listing(present)}
    with tarfile.open(path, "w:gz") as tar:
        data = json.dumps(manifest, indent=1).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mtime = len(data), int(time.time())
        tar.addfile(info, io.BytesIO(data))
        for name, source in present.items():
            tar.add(source, arcname=name)
    return path


def _listing(files: dict[str, Path]) -> list[str]:
    names = []
    for name, source in files.items():
        if source.is_dir():
            names += sorted(f"{name}/{p.relative_to(source)}" for p in source.rglob("*") if p.is_file())
        else:
            names.append(name)
    return names


def read_manifest(path: Path) -> dict[str, Any]:
    """The bundle's manifest; a LabError in one line for anything that is not a bundle."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            member = tar.extractfile(MANIFEST)
            if member is None:
                raise KeyError(MANIFEST)
            manifest = json.loads(member.read())
    except FileNotFoundError:
        raise LabError(f"no such file: {path}") from None
    except (tarfile.TarError, OSError, EOFError) as error:
        raise LabError(f"{path} is not a repro bundle (a .tar.gz from `make repro`): {error}") from None
    except KeyError:
        raise LabError(f"{path} is not a repro bundle: it has no {MANIFEST}") from None
    except ValueError as error:
        raise LabError(f"{path}: its {MANIFEST} is not JSON: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise LabError(f"{path}: unknown bundle format {manifest.get('format') if isinstance(manifest, dict) else '?'}")
    return manifest


def describe(manifest: dict[str, Any]) -> str:
    """The bundle as text: what ran, how it ended, how to run it again, and what is inside."""
    lines = [f"case {manifest['case']} (seed {manifest['seed']}, variant {manifest['variant']}) on "
             f"{manifest['target']}, bundled {manifest['created']}", "", "verdicts:"]
    verdicts = manifest.get("verdicts", [])
    for verdict in verdicts:
        lines.append(f"  {verdict_mark(verdict)} {verdict['check']:17} {verdict.get('message', '')}".rstrip())
    lines.append(f"outcome: {outcome_of(verdicts)}")
    lines += ["", "commands:"] + [f"  {command}" for command in manifest.get("commands", [])]
    lines += ["", "images:"] + [f"  {name:10} {image}" for name, image in manifest.get("images", {}).items()]
    if manifest.get("evidence"):
        lines += ["", f"capture: {manifest['evidence']}"]
    lines += ["", "files:"] + [f"  {name}" for name in manifest.get("files", [])]
    return "\n".join(lines)


def verdict_mark(verdict: dict[str, Any]) -> str:
    """How a verdict (lab.chaos.model.checks.Verdict as a dict) is marked when printed: ok, FAIL, n/a, or MISS when
    the data it needs is missing."""
    if verdict.get("missing"):
        return "MISS"
    return "n/a " if not verdict.get("applicable", True) else "ok  " if verdict.get("ok") else "FAIL"


def outcome_of(verdicts: list[dict[str, Any]]) -> str:
    """The case's outcome from its saved verdicts, as lab.chaos.model.checks.outcome says it."""
    marks = {verdict_mark(verdict) for verdict in verdicts}
    return "fail" if "FAIL" in marks else "error (a verdict's data is missing)" if "MISS" in marks else "pass"


def image_ids(config: Any) -> dict[str, str]:
    """The id of each image the lab ran (lab.settings.LabConfig), so another machine can tell it runs the same."""
    from lab import engine, settings

    names = {"target": config.target_image or settings.SERVER_IMAGE, "clients": settings.CLIENTS_IMAGE,
             "probe": settings.PROBE_IMAGE, "toxiproxy": settings.toxiproxy_image()}
    ids = {}
    for role, name in names.items():
        try:
            ids[role] = f"{name} {engine.client().images.get(name).id}"
        except Exception as error:  # the bundle is still worth having without one id
            ids[role] = f"{name} (id unknown: {type(error).__name__})"
    return ids


def bundle_case(path: Path, *, history: Any, variant: str, verdicts: list[Any], timeline: Path,
                histories: list[Path], commands: list[str], images: dict[str, str]) -> Path:
    """Write the bundle of one case run by `python -m lab run` (lab.chaos.model.history.CaseHistory, its verdicts)."""
    files = {"timeline.json": timeline, "timeline.png": timeline.with_suffix(".png")}
    files |= {f"histories/{source.name}": source for source in histories}
    evidence = history.evidence
    if evidence is not None:
        files["capture"] = Path(evidence.folder)
    client_commands = [f"docker exec clients {' '.join(client.command)}" for client in history.clients]
    manifest = {"case": history.case_id, "seed": history.seed, "variant": variant, "target": history.target,
                "verdicts": [v.__dict__ for v in verdicts],
                "commands": [*commands, "python -m lab.chaos.run.picture timeline.json  # draw the timeline again",
                             *[f"python -m clients replay histories/{source.name}" for source in histories],
                             *client_commands],
                "images": images,
                "evidence": None if evidence is None else evidence.summary()}
    return write_bundle(path, manifest, files)
