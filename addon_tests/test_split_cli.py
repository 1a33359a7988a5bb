"""`python -m zomg_blender split` end to end, in a subprocess, on real takes and on broken input."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import bpy
import numpy as np
import pytest

from zomg_blender.engine.clips import clip_name, clips_from_markers, clips_from_ranges
from zomg_blender.engine.errors import ZomgError
from zomg_blender.engine.take import Take

REPO = Path(__file__).resolve().parents[1]
BANDAI_CLIP = "dataset/Bandai-Namco-Research-Motiondataset-2/data/dataset-2_walk-turn-left_active_001.bvh"


def zomg(*args, timeout: int = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("ZOMG_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "zomg_blender", "split", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _clips_in_blend(path: Path) -> tuple[list, list]:
    """(strips as (name, start, end), markers as (name, frame)) of the saved file's armature."""
    bpy.ops.wm.open_mainfile(filepath=str(path))
    arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    strips = sorted((s.name, s.frame_start, s.frame_end) for t in arm.animation_data.nla_tracks for s in t.strips)
    markers = sorted((m.name, m.frame) for m in bpy.context.scene.timeline_markers)
    return strips, markers


@pytest.fixture(scope="module")
def cmu_split(cmu_bvh, tmp_path_factory):
    out = tmp_path_factory.mktemp("cmu")
    proc = zomg(cmu_bvh / "131_03.bvh", "--ranges", "1-300:start,301-700:walk,701-1102:stop",
                "--out", out / "131_03.blend", "--fbx", out / "131_03.fbx", "--gltf", out / "new" / "dir" / "131_03.glb")
    return proc, out


def test_cmu_take_split_saves_exports_and_summarises(cmu_split):
    proc, out = cmu_split
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "1102 frames at 120 fps" in proc.stdout
    assert "131_03_02_walk: frames 301-700 (400 frames" in proc.stdout
    names = ["131_03_01_start", "131_03_02_walk", "131_03_03_stop"]
    strips, markers = _clips_in_blend(out / "131_03.blend")
    assert strips == [(names[0], 1, 300), (names[1], 301, 700), (names[2], 701, 1102)]
    assert markers == [(names[0], 1), (names[1], 301), (names[2], 701)]
    assert "131_03" in bpy.data.actions  # the source take survives the save

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(out / "131_03.fbx"))
    assert sorted(a.name.split("|")[-1] for a in bpy.data.actions) == names
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.gltf(filepath=str(out / "new" / "dir" / "131_03.glb"))  # missing folders were made
    assert sorted(a.name for a in bpy.data.actions) == names


def test_bandai_take_split_at_markers(bandai_dir, tmp_path):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_anim.bvh(filepath=str(bandai_dir / BANDAI_CLIP), update_scene_fps=True, update_scene_duration=True)
    for name, frame in (("walk in", 1), ("turn", 40), ("walk out", 90)):
        bpy.context.scene.timeline_markers.new(name, frame=frame)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "marked.blend"))
    proc = zomg(tmp_path / "marked.blend", "--at-markers", "--naming", "{name}", "--out", tmp_path / "split.blend",
                "--gltf", tmp_path / "split.gltf")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    strips, markers = _clips_in_blend(tmp_path / "split.blend")
    assert strips == [("turn", 40, 89), ("walk_in", 1, 39), ("walk_out", 90, 130)]
    assert markers == [("turn", 40), ("walk in", 1), ("walk out", 90), ("walk_in", 1), ("walk_out", 90)]
    # splitting the result again at its markers uses the user's three, not the placed ones
    again = zomg(tmp_path / "split.blend", "--at-markers", "--out", tmp_path / "again.blend")
    assert again.returncode == 0, again.stderr
    assert _clips_in_blend(tmp_path / "again.blend")[0] == [
        ("split_01_walk_in", 1, 39), ("split_02_turn", 40, 89), ("split_03_walk_out", 90, 130)]
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.gltf(filepath=str(tmp_path / "split.gltf"))
    assert sorted(a.name for a in bpy.data.actions) == ["turn", "walk_in", "walk_out"]


def test_acclaim_take_with_handles(cmu_bvh, tmp_path):
    proc = zomg(cmu_bvh / "13_29.bvh", "--ranges", "100-1300:jacks,1301-2500:twists", "--handles", "12",
                "--out", tmp_path / "ex.blend", "--fbx", tmp_path / "ex.fbx")
    assert proc.returncode == 0, proc.stderr
    strips, _ = _clips_in_blend(tmp_path / "ex.blend")
    assert strips == [("13_29_01_jacks", 88, 1312), ("13_29_02_twists", 1313, 2536)]
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(tmp_path / "ex.fbx"))
    lengths = sorted(round(a.frame_range[1] - a.frame_range[0]) + 1 for a in bpy.data.actions)
    assert lengths == [1224, 1225]  # 1289-2512 and 88-1312


def _bvh_parts(cmu_bvh) -> tuple[str, list[str]]:
    text = (cmu_bvh / "131_03.bvh").read_text()
    head, motion = text.split("MOTION", 1)
    return head, [ln for ln in motion.strip().splitlines()[2:] if ln.strip()]


def _write_bvh(path: Path, head: str, rows: list[str]) -> Path:
    path.write_text(head + f"MOTION\nFrames: {len(rows)}\nFrame Time: 0.0083333\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def bad_files(cmu_bvh, cmu_split, tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    head, rows = _bvh_parts(cmu_bvh)
    (d / "empty.bvh").write_bytes(b"")
    (d / "garbage.bvh").write_bytes(os.urandom(4096))
    (d / "garbage.fbx").write_bytes(os.urandom(4096))
    (d / "garbage.blend").write_bytes(os.urandom(4096))
    full = (cmu_bvh / "131_03.bvh").read_bytes()
    (d / "truncated.bvh").write_bytes(full[: len(full) // 2])
    _, out = cmu_split
    (d / "split.blend").write_bytes((out / "131_03.blend").read_bytes())
    (d / "truncated.glb").write_bytes((out / "new" / "dir" / "131_03.glb").read_bytes()[:20000])
    (d / "truncated.blend").write_bytes((out / "131_03.blend").read_bytes()[:50000])
    _write_bvh(d / "one_frame.bvh", head, rows[:1])
    nan_rows = rows[:40]
    nan_rows[7] = " ".join(["nan"] + nan_rows[7].split()[1:])
    _write_bvh(d / "nan.bvh", head, nan_rows)
    _write_bvh(d / "short.bvh", head, rows[:60])
    (d / "no_armature.gltf").write_text('{"asset": {"version": "2.0"}, "scenes": [{"nodes": []}], "scene": 0}')
    (d / "a_file").write_text("not a folder")
    os.mkfifo(d / "pipe.bvh")  # opening it would block: must be refused, not hang
    (d / "notes.txt").write_text("hello")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    mesh = bpy.data.objects.new("mesh", bpy.data.meshes.new("mesh"))
    bpy.context.scene.collection.objects.link(mesh)
    bpy.ops.wm.save_as_mainfile(filepath=str(d / "mesh_only.blend"))
    rig = bpy.data.objects.new("rig", bpy.data.armatures.new("rig"))
    bpy.context.scene.collection.objects.link(rig)
    bpy.ops.wm.save_as_mainfile(filepath=str(d / "still_rig.blend"))
    return d


BAD_CASES = [
    ("missing.bvh", [], "no such file"),
    ("empty.bvh", [], "empty"),
    ("garbage.bvh", [], "not a BVH file"),
    ("garbage.fbx", [], "cannot import"),
    ("garbage.blend", [], "cannot import"),
    ("truncated.bvh", [], "truncated"),
    ("truncated.glb", [], "cannot import"),
    ("truncated.blend", [], "cannot import"),
    ("one_frame.bvh", [], "1 frame"),
    ("nan.bvh", [], "NaN"),
    ("no_armature.gltf", [], "no armature"),
    ("mesh_only.blend", [], "no armature"),
    ("still_rig.blend", [], "has no animation"),
    ("notes.txt", [], "unsupported file type"),
    ("pipe.bvh", [], "not a regular file"),
    ("short.bvh", ["--ranges", "1-100:a"], "outside the take"),
    ("short.bvh", ["--ranges", "1-30:a,20-60:b"], "overlap"),
    ("short.bvh", ["--ranges", "30-10:a"], "reversed"),
    ("short.bvh", ["--ranges", "1-30:a,31-60:a"], "two clips are named"),
    ("short.bvh", ["--at-markers"], "no timeline markers"),
    ("split.blend", ["--at-markers"], "no timeline markers"),  # only markers a split placed
    ("short.bvh", ["--ranges", "1-30:a", "--out", "/proc/x.blend"], "cannot write"),
    ("short.bvh", ["--ranges", "1-30:a", "--out", "{dir}/a_file/x.blend"], "is not a folder"),
    ("short.bvh", ["--ranges", "1-30:a", "--fbx", "/proc/nowhere/x.fbx"], "cannot create folder"),
    ("short.bvh", ["--ranges", "1-30:a", "--handles", "-2"], "0 or more"),
]


@pytest.mark.parametrize("name,extra,message", BAD_CASES, ids=[f"{c[0]}-{c[2]}" for c in BAD_CASES])
def test_bad_input_is_one_line_and_nonzero(bad_files, tmp_path, name, extra, message):
    extra = [a.replace("{dir}", str(bad_files)) for a in extra]
    clip_args = [] if any(a in ("--ranges", "--at-markers") for a in extra) else ["--ranges", "1-30:a"]
    out_args = [] if "--out" in extra else ["--out", tmp_path / "out.blend"]
    proc = zomg(bad_files / name, *clip_args, *out_args, *extra, timeout=60)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert message in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "out.blend").exists()


def _take(frames: int, frame_start: int = 1) -> Take:
    return Take(np.zeros((frames, 1, 3), np.float32), ["root"], np.array([-1]), 30.0, name="My Take!", frame_start=frame_start)


def test_ranges_are_scene_frames_inclusive():
    clips = clips_from_ranges(" 121-240 : wave , 1-120:walk", _take(300))
    assert [(c.name, c.start_frame, c.end_frame) for c in clips] == [("walk", 0, 120), ("wave", 120, 240)]
    clips = clips_from_ranges("1001-1010:a", _take(20, frame_start=1001))
    assert (clips[0].start_frame, clips[0].end_frame) == (0, 10)
    for text, message in (("", "no ranges"), ("1-120", "has no name"), ("1-120:", "empty name"), ("a-b:x", "cannot read"),
                          ("5-5:x", "one frame"), ("0-10:x", "outside"), ("290-301:x", "outside"),
                          ("1-10:x,10-20:y", "overlap"), ("1-10:x,11-20:X", "two clips")):
        with pytest.raises(ZomgError, match=message):
            clips_from_ranges(text, _take(300))


def test_markers_start_clips_until_the_next_marker():
    clips = clips_from_markers([("b", 50), ("a", 1), ("c", 100)], _take(120))
    assert [(c.name, c.start_frame, c.end_frame) for c in clips] == [("a", 0, 49), ("b", 49, 99), ("c", 99, 120)]
    with pytest.raises(ZomgError, match="outside the take"):
        clips_from_markers([("a", 1), ("late", 500)], _take(120))
    with pytest.raises(ZomgError, match="empty or reversed"):
        clips_from_markers([("a", 1), ("b", 1)], _take(120))


def test_clip_names_are_engine_safe():
    assert clip_name("{take}_{index:02d}_{name}", _take(10), 3, "walk fast / left!") == "My_Take_03_walk_fast_left"
    assert clip_name("{name}-{start}-{end}", "t", 1, "été", 5, 9) == "t-5-9"  # non-ASCII letters dropped
    assert clip_name("{name}", "t", 1, "???") == "clip"
    with pytest.raises(ZomgError, match="unknown field"):
        clip_name("{take}_{frame}", "t", 1, "x")
