"""Helpers shared by subcommands: reading any take into a `Take`, writing JSON."""
from __future__ import annotations

import json
import os
import sys
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


def add_partition_arguments(p) -> None:
    """How a description is split into sub-actions: offline rules, or an LLM server (text only is sent)."""
    p.add_argument("--partition", default="rules", choices=["rules", "openai", "ollama"],
                   help="how --text is split into sub-actions (default: %(default)s; falls back to rules on any failure)")
    p.add_argument("--llm-url", metavar="URL",
                   help="LLM server for --partition openai/ollama (default http://127.0.0.1:8080 / :11434)")
    p.add_argument("--llm-model", metavar="NAME", help="model name for the LLM server")
    p.add_argument("--llm-key-env", metavar="VAR", help="NAME of the environment variable holding the API key")


def partition_options(args) -> dict:
    """The partition backend's options from the arguments of `add_partition_arguments`."""
    given = {"base_url": getattr(args, "llm_url", None), "model": getattr(args, "llm_model", None),
             "api_key_env": getattr(args, "llm_key_env", None)}
    return {k: v for k, v in given.items() if v}


def run_manifest(path, json_out, handle) -> int:
    """Run ``handle(case) -> dict`` on every case of a JSONL manifest, writing one JSON line per case.

    A failing case is reported in one line on stderr and written as {"id", "error"}; the others go on.
    Returns the exit status: 1 when any case failed."""
    cases = read_manifest(path)
    try:
        sink = open(json_out, "w") if json_out else sys.stdout
    except OSError as exc:
        raise ZomgError(f"cannot write {json_out}: {exc.strerror or exc}") from None
    failed = 0
    try:
        for case in cases:
            try:
                result = handle(case)
                result.pop("id", None)
                line = {"id": case["id"], **result}
            except Exception as exc:  # noqa: BLE001 - one broken case must not stop the others
                failed += 1
                msg = str(exc) if isinstance(exc, ZomgError) else f"internal error: {type(exc).__name__}: {exc}"
                print(f"zomg: error: {case['id']}: {msg}", file=sys.stderr)
                line = {"id": case["id"], "error": msg}
            sink.write(json.dumps(line) + "\n")
            sink.flush()
    finally:
        if sink is not sys.stdout:
            sink.close()
    return 1 if failed else 0
