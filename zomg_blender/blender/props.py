"""Per-armature state of the split flow (`Object.zomg`): saved in the .blend and covered by undo.

Frames in the results are scene frames, both ends inclusive, as the timeline shows them.
"""
from __future__ import annotations

import bpy
from bpy.props import (BoolProperty, CollectionProperty, FloatProperty, IntProperty, PointerProperty,
                       StringProperty)

# True while an operator fills the results, so its writes are not mistaken for user edits.
_filling = False


class Filling:
    """`with Filling():` writes to results without marking them as edited by the user."""

    def __enter__(self):
        global _filling
        _filling = True

    def __exit__(self, *exc):
        global _filling
        _filling = False


def _show_range(context, item) -> None:
    scene = context.scene
    start, end = int(item.start), max(int(item.end), int(item.start) + 1)  # preview needs end > start
    scene.use_preview_range = True
    scene.frame_preview_start, scene.frame_preview_end = start, end
    scene.frame_set(start)


def _result_edited(self, context) -> None:
    if _filling:
        return
    self.edited = True
    state = self.id_data.zomg
    if 0 <= state.result_index < len(state.results) and state.results[state.result_index] == self:
        _show_range(context, self)


def _result_selected(self, context) -> None:
    if not _filling and 0 <= self.result_index < len(self.results):
        _show_range(context, self.results[self.result_index])


class ZOMG_PG_subaction(bpy.types.PropertyGroup):
    """One sub-action to find in the take, e.g. "wave with the right hand"."""

    name: StringProperty(name="Sub-action", description="What the actor does in this part of the take")


class ZOMG_PG_result(bpy.types.PropertyGroup):
    """Where a sub-action was found; becomes one clip on Apply."""

    name: StringProperty(name="Clip", description="Clip name (the naming pattern's {name})")
    text: StringProperty(name="Sub-action", description="The sub-action this clip was found for")
    start: IntProperty(name="Start", description="First frame of the clip", update=_result_edited)
    end: IntProperty(name="End", description="Last frame of the clip (inclusive)", update=_result_edited)
    confidence: FloatProperty(name="Confidence", min=0.0, max=1.0, subtype="FACTOR")
    edited: BoolProperty(name="Edited", description="Boundaries set by hand: kept when Split runs again")
    # Clip names and hand-set boundaries survive a new Split: results are matched by sub-action text.


class ZOMG_PG_take(bpy.types.PropertyGroup):
    action: PointerProperty(type=bpy.types.Action, name="Take",
                            description="The long take to split (left untouched)")
    use_frame_range: BoolProperty(name="Custom Range", description="Split only part of the take")
    frame_start: IntProperty(name="Start", default=1)
    frame_end: IntProperty(name="End", default=250)
    description: StringProperty(name="Description",
                                description="What happens in the take, e.g. 'walk forward, wave, then turn "
                                            "around and run back'")
    subactions: CollectionProperty(type=ZOMG_PG_subaction)
    subaction_index: IntProperty()
    results: CollectionProperty(type=ZOMG_PG_result)
    result_index: IntProperty(update=_result_selected)
    status: StringProperty(description="What the last step reported")


CLASSES = (ZOMG_PG_subaction, ZOMG_PG_result, ZOMG_PG_take)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Object.zomg = PointerProperty(type=ZOMG_PG_take)


def unregister():
    del bpy.types.Object.zomg
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
