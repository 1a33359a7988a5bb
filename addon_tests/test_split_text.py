"""`zomg split --text / --subactions` end to end with the shipped encoder: a real subprocess on real
takes, the saved .blend reopened and the glTF re-imported; in-place clips measured by Blender itself."""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import bpy
import numpy as np
import pytest
from bpy_extras import anim_utils

from zomg_blender.cli.split import clip_table, subaction_names
from zomg_blender.engine.take import LOW_CONFIDENCE, Clip, Take

REPO = Path(__file__).resolve().parents[1]
WALK = "dataset/Bandai-Namco-Research-Motiondataset-2/data/dataset-2_walk-turn-left_active_001.bvh"  # 130 frames, 30 fps
WALK_SUBS = ["a person walks forward", "a person turns left"]


def zomg(*args) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("ZOMG_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "zomg_blender", "split", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=180)


def glb_animations(path: Path) -> list[str]:
    data = path.read_bytes()
    doc = json.loads(data[20:20 + struct.unpack_from("<I", data, 12)[0]])
    return [a["name"] for a in doc.get("animations", [])]


def open_blend(path: Path):
    bpy.ops.wm.open_mainfile(filepath=str(path))
    return next(o for o in bpy.data.objects if o.type == "ARMATURE")


def test_subaction_names_are_short_and_engine_safe():
    assert subaction_names(["a person waves his left hand", "The man is walking forward slowly then stops",
                            "someone waves his left hand", "Él salta ¡alto!", "a person"]) == [
        "waves_left_hand", "walking_forward_slowly_stops", "waves_left_hand_2", "l_salta_alto", "clip"]


def test_clip_table_marks_low_confidence_clips():
    take = Take(np.zeros((100, 1, 3), np.float32), ["Hips"], np.array([-1]), 30.0, frame_start=1)
    clips = [Clip("a", 0, 40, 0.05), Clip("b", 40, 80, 0.93), Clip("c", 80, 100)]
    lines = clip_table(take, clips, ["a", "b", "c"])
    assert lines[0].endswith("confidence 0.05  CHECK") and "frames 1-40" in lines[0]
    assert lines[1].endswith("confidence 0.93") and "CHECK" not in lines[2] and "confidence" not in lines[2]
    assert [c.needs_check for c in clips] == [True, False, False]


def test_split_text_on_a_cmu_take(cmu_bvh, tmp_path):
    proc = zomg(cmu_bvh / "131_03.bvh", "--text", "a person starts walking, then hops on one foot, then stops",
                "--out", tmp_path / "t.blend", "--gltf", tmp_path / "t.glb", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    names = ["131_03_01_starts_walking", "131_03_02_hops_on_one_foot", "131_03_03_stops"]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("  ")]
    assert [ln.split(":")[0].strip() for ln in lines] == names
    assert all("confidence" in ln for ln in lines)
    assert '"a person hops on one foot"' in lines[1]
    for ln in lines:  # low-confidence clips are marked for a look
        assert ("CHECK" in ln) == (float(ln.split("confidence ")[1].split()[0]) < LOW_CONFIDENCE)

    arm = open_blend(tmp_path / "t.blend")
    strips = sorted((s.frame_start, s.frame_end, s.name) for t in arm.animation_data.nla_tracks for s in t.strips)
    assert [s[2] for s in strips] == names
    assert strips[0][0] == 1 and strips[-1][1] == 1102  # the clips tile the whole take
    assert all(a[1] + 1 == b[0] for a, b in zip(strips, strips[1:]))
    assert sorted((m.frame, m.name) for m in bpy.context.scene.timeline_markers) == [(s[0], s[2]) for s in strips]
    assert "131_03" in bpy.data.actions  # the take survives
    # the soft masks, one F-curve per clip on the armature data, every frame of the take, in [0, 1]
    masks = arm.data.animation_data.action
    curves = list(anim_utils.action_get_channelbag_for_slot(masks, masks.slots[0]).fcurves)
    assert sorted(fc.data_path for fc in curves) == ['["zomg_mask_00"]', '["zomg_mask_01"]', '["zomg_mask_02"]']
    values = np.array([[k.co[1] for k in fc.keyframe_points] for fc in curves])
    assert values.shape == (3, 1102) and values.min() >= 0 and values.max() <= 1
    assert np.all(values.max(axis=1) > 0.5)  # each clip's mask is up somewhere

    assert sorted(glb_animations(tmp_path / "t.glb")) == names  # the masks are not exported


def test_split_subactions_on_a_bandai_take_with_naming(bandai_dir, tmp_path):
    proc = zomg(bandai_dir / WALK, "--subactions", *WALK_SUBS, "--naming", "{index}_{name}", "--handles", "2",
                "--out", tmp_path / "s.blend", "--gltf", tmp_path / "s.glb", "--fbx", tmp_path / "s.fbx")
    assert proc.returncode == 0, proc.stderr
    names = ["1_walks_forward", "2_turns_left"]
    arm = open_blend(tmp_path / "s.blend")
    assert sorted(t.name for t in arm.animation_data.nla_tracks) == names
    assert sorted(m.name for m in bpy.context.scene.timeline_markers) == names
    assert sorted(glb_animations(tmp_path / "s.glb")) == names
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(tmp_path / "s.fbx"))
    assert sorted(a.name.split("|")[-1] for a in bpy.data.actions) == names


def hips_path(arm, action) -> np.ndarray:
    """World position of the Hips head at every frame of ``action``, as Blender evaluates it."""
    ad = arm.animation_data
    for track in ad.nla_tracks:
        track.mute = True
    ad.action = action
    a, b = (int(f) for f in action.frame_range)
    out = []
    for frame in range(a, b + 1):
        bpy.context.scene.frame_set(frame)
        out.append(np.array(arm.matrix_world @ arm.pose.bones["Hips"].head))
    ad.action = None
    return np.array(out)


def hips_keys(action) -> np.ndarray:
    bag = anim_utils.action_get_channelbag_for_slot(action, action.slots[0])
    return np.array([[k.co[1] for k in bag.fcurves.find('pose.bones["Hips"].location', index=i).keyframe_points]
                     for i in range(3)])


def test_in_place_removes_horizontal_travel_from_clips_only(bandai_dir, tmp_path):
    """Bandai rigs carry the travel on Hips under a still joint_Root: the clips stay put, the take does not."""
    for mode in ("--in-place", "--root-motion"):
        proc = zomg(bandai_dir / WALK, "--subactions", *WALK_SUBS, mode, "--out", tmp_path / f"{mode[2:]}.blend")
        assert proc.returncode == 0, proc.stderr
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_anim.bvh(filepath=str(bandai_dir / WALK), update_scene_fps=True)
    original = hips_keys(bpy.context.object.animation_data.action)

    arm = open_blend(tmp_path / "root-motion.blend")
    moving = {a.name: hips_path(arm, a) for a in bpy.data.actions}
    arm = open_blend(tmp_path / "in-place.blend")
    source = bpy.data.actions[arm["zomg_source_action"]]
    assert np.array_equal(hips_keys(source), original)  # the take's keys are untouched
    take_path = hips_path(arm, source)
    assert np.ptp(take_path[:, 0]) > 100 and np.ptp(take_path[:, 1]) > 100  # the take walks (cm)
    clips = sorted((a for a in bpy.data.actions if a.get("zomg_clip")), key=lambda a: a.frame_range[0])
    assert len(clips) == 2
    for clip in clips:
        path = hips_path(arm, clip)
        assert np.abs(path[:, :2]).max() < 1e-3  # held above the armature's origin
        assert np.allclose(path[:, 2], moving[clip.name][:, 2], atol=1e-3)  # height kept
        assert np.ptp(moving[clip.name][:, 0]) + np.ptp(moving[clip.name][:, 1]) > 10  # with root motion it travels
    assert np.allclose(moving[source.name], take_path, atol=1e-4)


@pytest.mark.parametrize("case, message", [
    ("empty text", "description is empty"), ("blank sub-action", "sub-action is empty"),
    ("too many sub-actions", "120 sub-actions"), ("garbage file", "garbage.bvh: not a BVH file"),
    ("bad naming", "{clip}")])
def test_bad_input_is_one_line_and_writes_nothing(case, message, bandai_dir, tmp_path):
    take = bandai_dir / WALK
    source = {"empty text": ["--text", "  "],
              "blank sub-action": ["--subactions", "a person walks", " "],
              "too many sub-actions": ["--subactions", *[f"a person does move {i}" for i in range(120)]],
              "garbage file": ["--text", "a person walks"],
              "bad naming": ["--subactions", *WALK_SUBS, "--naming", "{clip}"]}[case]
    if case == "garbage file":
        take = tmp_path / "garbage.bvh"
        take.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    out = tmp_path / "out"
    out.mkdir()
    proc = zomg(take, *source, "--out", out / "x.blend", "--gltf", out / "x.glb")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("zomg: error:"), proc.stderr
    assert message in proc.stderr
    assert list(out.iterdir()) == []
