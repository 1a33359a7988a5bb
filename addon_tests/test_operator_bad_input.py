"""Bad input through the panel's operators (bpy 5.0.1): each is refused with one line and loses nothing.

Every case runs the real `bpy.ops.zomg.*` on a real CMU take and checks three things: the operator
returned CANCELLED with one ERROR report (or its poll said no, with a message), the take's keys are
byte-identical, and no action, NLA track, marker or result appeared, changed or went missing.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from test_operators import TAKE, addon, bpy, checkpoint, sub, take  # noqa: F401  (shared fixtures)

SUBACTIONS = ["a person starts walking", "a person hops on one foot", "a person stops and stands still"]
_KEY_ATTRS = {"co": 2, "handle_left": 2, "handle_right": 2, "interpolation": 1}


@pytest.fixture
def returns(addon, monkeypatch) -> list:
    """What each ZOMG operator's execute() returned, in call order (bpy.ops hides it behind the error)."""
    seen = []

    def recording(execute):
        def recorded(self, context):  # exactly (self, context): Blender crashes on an extra default argument
            result = execute(self, context)
            seen.append(result)
            return result
        return recorded

    for cls in sub("operators").CLASSES:
        monkeypatch.setattr(cls, "execute", recording(cls.execute))
    return seen


def key_bytes(action) -> list[tuple[str, int, bytes]]:
    """Every key of every F-curve of every channelbag of the action (frame, value, handles, interpolation)."""
    out = []
    for layer in action.layers:
        for strip in layer.strips:
            for bag in strip.channelbags:
                for fc in bag.fcurves:
                    raw = b""
                    for attr, width in _KEY_ATTRS.items():
                        buf = np.empty(width * len(fc.keyframe_points), np.int32 if width == 1 else np.float32)
                        fc.keyframe_points.foreach_get(attr, buf)
                        raw += buf.tobytes()
                    out.append((fc.data_path, fc.array_index, raw))
    assert out
    return out


def scene_state(obj, source) -> dict:
    """All a failed operator must leave as it was."""
    ad = obj.animation_data
    zomg = obj.zomg
    return {
        "source keys": key_bytes(source),
        "actions": sorted(a.name for a in bpy.data.actions),
        "active action": ad.action.name if ad and ad.action else None,
        "tracks": [(t.name, t.mute, [(s.name, s.frame_start, s.frame_end, s.mute) for s in t.strips])
                   for t in ad.nla_tracks] if ad else [],
        "markers": sorted((m.name, m.frame) for m in bpy.context.scene.timeline_markers),
        # the add-on's own state is compared through RNA below: its raw ID properties fill in defaults
        # when read on bpy 4.5, so they are not a stable picture of it
        "object props": {k: v.to_dict() if hasattr(v, "to_dict") else v for k, v in obj.items() if k != "zomg"},
        "panel state": (zomg.action.name if zomg.action else None, zomg.use_frame_range, zomg.frame_start,
                        zomg.frame_end),
        "data props": sorted(obj.data.keys()),
        "subactions": [s.name for s in zomg.subactions],
        "results": [(r.name, r.text, r.start, r.end, r.edited) for r in zomg.results],
        "status": zomg.status,
    }


def refused(op, returns: list, *args, **kwargs) -> str:
    """Run the operator as the panel does; it must refuse in one line. Returns that line."""
    calls = len(returns)
    with pytest.raises(RuntimeError) as info:
        op(*args, **kwargs)
    text = str(info.value).strip()
    assert text and "\n" not in text, repr(text)
    if ".poll()" in text:  # greyed-out button: the poll said why
        assert not op.poll() and len(returns) == calls
        return text.split(".poll() ", 1)[1]
    assert text.startswith("Error: ") and "Traceback" not in text, text
    assert returns[calls:] == [{"CANCELLED"}]
    return text.removeprefix("Error: ")


def fill_results(obj, ranges) -> None:
    """Results as Split leaves them (then edited by hand in the panel)."""
    for text, (start, end) in zip(SUBACTIONS, ranges):
        item = obj.zomg.results.add()
        item.name = item.text = text
        item.start, item.end = start, end


def test_armature_without_animation_greys_out_every_take_operator(addon, returns):
    bpy.ops.wm.read_homefile(use_empty=True)
    obj = bpy.data.objects.new("rig", bpy.data.armatures.new("rig"))
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    obj.zomg.description = "walk then run"
    for op in (bpy.ops.zomg.split_markers, bpy.ops.zomg.propose, bpy.ops.zomg.ground, bpy.ops.zomg.apply,
               bpy.ops.zomg.export_clips):
        assert refused(op, returns) == "The armature has no action to split"
    assert not bpy.data.actions and obj.animation_data is None

    # An action with no keys is picked in the panel: the operators run, refuse, and make nothing.
    empty = bpy.data.actions.new("empty")
    obj.zomg.action = empty
    bpy.context.scene.timeline_markers.new("walk", frame=1)
    obj.zomg.subactions.add().name = "walk"
    assert "has no keyframes" in refused(bpy.ops.zomg.split_markers, returns)
    assert "has no keyframes" in refused(bpy.ops.zomg.ground, returns)
    assert [a.name for a in bpy.data.actions] == ["empty"] and not len(empty.layers)
    assert [m.name for m in bpy.context.scene.timeline_markers] == ["walk"] and not len(obj.zomg.results)


def test_empty_description_or_sub_actions(take, returns):
    source = take.animation_data.action
    take.zomg.subactions.add().name = "kept from before"
    before = scene_state(take, source)
    for text in ("", "   \n\t"):
        take.zomg.description = text
        before["status"] = take.zomg.status
        assert refused(bpy.ops.zomg.propose, returns, "INVOKE_DEFAULT").startswith("write a description")
        assert scene_state(take, source) == before

    take.zomg.subactions[0].name = "  "  # Split with nothing to look for
    before = scene_state(take, source)
    assert refused(bpy.ops.zomg.ground, returns, "INVOKE_DEFAULT").startswith("no sub-actions")
    assert scene_state(take, source) == before


def test_more_sub_actions_than_a_one_second_take_holds(take, addon, checkpoint, returns):
    addon.checkpoint, addon.device = str(checkpoint), "cpu"
    source = take.animation_data.action
    first = int(source.frame_range[0])
    fps = bpy.context.scene.render.fps / bpy.context.scene.render.fps_base
    state = take.zomg
    state.use_frame_range, state.frame_start, state.frame_end = True, first, first + round(fps) - 1  # 1 s
    for i in range(40):
        state.subactions.add().name = f"a person does move number {i}"
    before = scene_state(take, source)
    message = refused(bpy.ops.zomg.ground, returns, "INVOKE_DEFAULT")
    assert "40 sub-actions do not fit in a 1.00 s take" in message
    assert scene_state(take, source) == before
    assert take.data.animation_data is None  # no masks action either


def test_a_nan_key_in_the_take_is_refused_by_every_take_operator(take, addon, returns):
    source = take.animation_data.action
    bag = source.layers[0].strips[0].channelbags[0]
    fc = next(fc for fc in bag.fcurves if fc.data_path.endswith(".location"))
    fc.keyframe_points[100].co[1] = math.nan
    frame = int(fc.keyframe_points[100].co[0])
    take.zomg.subactions.add().name = "walk"
    take.zomg.subactions.add().name = "hop"
    fill_results(take, [(frame - 50, frame + 50), (frame + 51, frame + 200)])
    bpy.context.scene.timeline_markers.new("walk", frame=frame - 50)
    before = scene_state(take, source)
    for op in (bpy.ops.zomg.split_markers, bpy.ops.zomg.ground, bpy.ops.zomg.apply):
        message = refused(op, returns)
        assert "NaN" in message and fc.data_path in message and str(frame) in message, message
        assert scene_state(take, source) == before


def test_apply_with_nothing_to_apply(take, returns):
    before = scene_state(take, take.animation_data.action)
    assert refused(bpy.ops.zomg.apply, returns) == "Nothing to apply: run Split first"
    assert scene_state(take, take.animation_data.action) == before


def test_apply_after_a_bad_hand_edit_keeps_the_take_and_the_earlier_clips(take, returns):
    source = take.animation_data.action
    first, last = (int(f) for f in source.frame_range)
    fill_results(take, [(first, 299), (300, 799), (800, last)])
    assert bpy.ops.zomg.apply() == {"FINISHED"}  # the clips of an earlier Apply must survive a failed one
    assert take.animation_data.action is None and len(take.animation_data.nla_tracks) == 3

    results = take.zomg.results
    edits = [  # (result, start, end) as typed in the panel, and what the message must say
        (1, 250, 799, "overlap"),
        (2, 800, last + 40, "outside the take"),
        (0, first - 10, 299, "outside the take"),
        (1, 700, 600, "empty or reversed"),
        (1, 500, 500, "has one frame"),
    ]
    for i, start, end, why in edits:
        kept = results[i].start, results[i].end
        results[i].start, results[i].end = start, end
        assert results[i].edited
        before = scene_state(take, source)
        message = refused(bpy.ops.zomg.apply, returns)
        assert why in message and SUBACTIONS[i] in message, message
        assert scene_state(take, source) == before
        results[i].start, results[i].end = kept
    results[2].name = results[0].name  # two clips of one name
    before = scene_state(take, source)
    assert "two clips are named" in refused(bpy.ops.zomg.apply, returns)
    assert scene_state(take, source) == before


def test_export_to_a_path_that_cannot_be_written(take, tmp_path, returns):
    before = scene_state(take, take.animation_data.action)
    assert "no clips to export" in refused(bpy.ops.zomg.export_clips, returns, filepath=str(tmp_path / "a.glb"),
                                          file_format="GLTF")
    assert scene_state(take, take.animation_data.action) == before

    source = take.animation_data.action
    for name, frame in (("start", 1), ("hop", 300)):
        bpy.context.scene.timeline_markers.new(name, frame=frame)
    assert bpy.ops.zomg.split_markers() == {"FINISHED"}
    (tmp_path / "folder.fbx").mkdir()
    (tmp_path / "file").write_text("not a folder")
    before = scene_state(take, source)
    for path, fmt, why in (("/proc/x.glb", "GLTF", "cannot write /proc/x.glb"),
                           ("/proc/x.fbx", "FBX", "cannot write /proc/x.fbx"),
                           (tmp_path / "clips.txt", "GLTF", "must end in .glb or .gltf"),
                           (tmp_path / "folder.fbx", "FBX", "it is a folder"),
                           (tmp_path / "file" / "x.glb", "GLTF", "is not a folder")):
        message = refused(bpy.ops.zomg.export_clips, returns, filepath=str(path), file_format=fmt)
        assert why in message, message
        assert scene_state(take, source) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder.fbx"] and not any((tmp_path / "folder.fbx").iterdir())


def test_split_at_markers_without_markers(take, returns):
    source = take.animation_data.action
    first, last = (int(f) for f in source.frame_range)
    before = scene_state(take, source)
    assert refused(bpy.ops.zomg.split_markers, returns).startswith("no timeline markers")
    assert scene_state(take, source) == before

    bpy.context.scene.timeline_markers.new("after the take", frame=last + 100)  # outside: does not count
    before = scene_state(take, source)
    assert refused(bpy.ops.zomg.split_markers, returns).startswith("no timeline markers")
    assert scene_state(take, source) == before

    # Only the markers an earlier split placed are left: they do not count, and its clips stay.
    for name, frame in (("start", first), ("hop", 300)):
        bpy.context.scene.timeline_markers.new(name, frame=frame)
    assert bpy.ops.zomg.split_markers() == {"FINISHED"}
    for m in [m for m in bpy.context.scene.timeline_markers if m.name in ("start", "hop", "after the take")]:
        bpy.context.scene.timeline_markers.remove(m)
    assert len(bpy.context.scene.timeline_markers) == 2  # the two the split placed
    before = scene_state(take, source)
    assert refused(bpy.ops.zomg.split_markers, returns).startswith("no timeline markers")
    assert scene_state(take, source) == before
