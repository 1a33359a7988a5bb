"""The "ZOMG" sidebar tab (N panel) of the 3D Viewport and the NLA editor, on the active armature."""
from __future__ import annotations

import bpy

from ..engine.take import LOW_CONFIDENCE
from .operators import (ZOMG_OT_apply, ZOMG_OT_export_clips, ZOMG_OT_ground, ZOMG_OT_propose,
                        ZOMG_OT_split_markers, active_armature, running_job, take_action)

SPACES = ("VIEW_3D", "NLA_EDITOR")


class ZOMG_UL_subactions(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        layout.prop(item, "name", text="", emboss=False, icon="ACTION")


class ZOMG_UL_results(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        row = layout.row(align=True)
        row.prop(item, "name", text="", emboss=False, icon="GREASEPENCIL" if item.edited else "NLA")
        row.label(text=f"{item.start}-{item.end}")
        low = item.confidence < LOW_CONFIDENCE and not item.edited
        row.label(text=f"{item.confidence:.0%}", icon="ERROR" if low else "NONE")


def _job_progress(layout, idname: str) -> bool:
    job = running_job(idname)
    if job is not None:
        fraction, stage = job.progress()
        layout.progress(factor=fraction, text=f"{stage} (Esc cancels)")
    return job is not None


def _draw_take(layout, context):
    obj = active_armature(context)
    if obj is None:
        layout.label(text="Select an armature", icon="INFO")
        return
    state = obj.zomg
    layout.prop(state, "action", text="Take")
    action = take_action(obj)
    if action is None:
        layout.label(text="The armature has no action", icon="ERROR")
        return
    first, last = (int(round(f)) for f in action.frame_range)
    render = context.scene.render
    column = layout.column(align=True)
    column.label(text=f"{action.name}", icon="ACTION")
    column.label(text=f"Frames {first}-{last} ({last - first + 1}) at {render.fps / render.fps_base:g} fps")
    column.label(text=f"{len(obj.data.bones)} bones")
    row = layout.row(align=True)
    row.prop(state, "use_frame_range")
    sub = row.row(align=True)
    sub.active = state.use_frame_range
    sub.prop(state, "frame_start")
    sub.prop(state, "frame_end")


def _draw_describe(layout, context):
    state = active_armature(context).zomg
    layout.prop(state, "description", text="")
    if not _job_progress(layout, ZOMG_OT_propose.bl_idname):
        layout.operator(ZOMG_OT_propose.bl_idname, icon="SORTALPHA")
    row = layout.row()
    row.template_list("ZOMG_UL_subactions", "", state, "subactions", state, "subaction_index", rows=4)
    column = row.column(align=True)
    for edit, icon in (("ADD", "ADD"), ("REMOVE", "REMOVE"), ("UP", "TRIA_UP"), ("DOWN", "TRIA_DOWN")):
        column.operator("zomg.subaction_edit", text="", icon=icon).edit = edit
    if not _job_progress(layout, ZOMG_OT_ground.bl_idname):
        layout.operator(ZOMG_OT_ground.bl_idname, icon="SEQ_STRIP_DUPLICATE")


def _draw_results(layout, context):
    state = active_armature(context).zomg
    layout.template_list("ZOMG_UL_results", "", state, "results", state, "result_index", rows=4)
    if 0 <= state.result_index < len(state.results):
        item = state.results[state.result_index]
        row = layout.row(align=True)
        row.prop(item, "start")
        row.prop(item, "end")
    if state.status:
        layout.label(text=state.status)
    layout.operator(ZOMG_OT_apply.bl_idname, icon="CHECKMARK")


def _draw_markers_export(layout, context):
    layout.operator(ZOMG_OT_split_markers.bl_idname, icon="MARKER_HLT")
    layout.operator(ZOMG_OT_export_clips.bl_idname, icon="EXPORT")


def _draw_method(draw_layout):
    def draw(self, context):
        draw_layout(self.layout, context)
    return draw


def _panels(space: str) -> list[type]:
    """The panel and its sub-panels for one editor's sidebar."""
    prefix = f"ZOMG_PT_{space.lower()}"
    common = {"bl_space_type": space, "bl_region_type": "UI", "bl_category": "ZOMG"}

    def has_armature(cls, context):
        return active_armature(context) is not None

    main = type(f"{prefix}_take", (bpy.types.Panel,), {
        **common, "bl_idname": f"{prefix}_take", "bl_label": "ZOMG Take",
        "draw": _draw_method(_draw_take)})
    subs = [main]
    for key, label, draw in (("describe", "Split from Description", _draw_describe),
                             ("results", "Clips", _draw_results),
                             ("markers", "Markers and Export", _draw_markers_export)):
        subs.append(type(f"{prefix}_{key}", (bpy.types.Panel,), {
            **common, "bl_idname": f"{prefix}_{key}", "bl_label": label, "bl_parent_id": main.bl_idname,
            "poll": classmethod(has_armature),
            "draw": _draw_method(draw)}))
    return subs


CLASSES = (ZOMG_UL_subactions, ZOMG_UL_results, *(p for space in SPACES for p in _panels(space)))


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
