"""read_armature: the F-curve fast path must give Blender's own evaluated positions on real takes."""
from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
import pytest
from bpy_extras import anim_utils

from zomg_blender.blender.read import fast_path_blockers, read_armature
from zomg_blender.blender.scene_io import import_take
from zomg_blender.blender.write import ensure_channelbag
from zomg_blender.engine.errors import ZomgError

BANDAI_CLIP = "dataset/Bandai-Namco-Research-Motiondataset-2/data/dataset-2_walk-turn-left_active_001.bvh"


@pytest.fixture(autouse=True)
def fresh_scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield


def _height(take) -> float:
    return float(np.ptp(take.positions[0], axis=0).max())


def _trim(obj, first: int, last: int) -> None:
    action = obj.animation_data.action
    action.use_frame_range = True
    action.frame_end = last
    action.frame_start = first


def _assert_paths_agree(obj, frames: int | None = None, first: int = 1):
    fast = read_armature(obj, method="fcurves")
    slow = read_armature(obj, method="evaluated")
    assert fast.meta["read_method"] == "fcurves" and slow.meta["read_method"] == "evaluated"
    assert fast.positions.shape == slow.positions.shape
    if frames is not None:
        assert fast.frames == frames
    assert fast.frame_start == slow.frame_start == first
    assert fast.joint_names == slow.joint_names and (fast.parents == slow.parents).all()
    h = _height(slow)
    assert h > 1.0
    travel = np.ptp(slow.positions, axis=0).max()
    assert travel > 0.05 * h, "the take should actually move"
    err = np.abs(fast.positions - slow.positions).max()
    assert err < 1e-4 * h, f"fast path off by {err / h:.2e} of the rig height"
    return fast, slow


def test_bandai_clip_fast_equals_evaluated(bandai_dir):
    obj = import_take(bandai_dir / BANDAI_CLIP)
    fast, _ = _assert_paths_agree(obj, frames=130)
    assert fast.fps == pytest.approx(30.0, rel=1e-4)
    assert fast.up_axis == "Z" and len(fast.joint_names) == 22  # the 27 BVH entries less the End Sites
    assert read_armature(obj).meta["read_method"] == "fcurves"  # auto: nothing blocks the fast path


def test_cmu_cgspeed_take_fast_equals_evaluated(cmu_bvh):
    obj = import_take(cmu_bvh / "131_03.bvh")
    fast, _ = _assert_paths_agree(obj, frames=1102)
    assert fast.fps == pytest.approx(120.0, rel=1e-4)
    assert fast.joint_names[0] == "Hips" and fast.parents[0] == -1


def test_cmu_acclaim_take_frame_window(cmu_bvh):
    obj = import_take(cmu_bvh / "13_29.bvh")
    whole = read_armature(obj, method="fcurves")
    assert whole.frames == 4592
    _trim(obj, 2001, 2600)  # a window of the long take: frame_start follows the action's range
    fast, _ = _assert_paths_agree(obj, frames=600, first=2001)
    assert np.abs(fast.positions - whole.positions[2000:2600]).max() < 1e-5 * _height(whole)


def _sparse_copy(obj, step: int):
    """A new action with every ``step``-th key, mixing constant/linear/Bézier curves; assigned to ``obj``."""
    ad = obj.animation_data
    source = anim_utils.action_get_channelbag_for_slot(ad.action, ad.action_slot)
    action = bpy.data.actions.new("sparse")
    slot = action.slots.new(id_type="OBJECT", name=obj.name)
    bag = ensure_channelbag(action, slot)
    kinds = ["CONSTANT", "LINEAR", "BEZIER"]
    enum = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items
    for i, fc in enumerate(source.fcurves):
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        co = co.reshape(-1, 2)[::step]
        new = bag.fcurves.new(fc.data_path, index=fc.array_index)
        new.keyframe_points.add(len(co))
        new.keyframe_points.foreach_set("co", co.ravel())
        new.keyframe_points.foreach_set("interpolation", np.full(len(co), enum[kinds[i % 3]].value, dtype=np.int32))
        if i % 5 == 0:
            new.extrapolation = "LINEAR"
        new.update()
    action.use_frame_range = True
    action.frame_start, action.frame_end = 1, 700  # past the last key: extrapolated frames too
    ad.action = action
    ad.action_slot = slot
    return action


def test_sparse_keys_between_and_past_keys(cmu_bvh):
    obj = import_take(cmu_bvh / "131_03.bvh")
    _trim(obj, 1, 680)
    _sparse_copy(obj, step=9)
    _assert_paths_agree(obj, frames=700)


def test_quaternion_axis_angle_and_euler_orders(cmu_bvh):
    obj = import_take(cmu_bvh / "131_03.bvh")
    _trim(obj, 1, 300)
    ad = obj.animation_data
    bag = anim_utils.action_get_channelbag_for_slot(ad.action, ad.action_slot)
    frames = np.arange(1, 301, dtype=np.float32)
    phase = np.linspace(0, 3, 300, dtype=np.float32)
    curves = {
        "LeftShoulder": ("QUATERNION", "rotation_quaternion",  # deliberately not unit length
                         [1.5 + 0 * phase, 0.4 * np.sin(phase), 0.3 * np.cos(phase), 0.2 + 0 * phase]),
        "RightShoulder": ("AXIS_ANGLE", "rotation_axis_angle",
                          [0.8 * np.sin(phase), 1 + 0 * phase, 0.5 * np.cos(phase), 0.3 + 0 * phase]),
    }
    for bone, (mode, prop, channels) in curves.items():
        obj.pose.bones[bone].rotation_mode = mode
        for i, values in enumerate(channels):
            fc = bag.fcurves.new(f'pose.bones["{bone}"].{prop}', index=i)
            fc.keyframe_points.add(len(frames))
            fc.keyframe_points.foreach_set("co", np.stack([frames, values], 1).ravel())
            fc.update()
    for bone, order in (("LeftHip", "XYZ"), ("RightHip", "YXZ"), ("LeftElbow", "XZY"), ("RightElbow", "YZX"),
                        ("Chest", "ZXY")):
        obj.pose.bones[bone].rotation_mode = order  # same keyed values, another order: both paths must follow
    obj.pose.bones["Neck"].scale = (1.3, 0.8, 1.1)  # an un-keyed channel: the pose value applies
    _assert_paths_agree(obj, frames=300)


def test_animated_armature_object(cmu_bvh):
    obj = import_take(cmu_bvh / "131_03.bvh")
    _trim(obj, 1, 200)
    ad = obj.animation_data
    bag = anim_utils.action_get_channelbag_for_slot(ad.action, ad.action_slot)
    obj.rotation_mode = "YXZ"
    obj.scale = (1.5, 1.5, 1.5)  # not keyed: its static value applies on every frame
    for prop, index, keys in (("location", 0, [(1, 0.0), (200, 80.0)]), ("location", 2, [(1, 5.0), (120, -10.0)]),
                              ("rotation_euler", 2, [(1, 0.0), (200, 2.0)]), ("rotation_euler", 0, [(50, 0.3)]),
                              ("rotation_euler", 1, [(1, 0.2), (200, -0.4)])):
        fc = bag.fcurves.new(prop, index=index)
        for frame, value in keys:
            fc.keyframe_points.insert(frame, value)
    assert fast_path_blockers(obj, bag) == []
    _assert_paths_agree(obj, frames=200)
    obj.delta_location = (1.0, 0.0, 0.0)
    assert fast_path_blockers(obj, bag) == ["animated object transform with delta transforms"]


def test_constraint_falls_back_to_evaluated(cmu_bvh):
    obj = import_take(cmu_bvh / "131_03.bvh")
    _trim(obj, 1, 240)
    limit = obj.pose.bones["LeftKnee"].constraints.new("LIMIT_ROTATION")
    limit.use_limit_x = limit.use_limit_y = limit.use_limit_z = True  # knee frozen straight
    assert "bone constraints" in fast_path_blockers(obj)
    auto = read_armature(obj)
    assert auto.meta["read_method"] == "evaluated"
    fast = read_armature(obj, method="fcurves")  # forced: ignores the constraint
    slow = read_armature(obj, method="evaluated")
    h = _height(slow)
    assert np.abs(auto.positions - slow.positions).max() < 1e-6 * h
    assert np.abs(fast.positions - slow.positions).max() > 1e-3 * h, "the constraint should change the pose"


def test_evaluated_read_of_another_action_restores_the_scene(cmu_bvh):
    obj = import_take(cmu_bvh / "131_03.bvh")
    ad = obj.animation_data
    original = ad.action
    other = original.copy()
    other.use_frame_range = True
    other.frame_start, other.frame_end = 101, 160
    bpy.context.scene.frame_set(7)
    take = read_armature(obj, action=other, method="evaluated")
    assert take.frames == 60 and take.frame_start == 101
    assert ad.action == original and ad.action_slot is not None
    assert bpy.context.scene.frame_current == 7
    whole = read_armature(obj, method="fcurves")
    assert np.abs(take.positions - whole.positions[100:160]).max() < 1e-4 * _height(whole)


def test_armature_without_animation_is_a_clear_error():
    arm = bpy.data.objects.new("rig", bpy.data.armatures.new("rig"))
    bpy.context.scene.collection.objects.link(arm)
    with pytest.raises(ZomgError, match="no animation"):
        read_armature(arm)


def test_blender_and_bvh_readers_give_the_same_canonical_joints():
    """The DAZ-style sample keeps its toes only as BVH End Sites: the Blender reader returns leaf-bone tails
    as end sites too, so both readers map to the same 22 joints (same features, same grounding)."""
    from zomg_blender.engine.bvh import read_bvh
    from zomg_blender.engine.features import canonical_joints

    sample = Path(__file__).resolve().parents[1] / "samples" / "cmu_10_01_kick.bvh"
    bpy.ops.wm.read_factory_settings(use_empty=True)
    for method in ("fcurves", "evaluated"):
        take = read_armature(import_take(sample), method=method)
        assert set(take.meta["end_sites"]) >= {"lFoot", "rFoot"}
        assert np.abs(canonical_joints(take) - canonical_joints(read_bvh(sample))).max() < 1e-3
        bpy.ops.wm.read_factory_settings(use_empty=True)
