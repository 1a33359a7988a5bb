"""Clips -> Blender: one new action per clip, each on its own single-strip NLA track, plus markers.

Choices (they are what makes FBX and glTF exports come out one-take-per-clip):

- Keys stay at their scene frames (not shifted to 0): the clip's action, its NLA strip, its marker
  and the source take all show the same frame numbers, and exporters cut each take from the
  strip / the action's manual frame range anyway (glTF export slides each one to time 0).
- Each action holds only its range (plus ``handles`` frames each side, within the take). When a
  range edge falls between keys, the cut part of that segment is keyed every frame with Blender's
  evaluated values (so the clip plays exactly what the take played there).
- Strips use extrapolation "Nothing", so a clip never holds its pose over its neighbours' time.
  With handles, a strip that would reach its neighbour's is moved later to keep a one-frame gap.
- The source action is only read. The active action is unassigned so that the NLA plays; if
  nothing else uses it, it gets a fake user so saving the file keeps it. The object remembers
  the source (custom property ``zomg_source_action``) for re-runs.
- Everything made here is tagged; a re-run removes what the previous run made for this object
  (its actions, tracks and markers) and nothing else.
"""
from __future__ import annotations

import contextlib
import re
from types import SimpleNamespace

import bpy
import numpy as np
from bpy_extras import anim_utils

from ..engine.clips import DEFAULT_NAMING, clip_names, validate_clips
from ..engine.errors import ZomgError
from ..engine.take import Clip, Take
from .read import MARKERS_PROP, SOURCE_ACTION_PROP, action_frames, action_slot_for, source_action_of

CLIP_TAG = "zomg_clip"            # on actions we made: the name of the object they were made for

_KEY_FLOATS = {"co": 2, "handle_left": 2, "handle_right": 2, "back": 1, "amplitude": 1, "period": 1}
_KEY_ENUMS = ("interpolation", "handle_left_type", "handle_right_type", "easing", "type")
_EPS = 1e-4  # frames: a key this close to a range edge is on it
_AUTO_HANDLES = {bpy.types.Keyframe.bl_rna.properties["handle_left_type"].enum_items[n].value for n in ("AUTO", "AUTO_CLAMPED")}
_BONE_IN_PATH = re.compile(r'^pose\.bones\["((?:[^"\\]|\\.)*)"\]')


def write_clips(obj, clips: list[Clip], source_action=None, naming: str = DEFAULT_NAMING, handles: int = 0,
                take_name: str | None = None) -> list:
    """Make one action + NLA track + marker per clip (clip frames count from the action's first frame).

    Returns the new actions in timeline order. ``take_name`` fills ``{take}`` (default: the source action's name).
    """
    if obj is None or obj.type != "ARMATURE":
        raise ZomgError(f"{getattr(obj, 'name', obj)!r} is not an armature")
    if handles < 0:
        raise ZomgError(f"handles must be 0 or more frames, not {handles}")
    source = source_action or source_action_of(obj)
    if source is None:
        raise ZomgError(f"armature {obj.name!r} has no animation to split (no action)")
    if CLIP_TAG in source:
        raise ZomgError(f"action {source.name!r} is a clip made by ZOMG; split the original take instead")
    ad = obj.animation_data or obj.animation_data_create()
    if ad.use_tweak_mode:
        raise ZomgError(f"armature {obj.name!r} is in NLA tweak mode; leave it first")
    slot = action_slot_for(obj, source)
    channelbag = anim_utils.action_get_channelbag_for_slot(source, slot) if slot else None
    if channelbag is None or not len(channelbag.fcurves):
        raise ZomgError(f"action {source.name!r} has no F-curves for armature {obj.name!r}")
    first, last = action_frames(source, channelbag)
    span = Take(np.zeros((last - first + 1, 0, 3), np.float32), [], np.zeros(0, int), 1.0,
                name=take_name or source.name, frame_start=first)
    clips = validate_clips(clips, span)
    names = clip_names(naming, span, clips)
    for name in names:
        taken = bpy.data.actions.get(name)
        if taken is not None and taken.get(CLIP_TAG) != obj.name:
            raise ZomgError(f"an action named {name!r} already exists; choose another naming pattern")

    remove_previous_clips(obj)
    scene = bpy.context.scene
    made, placed = [], {}
    users_markers = {(m.name, m.frame) for m in scene.timeline_markers}
    prev_end = None
    for clip, name in zip(clips, names):
        start, end = first + clip.start_frame, first + clip.end_frame - 1
        a, b = max(first, start - handles), min(last, end + handles)
        action = _copy_range(source, channelbag, a, b, name, obj)
        place = a if prev_end is None else max(a, prev_end + 1)
        track = ad.nla_tracks.new()
        track.name = name
        strip = track.strips.new(name, int(place), action)
        strip.action_slot = action.slots[0]
        strip.extrapolation, strip.blend_type = "NOTHING", "REPLACE"
        prev_end = strip.frame_end
        marker_frame = int(place + (start - a))
        if (name, marker_frame) not in users_markers:  # the user's own marker already says it: keep theirs
            scene.timeline_markers.new(name, frame=marker_frame)
            placed[name] = marker_frame
        made.append(action)
    obj[MARKERS_PROP] = placed
    obj[SOURCE_ACTION_PROP] = source.name
    if ad.action is not None:
        if ad.action.users <= 1 and not ad.action.use_fake_user:
            ad.action.use_fake_user = True  # otherwise unassigning it would lose it on save
        ad.action = None
    ad.use_nla = True
    return made


def remove_root_travel(obj, actions) -> str:
    """In-place clips: take the horizontal (world X/Y) travel out of the travelling bone's location keys.

    The travelling bone is the top-most bone whose location keys change (a BVH rig's root or hips);
    bones above it must hold still. In every clip action its head is held above the armature's
    origin at every frame; its height, all rotations and the other bones are kept. Only clip actions
    `write_clips` made for ``obj`` are changed, each re-keyed on every frame of its range; the source
    take is never touched. Returns the bone's name.
    """
    actions = list(actions)
    for action in actions:
        if action.get(CLIP_TAG) != obj.name:
            raise ZomgError(f"action {action.name!r} is not a clip of {obj.name!r}; only clips are made in place")
    if not actions:
        return ""
    bags = [anim_utils.action_get_channelbag_for_slot(a, a.slots[0]) for a in actions]
    moving, still = set(), {}  # bones whose keys change; (bone, channel, index) -> the value a still one holds
    travellers = set()         # bones whose location keys change
    for bag in bags:
        for fc in bag.fcurves:
            m = _BONE_IN_PATH.match(fc.data_path)
            if not m or not len(fc.keyframe_points) or bpy.utils.unescape_identifier(m.group(1)) not in obj.data.bones:
                continue
            name, channel = bpy.utils.unescape_identifier(m.group(1)), fc.data_path.rpartition(".")[2]
            keys = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
            fc.keyframe_points.foreach_get("co", keys)
            if np.ptp(keys[1::2]) > 1e-6:
                moving.add(name)
                if channel == "location":
                    travellers.add(name)
            else:
                still[(name, channel, fc.array_index)] = float(keys[1])
    if not travellers:
        raise ZomgError(f"armature {obj.name!r}: no bone's location changes, so there is no travel to remove")
    bone = min((obj.data.bones[n] for n in travellers), key=lambda b: (len(b.parent_recursive), b.name))
    animated = next((p for p in bone.parent_recursive if p.name in moving), None)
    if animated is not None:
        raise ZomgError(f"in-place: bone {bone.name!r} travels under the animated bone {animated.name!r}; "
                        "only a bone whose parents hold still can carry the travel")
    rest = bone.matrix_local
    if bone.parent is not None:
        rest = _still_pose(obj, bone.parent, still) @ bone.parent.matrix_local.inverted() @ rest
    world = np.array(obj.matrix_world, dtype=np.float64)
    rest = np.array(rest, dtype=np.float64)
    to_world = world[:3, :3] @ rest[:3, :3]               # location channel -> world offset of the head
    origin = world[:3, :3] @ rest[:3, 3] + world[:3, 3]   # world head at location 0
    pose_bone = obj.pose.bones[bone.name]
    path = f'pose.bones["{bpy.utils.escape_identifier(bone.name)}"].location'
    for action, bag in zip(actions, bags):
        a, b = (int(round(f)) for f in action.frame_range)
        frames = np.arange(a, b + 1, dtype=np.float64)
        curves = [bag.fcurves.find(path, index=i) for i in range(3)]
        loc = np.stack([np.array([fc.evaluate(f) for f in frames]) if fc is not None
                        else np.full(len(frames), pose_bone.location[i]) for i, fc in enumerate(curves)], 1)
        head = loc @ to_world.T + origin
        travel = np.zeros_like(head)
        travel[:, :2] = head[:, :2] - world[:2, 3]        # held above the armature's origin
        loc -= np.linalg.solve(to_world, travel.T).T
        for i, fc in enumerate(curves):
            if fc is None:
                fc = _new_fcurve(bag, SimpleNamespace(data_path=path, array_index=i, group=None))
            set_linear_keys(fc, frames, loc[:, i])
        action["zomg_in_place"] = bone.name
    return bone.name


def _still_pose(obj, bone, still: dict):
    """Armature-space pose matrix of a bone that holds still: its held keys, else its current pose values."""
    from mathutils import Euler, Matrix, Quaternion, Vector

    pb = obj.pose.bones[bone.name]

    def channel(name: str, size: int) -> list[float]:
        return [still.get((bone.name, name, i), getattr(pb, name)[i]) for i in range(size)]

    if pb.rotation_mode == "QUATERNION":
        rotation = Quaternion(channel("rotation_quaternion", 4))
    elif pb.rotation_mode == "AXIS_ANGLE":
        angle, *axis = channel("rotation_axis_angle", 4)
        rotation = Quaternion(axis, angle)
    else:
        rotation = Euler(channel("rotation_euler", 3), pb.rotation_mode).to_quaternion()
    basis = Matrix.LocRotScale(Vector(channel("location", 3)), rotation, Vector(channel("scale", 3)))
    if bone.parent is None:
        return bone.matrix_local @ basis
    return _still_pose(obj, bone.parent, still) @ bone.parent.matrix_local.inverted() @ bone.matrix_local @ basis


def remove_previous_clips(obj) -> None:
    """Remove the tracks, actions and markers an earlier ``write_clips`` made for ``obj``; nothing else."""
    ad = obj.animation_data
    ours = []
    if ad is not None:
        for track in list(ad.nla_tracks):
            actions = [s.action for s in track.strips]
            if actions and all(a is not None and a.get(CLIP_TAG) == obj.name for a in actions):
                ours.extend(actions)
                ad.nla_tracks.remove(track)
    for action in ours:
        if action.users <= int(action.use_fake_user):  # nobody else took it up
            bpy.data.actions.remove(action)
    placed = obj.get(MARKERS_PROP)
    if placed:
        markers = bpy.context.scene.timeline_markers
        for marker in list(markers):
            if placed.get(marker.name) == marker.frame:
                markers.remove(marker)
        del obj[MARKERS_PROP]


def _copy_range(source, channelbag, a: int, b: int, name: str, obj):
    """A new action holding the motion of ``channelbag`` over frames [a, b], exactly at every frame."""
    action = bpy.data.actions.new(name)
    slot = action.slots.new(id_type="OBJECT", name=obj.name)
    target = ensure_channelbag(action, slot)
    for fc in channelbag.fcurves:
        keys = _read_keys(fc)
        frames = keys["co"][:, 0]
        inside = (frames >= a - _EPS) & (frames <= b + _EPS)
        picked = {k: v[inside] for k, v in keys.items()}
        if len(frames):
            picked = _fill_edges(picked, keys, fc, a, b)
        new = _new_fcurve(target, fc)
        new.keyframe_points.add(len(picked["co"]))
        for attr, values in picked.items():
            new.keyframe_points.foreach_set(attr, values.ravel())
        new.extrapolation = fc.extrapolation
        new.mute = fc.mute
        new.update()
    action.use_frame_range = True
    action.frame_end = b
    action.frame_start = a
    action.frame_end = b
    action.use_fake_user = True
    action[CLIP_TAG] = obj.name
    action["zomg_source"] = source.name
    action["zomg_frames"] = [a, b]
    return action


def ensure_channelbag(action, slot):
    """The channelbag for ``slot`` in the action's first keyframe strip, made if missing.

    Same steps as ``anim_utils.action_ensure_channelbag_for_slot`` (Blender 5.0), which 4.5 lacks.
    """
    layer = action.layers[0] if len(action.layers) else action.layers.new("Layer")
    strip = layer.strips[0] if len(layer.strips) else layer.strips.new(type="KEYFRAME")
    return strip.channelbag(slot, ensure=True)


def _read_keys(fc) -> dict:
    n = len(fc.keyframe_points)
    out = {}
    for attr, width in _KEY_FLOATS.items():
        buf = np.empty(n * width, dtype=np.float32)
        fc.keyframe_points.foreach_get(attr, buf)
        out[attr] = buf.reshape(n, width)
    for attr in _KEY_ENUMS:
        buf = np.empty(n, dtype=np.int32)
        fc.keyframe_points.foreach_get(attr, buf)
        out[attr] = buf.reshape(n, 1)
    return out


def _fill_edges(picked: dict, keys: dict, fc, a: int, b: int) -> dict:
    """Where [a, b] cuts a segment between keys, key every frame of the cut part with Blender's value.

    The kept keys next to the cut get their automatic handles frozen as they were, because
    Blender would recompute them from their new neighbours and bend the curve.
    """
    kept = picked["co"][:, 0]
    if len(kept):
        for end in (0, -1):
            for side in ("handle_left_type", "handle_right_type"):
                if picked[side][end, 0] in _AUTO_HANDLES:
                    picked[side][end, 0] = _enum("handle_left_type", "FREE")
        lo, hi = float(kept[0]), float(kept[-1])
        baked = [f for f in range(a, b + 1) if f < lo - _EPS or f > hi + _EPS]
    else:
        baked = list(range(a, b + 1))
    if not baked:
        return picked
    frames = np.array(baked, dtype=np.float32)
    values = np.array([fc.evaluate(f) for f in baked], dtype=np.float32)
    left = np.clip(np.searchsorted(keys["co"][:, 0], frames, side="right") - 1, 0, len(keys["co"]) - 1)
    constant = keys["interpolation"][left, 0] == _enum("interpolation", "CONSTANT")
    rows = {k: np.zeros((len(baked),) + v.shape[1:], dtype=v.dtype) for k, v in keys.items()}
    rows["co"][:] = np.stack([frames, values], 1)
    rows["handle_left"][:] = np.stack([frames - 1 / 3, values], 1)
    rows["handle_right"][:] = np.stack([frames + 1 / 3, values], 1)
    rows["interpolation"][:, 0] = np.where(constant, _enum("interpolation", "CONSTANT"), _enum("interpolation", "LINEAR"))
    rows["handle_left_type"][:] = rows["handle_right_type"][:] = _enum("handle_left_type", "FREE")
    rows["type"][:] = keys["type"][left]
    merged = {k: np.concatenate([picked[k], rows[k]]) for k in picked}
    order = np.argsort(merged["co"][:, 0], kind="stable")
    return {k: v[order] for k, v in merged.items()}


def set_linear_keys(fc, frames, values) -> None:
    """Replace the keys of F-curve ``fc`` with one linearly interpolated key per (frame, value), in one call each."""
    fc.keyframe_points.clear()
    fc.keyframe_points.add(len(frames))
    fc.keyframe_points.foreach_set("co", np.column_stack([frames, values]).astype(np.float32).ravel())
    fc.keyframe_points.foreach_set("interpolation", np.full(len(frames), _enum("interpolation", "LINEAR"), np.int32))
    fc.update()


def _enum(prop: str, name: str) -> int:
    return bpy.types.Keyframe.bl_rna.properties[prop].enum_items[name].value


def _new_fcurve(channelbag, source_fc):
    group = source_fc.group.name if source_fc.group is not None else None
    if group is None:
        m = _BONE_IN_PATH.match(source_fc.data_path)
        group = bpy.utils.unescape_identifier(m.group(1)) if m else None
    if group and "group_name" in channelbag.fcurves.bl_rna.functions["new"].parameters:  # Blender 5.0+
        return channelbag.fcurves.new(source_fc.data_path, index=source_fc.array_index, group_name=group)
    fc = channelbag.fcurves.new(source_fc.data_path, index=source_fc.array_index)
    if group:  # Blender 4.4/4.5: groups are made and assigned by hand; they only tidy the UI
        with contextlib.suppress(AttributeError, TypeError, RuntimeError):
            fc.group = channelbag.groups.get(group) or channelbag.groups.new(group)
    return fc
