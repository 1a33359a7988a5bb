"""Files in and out of Blender: import a take with Blender's own importers, save the .blend.

Blender's importers print tracebacks and raise ``RuntimeError`` with multi-line text on bad
files; here every failure becomes one ``ZomgError`` line and what the importers print is kept
off the terminal (it is only used to explain a failure).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import sys
import struct
import tempfile
from pathlib import Path

import bpy

from ..engine.errors import ZomgError
from .read import source_action_of

TAKE_EXTENSIONS = (".bvh", ".fbx", ".glb", ".gltf", ".blend")
_STANDARD_FPS = (12, 15, 24000 / 1001, 24, 25, 30000 / 1001, 30, 48, 50, 60000 / 1001, 60, 72, 90, 100,
                 120000 / 1001, 120, 144, 240)


@contextlib.contextmanager
def quiet_blender():
    """Keep what Blender prints to stdout/stderr (Python and C level) off the terminal while it runs."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        fds = (sys.stdout.fileno(), sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):  # no real descriptors (e.g. captured streams): nothing to hide
        yield
        return
    sink = tempfile.TemporaryFile(mode="w+b")
    saved = [os.dup(fd) for fd in fds]
    try:
        for fd in fds:
            os.dup2(sink.fileno(), fd)
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        for fd, old in zip(fds, saved):
            os.dup2(old, fd)
            os.close(old)
        sink.close()


def import_take(path) -> "bpy.types.Object":
    """Import a take file and return its animated armature object (the scene's fps follows the file)."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in TAKE_EXTENSIONS:
        raise ZomgError(f"{path.name}: unsupported file type {ext or '(none)'!r}; use {', '.join(TAKE_EXTENSIONS)}")
    _check_input_file(path)
    if ext == ".bvh":
        check_bvh_text(path)
    if ext in (".glb", ".gltf") and (fps := gltf_frame_rate(path)):
        _set_scene_fps(fps)  # glTF keeps seconds: import at the rate the file was sampled at
    if ext == ".blend":
        _run_importer(path, lambda: bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False))
        candidates = list(bpy.context.scene.objects)
    else:
        before = set(bpy.data.objects)
        importer = {
            ".bvh": lambda: bpy.ops.import_anim.bvh(filepath=str(path), update_scene_fps=True, update_scene_duration=True),
            ".fbx": lambda: bpy.ops.import_scene.fbx(filepath=str(path)),
            ".glb": lambda: bpy.ops.import_scene.gltf(filepath=str(path)),
            ".gltf": lambda: bpy.ops.import_scene.gltf(filepath=str(path)),
        }[ext]
        try:
            _run_importer(path, importer)
        except ZomgError:
            _remove_objects(set(bpy.data.objects) - before)
            raise
        candidates = [o for o in bpy.data.objects if o not in before]
    return _pick_armature(path, candidates)


def save_blend(path) -> Path:
    """Save the current session as ``path`` (.blend); one clear line if it cannot be written."""
    path = Path(path).expanduser().absolute()
    check_output_path(path, (".blend",))
    try:
        with quiet_blender():
            bpy.ops.wm.save_as_mainfile(filepath=str(path), check_existing=False)
    except RuntimeError as exc:
        raise ZomgError(f"cannot write {path}: {first_error_line(str(exc))}") from None
    return path


def check_output_path(path, extensions: tuple[str, ...]) -> Path:
    """Fail early, in one line, when ``path`` cannot become an output file with one of ``extensions``.

    Missing parent folders are created."""
    path = Path(path).expanduser().absolute()
    if path.suffix.lower() not in extensions:
        raise ZomgError(f"{path}: the output file must end in {' or '.join(extensions)}")
    parent = path.parent
    if not parent.exists():  # missing output folders are made, as a pipeline expects
        existing = next((p for p in parent.parents if p.exists()), None)
        if existing is not None and not existing.is_dir():
            raise ZomgError(f"cannot write {path}: {existing} is a file, not a folder")
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ZomgError(f"cannot write {path}: cannot create folder {parent} ({exc.strerror or exc})") from None
    if not parent.is_dir():
        raise ZomgError(f"cannot write {path}: {parent} is not a folder")
    if path.is_dir():
        raise ZomgError(f"cannot write {path}: it is a folder")
    existed = path.exists()
    try:  # the only honest test (root, read-only mounts, /proc): try to create it
        with open(path, "ab"):
            pass
    except OSError as exc:
        raise ZomgError(f"cannot write {path}: {exc.strerror or exc}") from None
    if not existed:
        path.unlink()
    return path


def check_bvh_text(path: Path) -> None:
    """Catch what Blender's BVH importer would choke on or silently accept: not BVH, no frames, truncated."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ZomgError(f"{path.name}: not a BVH file (it is not text)") from None
    head, sep, motion = text.partition("MOTION")
    if not head.lstrip().upper().startswith("HIERARCHY"):
        raise ZomgError(f"{path.name}: not a BVH file (it does not start with HIERARCHY)")
    if not sep:
        raise ZomgError(f"{path.name}: truncated BVH file (no MOTION section)")
    if head.count("{") != head.count("}") or "ROOT" not in head.upper():
        raise ZomgError(f"{path.name}: broken BVH hierarchy (unbalanced braces or no ROOT joint)")
    channels = sum(int(n) for n in re.findall(r"\bCHANNELS\s+(\d+)", head))
    m = re.match(r"\s*Frames:\s*(\d+)\s*\n\s*Frame Time:\s*(\S+)\s*\n?", motion, re.IGNORECASE)
    if not m:
        raise ZomgError(f"{path.name}: broken BVH file (no 'Frames:' and 'Frame Time:' after MOTION)")
    try:
        frame_time = float(m.group(2))
    except ValueError:
        frame_time = float("nan")
    if not frame_time > 0:
        raise ZomgError(f"{path.name}: invalid BVH frame time {m.group(2)!r}")
    declared = int(m.group(1))
    rows = [line for line in motion[m.end():].splitlines() if line.strip()]
    if declared == 0 or not rows:
        raise ZomgError(f"{path.name}: the BVH file has no frames of motion")
    if len(rows) < declared or len(rows[-1].split()) != channels or len(rows[0].split()) != channels:
        complete = len(rows) - (len(rows[-1].split()) != channels)
        raise ZomgError(f"{path.name}: truncated BVH file (header says {declared} frames of {channels} values, "
                        f"found {max(complete, 0)} complete)")


def _check_input_file(path: Path) -> None:
    if not path.exists():
        raise ZomgError(f"{path}: no such file")
    if path.is_dir():
        raise ZomgError(f"{path}: is a folder, not a take file")
    if not stat.S_ISREG(path.stat().st_mode):  # FIFOs and devices would block the importers
        raise ZomgError(f"{path}: not a regular file")
    if not os.access(path, os.R_OK):
        raise ZomgError(f"{path}: cannot be read (permission denied)")
    if path.stat().st_size == 0:
        raise ZomgError(f"{path.name}: the file is empty")


def operator_problem(call) -> str | None:
    """Run a Blender import/export operator quietly; what went wrong, or None when it FINISHED.

    An operator's own Python bug is still the file's problem to the user: it becomes a message too."""
    with quiet_blender():
        try:
            result = call()
        except Exception as exc:  # noqa: BLE001 - RuntimeError for reported errors, anything for add-on bugs
            return str(exc) if isinstance(exc, RuntimeError) else f"{type(exc).__name__}: {exc}"
    return None if "FINISHED" in result else f"operator returned {sorted(result)}"


def _run_importer(path: Path, call) -> None:
    problem = operator_problem(call)
    if problem is not None:
        raise ZomgError(f"{path.name}: cannot import ({first_error_line(problem)})")


def first_error_line(text: str) -> str:
    """The one line of a Blender operator's error text that says what went wrong."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if any("Traceback (most recent call last)" in ln for ln in lines):  # a Python operator failed
        raised = [ln for ln in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Warning)\b", ln)]
        if raised:
            return raised[-1]
    line = lines[0] if lines else "unknown error"
    return re.sub(r"^(Error|ERROR):?\s*", "", line) or line


def gltf_frame_rate(path: Path) -> float | None:
    """The standard frame rate a glTF's animations were sampled at (glTF stores seconds), or None.

    Sampler inputs must carry min/max, so the densest one gives the rate without reading buffers.
    Only a rate within 0.5% of a standard one counts: sparse hand-set keys say nothing about fps.
    """
    try:
        data = path.read_bytes()
        if data[:4] == b"glTF":
            doc = json.loads(data[20:20 + struct.unpack_from("<I", data, 12)[0]])
        else:
            doc = json.loads(data)
        inputs = [doc["accessors"][s["input"]] for a in doc.get("animations", []) for s in a["samplers"]]
        densest = max(inputs, key=lambda acc: acc["count"])
        fps = (densest["count"] - 1) / (densest["max"][0] - densest["min"][0])
    except Exception:  # noqa: BLE001 - any surprise (no animation, odd file): keep the scene's frame rate
        return None
    standard = min(_STANDARD_FPS, key=lambda r: abs(r - fps))
    return standard if abs(standard - fps) < 0.005 * standard else None


def _set_scene_fps(fps: float) -> None:
    """Note: Blender's glTF add-on converts with fps * fps_base (not /), which only matters for NTSC rates."""
    render = bpy.context.scene.render
    render.fps = max(1, int(round(fps)))
    render.fps_base = render.fps / fps


def _pick_armature(path: Path, objects) -> "bpy.types.Object":
    armatures = [o for o in objects if o.type == "ARMATURE"]
    if not armatures:
        raise ZomgError(f"{path.name}: no armature in the file")
    animated = [o for o in armatures if _has_action(o)]
    active = bpy.context.view_layer.objects.active
    if active in animated:
        return active
    if not animated:
        raise ZomgError(f"{path.name}: armature {armatures[0].name!r} has no animation")
    return sorted(animated, key=lambda o: o.name)[0] if len(animated) > 1 else animated[0]


def _has_action(obj) -> bool:
    return source_action_of(obj) is not None


def _remove_objects(objects) -> None:
    for obj in objects:
        with contextlib.suppress(ReferenceError, RuntimeError):
            bpy.data.objects.remove(obj)
