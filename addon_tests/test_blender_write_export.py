"""write_clips and the exporters on a real CMU take: what lands in Blender, and what comes back from the files."""
from __future__ import annotations

import json
import struct

import bpy
import numpy as np
import pytest
from bpy_extras import anim_utils

from zomg_blender.blender.export import export_fbx, export_gltf
from zomg_blender.blender.read import read_armature
from zomg_blender.blender.scene_io import import_take, save_blend
from zomg_blender.blender.write import CLIP_TAG, write_clips
from zomg_blender.engine.clips import clips_from_ranges
from zomg_blender.engine.errors import ZomgError

RANGES = "1-300:start,301-700:walk,701-1102:stop"
LENGTHS = [300, 400, 402]


@pytest.fixture
def take_131_03(cmu_bvh):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    obj = import_take(cmu_bvh / "131_03.bvh")
    return obj, read_armature(obj)


def _keys(action) -> dict:
    """Every key attribute of every F-curve, to prove an action was not touched."""
    out = {}
    for layer in action.layers:
        for strip in layer.strips:
            for bag in strip.channelbags:
                for fc in bag.fcurves:
                    n = len(fc.keyframe_points)
                    for attr, width in (("co", 2), ("handle_left", 2), ("handle_right", 2), ("interpolation", 1)):
                        buf = np.empty(n * width, dtype=np.float32 if width == 2 else np.int32)
                        fc.keyframe_points.foreach_get(attr, buf)
                        out[(bag.slot.identifier, fc.data_path, fc.array_index, attr)] = buf
    return out


def _clip_actions():
    return sorted((a for a in bpy.data.actions if CLIP_TAG in a), key=lambda a: a.frame_range[0])


def test_one_action_track_strip_and_marker_per_clip(take_131_03):
    obj, take = take_131_03
    source = obj.animation_data.action
    before = _keys(source)
    actions = write_clips(obj, clips_from_ranges(RANGES, take), take_name="131_03")
    names = ["131_03_01_start", "131_03_02_walk", "131_03_03_stop"]
    assert [a.name for a in actions] == names
    after = _keys(source)
    assert after.keys() == before.keys() and len(before) == 4 * 96
    assert all(np.array_equal(after[k], v) for k, v in before.items()), "the source action changed"
    assert source.name in bpy.data.actions and source.users >= 1  # kept (fake user) although unassigned
    ad = obj.animation_data
    assert ad.action is None and ad.use_nla
    tracks = list(ad.nla_tracks)
    assert [t.name for t in tracks] == names and all(len(t.strips) == 1 for t in tracks)
    strips = [t.strips[0] for t in tracks]
    assert [(s.frame_start, s.frame_end) for s in strips] == [(1, 300), (301, 700), (701, 1102)]
    assert all(s.extrapolation == "NOTHING" and s.action_slot is not None for s in strips)
    for a, b in zip(strips, strips[1:]):
        assert b.frame_start >= a.frame_end + 1, "strips must not touch"
    for action, length in zip(actions, LENGTHS):
        assert action.use_frame_range and action.use_fake_user
        assert action.frame_end - action.frame_start + 1 == length
    assert [(m.name, m.frame) for m in bpy.context.scene.timeline_markers] == list(zip(names, [1, 301, 701]))
    walk = read_armature(obj, action=actions[1])  # the clip holds exactly the take's motion there
    assert walk.frame_start == 301 and walk.frames == 400
    assert np.abs(walk.positions - take.positions[300:700]).max() < 1e-5


def test_rerun_replaces_only_its_own_clips(take_131_03):
    obj, take = take_131_03
    scene = bpy.context.scene
    scene.timeline_markers.new("keep_me", frame=50)
    mine = obj.animation_data.action.copy()
    mine.name = "users_own"
    user_track = obj.animation_data.nla_tracks.new()
    user_track.name = "users_track"
    user_track.strips.new("users_strip", 2000, mine)
    write_clips(obj, clips_from_ranges(RANGES, take))
    write_clips(obj, clips_from_ranges("11-200:a,201-400:b", take), naming="{name}")
    assert [a.name for a in _clip_actions()] == ["a", "b"]
    assert sorted(t.name for t in obj.animation_data.nla_tracks) == ["a", "b", "users_track"]
    assert sorted((m.name, m.frame) for m in scene.timeline_markers) == [("a", 11), ("b", 201), ("keep_me", 50)]
    assert "users_own" in bpy.data.actions and user_track.strips[0].action == mine
    assert "131_03" in bpy.data.actions  # the source, found again although it is no longer assigned


def test_handles_widen_actions_and_keep_strips_apart(take_131_03):
    obj, take = take_131_03
    actions = write_clips(obj, clips_from_ranges(RANGES, take), handles=10)
    assert [tuple(a.frame_range) for a in actions] == [(1, 310), (291, 710), (691, 1102)]
    strips = [t.strips[0] for t in obj.animation_data.nla_tracks]
    assert strips[0].frame_start == 1
    for a, b in zip(strips, strips[1:]):
        assert b.frame_start == a.frame_end + 1  # moved later only as far as the gap needs
    markers = {m.name: m.frame for m in bpy.context.scene.timeline_markers}
    for strip, action in zip(strips, actions):
        clip_start = {"start": 1, "walk": 301, "stop": 701}[action.name.rsplit("_", 1)[1]]
        assert markers[action.name] == strip.frame_start + (clip_start - action.frame_range[0])


def test_ranges_between_sparse_keys_get_edge_keys(take_131_03):
    obj, take = take_131_03
    ad = obj.animation_data
    bag = anim_utils.action_get_channelbag_for_slot(ad.action, ad.action_slot)
    for fc in bag.fcurves:  # a sparse, Bézier version of the take: keys every 10 frames
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        keep = co.reshape(-1, 2)[::10].copy()
        fc.keyframe_points.clear()
        fc.keyframe_points.add(len(keep))
        fc.keyframe_points.foreach_set("co", keep.ravel())
        fc.keyframe_points.foreach_set("interpolation", np.full(len(keep), 2, dtype=np.int32))  # BEZIER
        fc.update()
    sparse = read_armature(obj, method="evaluated")
    actions = write_clips(obj, clips_from_ranges("105-333:a", sparse), naming="{name}")
    clip = read_armature(obj, action=actions[0], method="evaluated")
    assert clip.frame_start == 105 and clip.frames == 229
    h = float(np.ptp(sparse.positions[0], axis=0).max())
    start = 105 - sparse.frame_start
    assert np.abs(clip.positions - sparse.positions[start:start + 229]).max() < 1e-4 * h


def test_bad_clips_and_source_are_refused(take_131_03):
    obj, take = take_131_03
    with pytest.raises(ZomgError, match="overlap"):
        write_clips(obj, clips_from_ranges("1-300:a,301-700:b", take)[:1] + clips_from_ranges("200-400:c", take))
    with pytest.raises(ZomgError, match="already exists"):
        write_clips(obj, clips_from_ranges("1-10:x", take), naming="{take}")  # would take the source's name
    actions = write_clips(obj, clips_from_ranges(RANGES, take))
    with pytest.raises(ZomgError, match="clip made by ZOMG"):
        write_clips(obj, clips_from_ranges("1-10:x", take), source_action=actions[0])


def _glb_animations(path) -> list[tuple[str, int, float]]:
    data = path.read_bytes()
    doc = json.loads(data[20:20 + struct.unpack_from("<I", data, 12)[0]])
    out = []
    for anim in doc["animations"]:
        inputs = [doc["accessors"][s["input"]] for s in anim["samplers"]]
        longest = max(inputs, key=lambda a: a["count"])
        out.append((anim["name"], longest["count"], longest["min"][0]))
    return out


def test_fbx_and_gltf_have_one_animation_per_clip(take_131_03, tmp_path):
    obj, take = take_131_03
    names = [a.name for a in write_clips(obj, clips_from_ranges(RANGES, take))]
    # a track the user made must not leak into the exports (FBX exports every unmuted strip)
    user_track = obj.animation_data.nla_tracks.new()
    user_track.strips.new("users_strip", 1200, bpy.data.actions["131_03"])
    fbx, glb, gltf = export_fbx(tmp_path / "c.fbx", obj), export_gltf(tmp_path / "c.glb", obj), export_gltf(tmp_path / "c.gltf", obj)
    assert not user_track.mute and not user_track.strips[0].mute and obj.animation_data.action is None  # restored
    assert [(n, c, t0) for n, c, t0 in _glb_animations(glb)] == [(n, length, 0.0) for n, length in zip(names, LENGTHS)]
    fps, base = bpy.context.scene.render.fps, bpy.context.scene.render.fps_base

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(fbx))
    got = sorted((a.name.split("|")[-1], round(a.frame_range[1] - a.frame_range[0]) + 1) for a in bpy.data.actions)
    assert got == sorted(zip(names, LENGTHS))

    for path in (glb, gltf):
        bpy.ops.wm.read_factory_settings(use_empty=True)
        bpy.context.scene.render.fps, bpy.context.scene.render.fps_base = fps, base
        bpy.ops.import_scene.gltf(filepath=str(path))
        got = sorted((a.name, round(a.frame_range[1] - a.frame_range[0]) + 1, round(a.frame_range[0])) for a in bpy.data.actions)
        assert got == sorted((n, length, 0) for n, length in zip(names, LENGTHS))


def test_fbx_round_trip_keeps_the_motion(take_131_03, tmp_path):
    obj, take = take_131_03
    write_clips(obj, clips_from_ranges("301-700:walk", take), naming="{name}")
    export_fbx(tmp_path / "walk.fbx", obj)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(tmp_path / "walk.fbx"))
    arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    back = read_armature(arm, action=bpy.data.actions[0])
    idx = [take.joint_names.index(n) for n in back.joint_names]
    h = float(np.ptp(take.positions[0], axis=0).max())
    assert back.frames == 400
    assert np.abs(back.positions - take.positions[300:700][:, idx]).max() < 1e-3 * h


def test_output_paths_that_cannot_be_written(take_131_03, tmp_path):
    obj, take = take_131_03
    write_clips(obj, clips_from_ranges(RANGES, take))
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    for bad in (a_file / "x.blend", "/proc/x.blend", "/proc/missing/x.blend"):
        with pytest.raises(ZomgError, match="cannot write"):
            save_blend(bad)
    with pytest.raises(ZomgError, match="cannot write"):
        export_fbx(a_file / "x.fbx", obj)
    with pytest.raises(ZomgError, match="must end in"):
        export_gltf(tmp_path / "x.fbx", obj)
    out = save_blend(tmp_path / "ok.blend")
    assert out.stat().st_size > 0
    assert save_blend(tmp_path / "made" / "for" / "it.blend").stat().st_size > 0  # missing folders are created


def test_gltf_take_imports_at_its_own_frame_rate(take_131_03, tmp_path):
    obj, take = take_131_03
    write_clips(obj, clips_from_ranges(RANGES, take), naming="{name}")
    glb = export_gltf(tmp_path / "c.glb", obj)
    bpy.ops.wm.read_factory_settings(use_empty=True)  # a 24 fps scene
    arm = import_take(glb)
    render = bpy.context.scene.render
    assert render.fps / render.fps_base == 120
    back = read_armature(arm, action=bpy.data.actions["walk"])
    assert back.frames == 400 and back.fps == 120
    idx = [take.joint_names.index(n) for n in back.joint_names]
    h = float(np.ptp(take.positions[0], axis=0).max())
    assert np.abs(back.positions - take.positions[300:700][:, idx]).max() < 1e-3 * h
