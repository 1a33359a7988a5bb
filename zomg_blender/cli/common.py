"""Helpers shared by subcommands: reading any take into a `Take`, writing JSON."""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..engine.errors import ZomgError
from ..engine.take import Take

BLENDER_FORMATS = (".fbx", ".glb", ".gltf", ".blend")


def load_take(path: str | Path, body_model: str | None = None) -> Take:
    """Read a take: BVH and SMPL .npz in pure Python, FBX/glTF/.blend through Blender's importers."""
    path = Path(path)
    if not path.is_file():
        raise ZomgError(f"take not found: {path}")
    ext = path.suffix.lower()
    if ext == ".bvh":
        from ..engine.bvh import read_bvh

        take = read_bvh(path)
    elif ext == ".npz":
        from ..engine.smpl import read_smpl_npz

        take = read_smpl_npz(path, body_model or os.environ.get("ZOMG_BODY_MODEL"))
    elif ext in BLENDER_FORMATS:
        try:
            from ..blender.read import read_armature
            from ..blender.scene_io import import_take
        except ImportError as exc:
            raise ZomgError(f"reading {ext} takes needs Blender's bpy module ({exc.name} missing)") from None
        take = read_armature(import_take(path))
    else:
        raise ZomgError(f"unsupported take format {ext or '(none)'}: use .bvh, .fbx, .glb, .gltf, .blend or .npz")
    return take.validate()


def write_json(path: str | Path | None, obj) -> None:
    """Write `obj` as JSON to `path`, or to stdout when no path is given."""
    text = json.dumps(obj, indent=2)
    if path in (None, "-"):
        print(text)
        return
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text + "\n")
    except OSError as exc:
        raise ZomgError(f"cannot write {path}: {exc.strerror or exc}") from None


def read_manifest(path: str | Path) -> list[dict]:
    """JSONL manifest -> list of dicts; each line must be a JSON object with an `id` and a `motion`."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise ZomgError(f"cannot read manifest {path}: {exc.strerror or exc}") from None
    cases = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            case = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ZomgError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
        if not isinstance(case, dict) or "motion" not in case:
            raise ZomgError(f"{path}:{n}: each line must be an object with \"id\" and \"motion\"")
        case.setdefault("id", str(n))
        cases.append(case)
    return cases
