"""Export the clips `write_clips` made: one FBX take / one glTF animation per clip, nothing else.

While exporting, the armature's active action is unassigned and NLA strips that are not ZOMG
clips are muted (FBX exports every unmuted strip; glTF's "ACTIONS" mode every unmuted
single-strip track and, by default, every armature action in the file). All is restored after.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import bpy

from ..engine.errors import ZomgError
from .scene_io import check_output_path, first_error_line, operator_problem
from .write import CLIP_TAG


def export_fbx(path, obj) -> Path:
    """Write ``obj`` (and its child meshes) to FBX with one animation take per clip strip."""
    path = check_output_path(path, (".fbx",))
    with _only_clips_play(obj), _selected(obj):
        _run_exporter(path, lambda: bpy.ops.export_scene.fbx(
            filepath=str(path), use_selection=True, object_types={"ARMATURE", "MESH"},
            add_leaf_bones=False, bake_anim=True, bake_anim_use_nla_strips=True, bake_anim_use_all_actions=False,
            bake_anim_force_startend_keying=True, bake_anim_simplify_factor=0.0))
    return path


def export_gltf(path, obj) -> Path:
    """Write ``obj`` (and its child meshes) to .glb/.gltf with one animation per clip, each starting at 0."""
    path = check_output_path(path, (".glb", ".gltf"))
    with _only_clips_play(obj), _selected(obj):
        _run_exporter(path, lambda: bpy.ops.export_scene.gltf(
            filepath=str(path), export_format="GLB" if path.suffix.lower() == ".glb" else "GLTF_SEPARATE",
            use_selection=True, export_animations=True, export_animation_mode="ACTIONS",
            export_anim_single_armature=False, export_anim_slide_to_zero=True, export_force_sampling=True,
            export_frame_range=False, export_reset_pose_bones=True))
    return path


def clip_strips(obj) -> list:
    """The NLA strips holding ZOMG clips of ``obj``, in timeline order."""
    ad = obj.animation_data
    if ad is None:
        return []
    strips = [s for t in ad.nla_tracks for s in t.strips if s.action is not None and s.action.get(CLIP_TAG) == obj.name]
    return sorted(strips, key=lambda s: s.frame_start)


@contextlib.contextmanager
def _only_clips_play(obj):
    if obj is None or obj.type != "ARMATURE":
        raise ZomgError(f"{getattr(obj, 'name', obj)!r} is not an armature")
    if not clip_strips(obj):
        raise ZomgError(f"armature {obj.name!r} has no clips to export; split the take first")
    ad = obj.animation_data
    if ad.use_tweak_mode:
        raise ZomgError(f"armature {obj.name!r} is in NLA tweak mode; leave it first")
    saved_action, saved_slot = ad.action, ad.action_slot
    saved_mute = [(t, t.mute, [(s, s.mute) for s in t.strips]) for t in ad.nla_tracks]
    try:
        ad.action = None
        for track, _, strips in saved_mute:
            ours = all(s.action is not None and s.action.get(CLIP_TAG) == obj.name for s, _ in strips)
            track.mute = not ours
            for strip, _ in strips:
                strip.mute = not ours
        yield
    finally:
        for track, mute, strips in saved_mute:
            track.mute = mute
            for strip, strip_mute in strips:
                strip.mute = strip_mute
        if saved_action is not None:
            ad.action = saved_action
            if saved_slot is not None:
                ad.action_slot = saved_slot


@contextlib.contextmanager
def _selected(obj):
    """Select ``obj`` and its children only (the exporters' use_selection), then restore the selection."""
    view_layer = bpy.context.view_layer
    before = [o for o in view_layer.objects if o.select_get()]
    active = view_layer.objects.active
    try:
        for o in before:
            o.select_set(False)
        for o in [obj, *obj.children_recursive]:
            if o.name in view_layer.objects:
                o.select_set(True)
        view_layer.objects.active = obj
        yield
    finally:
        for o in view_layer.objects:
            o.select_set(o in before)
        view_layer.objects.active = active


def _run_exporter(path: Path, call) -> None:
    problem = operator_problem(call)
    if problem is not None:
        raise ZomgError(f"cannot export {path.name}: {first_error_line(problem)}")
