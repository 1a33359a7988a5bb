"""Operators of the ZOMG panel. Thin: the engine and blender/{read,write,export}.py do the work.

Propose, Split and the package install run in a worker process (worker.py): in the UI a modal
operator polls it from a timer (Esc kills it), in background mode the operator waits for it.
Nothing in the scene changes until a worker has succeeded.
"""
from __future__ import annotations

import os

import bpy
from bpy.props import EnumProperty, StringProperty

from ..engine import clips as clip_rules
from ..engine.errors import ZomgError
from ..engine.take import LOW_CONFIDENCE, Clip
from . import deps, preferences, user_folder
from .props import Filling
from .worker import WorkerFailed, WorkerJob
from .write import MARKERS_PROP, set_linear_keys

MASK_PROPERTY = "zomg_mask_{:02d}"   # custom properties on the armature data that carry the masks
_RUNNING: dict[str, WorkerJob] = {}  # operator idname -> its job while a modal operator polls it


def running_job(idname: str) -> WorkerJob | None:
    """The job an operator is waiting for (the panel shows its progress)."""
    job = _RUNNING.get(idname)
    return job if job is not None and job.running else None


def active_armature(context):
    obj = context.active_object
    return obj if obj is not None and obj.type == "ARMATURE" else None


def take_action(obj):
    """The take to split: the one picked in the panel, else the active action, else the one an
    earlier Apply recorded (writing clips unassigns the take so the NLA plays)."""
    from .read import source_action_of

    state = getattr(obj, "zomg", None)  # absent when the extension is not registered (the `zomg` CLI on bpy)
    return (state.action if state is not None else None) or source_action_of(obj)


def take_frames(obj, action) -> tuple[int, int]:
    """First and last scene frame of the take, as read_armature numbers them."""
    from bpy_extras import anim_utils

    from .read import action_frames, action_slot_for

    slot = action_slot_for(obj, action)
    channelbag = anim_utils.action_get_channelbag_for_slot(action, slot) if slot else None
    if channelbag is None or not any(len(fc.keyframe_points) for fc in channelbag.fcurves):
        raise ZomgError(f"action {action.name!r} has no keyframes for armature {obj.name!r}")
    _check_keys_finite(action, channelbag)
    return action_frames(action, channelbag)


def _check_keys_finite(action, channelbag) -> None:
    """A NaN or infinite key would be copied into the clips and exports: name it instead."""
    import numpy as np

    for fc in channelbag.fcurves:
        co = np.empty(2 * len(fc.keyframe_points), np.float32)
        fc.keyframe_points.foreach_get("co", co)
        bad = np.flatnonzero(~np.isfinite(co.reshape(-1, 2)).all(1))
        if len(bad):
            frame = co[2 * bad[0]]
            where = f"frame {frame:g}" if np.isfinite(frame) else f"key {bad[0] + 1}"
            raise ZomgError(f"action {action.name!r} has a NaN or infinite key on {fc.data_path}[{fc.array_index}] "
                            f"at {where}; fix or delete that key first")


def split_range(obj, action) -> tuple[int, int]:
    """The frames to work on: the panel's custom range clamped to the take, else the whole take."""
    first, last = take_frames(obj, action)
    state = obj.zomg
    if not state.use_frame_range:
        return first, last
    start, end = max(first, state.frame_start), min(last, state.frame_end)
    if end - start + 1 < clip_rules.MIN_CLIP_FRAMES:
        raise ZomgError(f"the frame range {state.frame_start}-{state.frame_end} holds no part of the take "
                        f"(frames {first}-{last})")
    return start, end


def write_clips_for(obj, action, clips: list[Clip]) -> list:
    """One action + NLA track + marker per clip, named by the preferences' pattern."""
    from .write import write_clips

    prefs = preferences.get()
    return write_clips(obj, clips, source_action=action, naming=prefs.naming, handles=prefs.handles)


class _ArmatureOperator:
    @classmethod
    def poll(cls, context):
        obj = active_armature(context)
        if obj is None:
            cls.poll_message_set("Select an armature")
            return False
        if take_action(obj) is None:
            cls.poll_message_set("The armature has no action to split")
            return False
        return True


class ZOMG_OT_split_markers(_ArmatureOperator, bpy.types.Operator):
    """Make one clip per timeline marker: from the marker to the next one (the marker names the clip)"""

    bl_idname = "zomg.split_markers"
    bl_label = "Split at Markers"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        obj = active_armature(context)
        action = take_action(obj)
        try:
            first, last = take_frames(obj, action)
            ours = obj.get(MARKERS_PROP) or {}  # markers an earlier split placed are not the user's
            markers = [(m.name, m.frame) for m in context.scene.timeline_markers
                       if first <= m.frame <= last and ours.get(m.name) != m.frame]
            clips = clip_rules.clips_from_markers(markers, _frame_take(action, first, last))
            written = write_clips_for(obj, action, clips)
        except ZomgError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"{len(written)} clips from {len(markers)} markers")
        return {"FINISHED"}


class ZOMG_OT_export_clips(_ArmatureOperator, bpy.types.Operator):
    """Export the armature's clips to one file, one animation per clip"""

    bl_idname = "zomg.export_clips"
    bl_label = "Export Clips"
    bl_options = {"REGISTER"}

    filepath: StringProperty(subtype="FILE_PATH")
    file_format: EnumProperty(name="Format", items=(("DEFAULT", "Preferences", "The format set in the preferences"),
                                                    ("FBX", "FBX", ""), ("GLTF", "glTF", "")), default="DEFAULT")

    def invoke(self, context, event):
        if not self.filepath:
            obj = active_armature(context)
            folder = os.path.dirname(bpy.data.filepath) if bpy.data.filepath else os.path.expanduser("~")
            self.filepath = os.path.join(folder, clip_rules.sanitize_name(take_action(obj).name) + self._ext())
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def _format(self, path: str = "") -> str:
        """The format asked for; with "Preferences", a .fbx/.glb/.gltf file name decides first."""
        if self.file_format != "DEFAULT":
            return self.file_format
        ext = os.path.splitext(path)[1].lower()
        if ext in (".fbx", ".glb", ".gltf"):
            return "FBX" if ext == ".fbx" else "GLTF"
        return preferences.get().export_format

    def _ext(self) -> str:
        return ".fbx" if self._format() == "FBX" else ".glb"

    def execute(self, context):
        from . import export

        if not self.filepath:
            self.report({"ERROR"}, "No file to export to")
            return {"CANCELLED"}
        path = bpy.path.abspath(self.filepath)
        if not os.path.splitext(path)[1]:
            path += self._ext()
        try:
            path = (export.export_fbx if self._format(path) == "FBX" else export.export_gltf)(path, active_armature(context))
        except ZomgError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Exported {path}")
        return {"FINISHED"}


class _WorkerOperator:
    """Runs one WorkerJob: modal with a timer in the UI (Esc cancels), blocking in background mode.

    Subclasses build the job in start_job() and use its result in use_result(); both may raise
    ZomgError, reported as one line.
    """

    label = "working"

    @classmethod
    def poll(cls, context):
        if running_job(cls.bl_idname):
            cls.poll_message_set("Already running (Esc cancels it)")
            return False
        parent = getattr(super(), "poll", None)
        return parent(context) if parent else True

    def start_job(self, context) -> WorkerJob:
        raise NotImplementedError

    def use_result(self, context, result: dict) -> None:
        raise NotImplementedError

    def execute(self, context):
        try:
            job = self.start_job(context)
            result = job.wait()
            self.use_result(context, result)
        except (ZomgError, WorkerFailed) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return {"FINISHED"}

    def invoke(self, context, event):
        if bpy.app.background or context.window is None:
            return self.execute(context)
        try:
            self._job = self.start_job(context)
        except ZomgError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        _RUNNING[self.bl_idname] = self._job
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 100)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC":
            self._job.cancel()
            self._end(context)
            self.report({"WARNING"}, f"ZOMG: {self.label} cancelled")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        if self._job.running:
            fraction, stage = self._job.progress()
            context.window_manager.progress_update(int(100 * fraction))
            context.workspace.status_text_set(f"ZOMG {self.label}: {stage} ({fraction:.0%}), Esc to cancel")
            _redraw(context)
            return {"PASS_THROUGH"}
        self._end(context)
        try:
            self.use_result(context, self._job.finish())
        except (ZomgError, WorkerFailed) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return {"FINISHED"}

    def _end(self, context) -> None:
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        context.workspace.status_text_set(None)
        _RUNNING.pop(self.bl_idname, None)
        _redraw(context)


def _redraw(context) -> None:
    for area in context.screen.areas if context.screen else ():
        area.tag_redraw()


def _frame_take(action, first: int, last: int):
    """A take with no joints that only carries the frame numbering, for clip validation."""
    import numpy as np

    from ..engine.take import Take

    return Take(positions=np.zeros((last - first + 1, 0, 3), np.float32), joint_names=[],
                parents=np.zeros(0, np.int64), fps=1.0, name=action.name, frame_start=first)


def _target(op):
    """The armature and take the job was started for; they may be gone when it ends."""
    obj = bpy.data.objects.get(op.object_name)
    if obj is None or obj.type != "ARMATURE":
        raise ZomgError(f"the armature {op.object_name!r} is gone; nothing was changed")
    return obj


class ZOMG_OT_propose(_WorkerOperator, _ArmatureOperator, bpy.types.Operator):
    """Split the description into sub-actions (editable before Split)"""

    bl_idname = "zomg.propose"
    bl_label = "Propose Sub-actions"
    bl_options = {"REGISTER", "UNDO"}
    label = "propose"

    object_name: StringProperty(options={"HIDDEN", "SKIP_SAVE"})

    def start_job(self, context) -> WorkerJob:
        obj = active_armature(context)
        text = obj.zomg.description.strip()
        if not text:
            raise ZomgError("write a description of the take first, e.g. 'walk forward, wave, then run back'")
        self.object_name = obj.name
        prefs = preferences.get(context)
        # The network is used only for an HTTP backend and only while Blender allows online access;
        # otherwise the engine uses the offline rules and says so in a warning.
        config = {"online": bool(bpy.app.online_access)}
        if prefs.backend != "rules":
            config.update({"base_url": prefs.endpoint, "model": prefs.model, "api_key_env": prefs.api_key_env,
                           "cache_dir": user_folder("partition-cache", create=True)})
        return WorkerJob({"task": "partition", "text": text, "backend": prefs.backend,
                          "config": {k: v for k, v in config.items() if v not in ("", None)}},
                         extra_paths=_extra_paths())

    def use_result(self, context, result: dict) -> None:
        obj = _target(self)
        state = obj.zomg
        state.subactions.clear()
        for text in result["subactions"]:
            state.subactions.add().name = text
        state.subaction_index = 0
        warnings = "; ".join(result.get("warnings") or ())
        state.status = f"{len(result['subactions'])} sub-actions ({result['backend']})" + (f": {warnings}" if warnings else "")
        for warning in result.get("warnings") or ():
            self.report({"WARNING"}, warning)


class ZOMG_OT_subaction_edit(bpy.types.Operator):
    """Add, remove or move a sub-action"""

    bl_idname = "zomg.subaction_edit"
    bl_label = "Edit Sub-actions"
    bl_options = {"REGISTER", "UNDO", "INTERNAL"}

    edit: EnumProperty(items=(("ADD", "Add", ""), ("REMOVE", "Remove", ""), ("UP", "Up", ""), ("DOWN", "Down", "")))

    @classmethod
    def poll(cls, context):
        return active_armature(context) is not None

    def execute(self, context):
        state = active_armature(context).zomg
        items, i = state.subactions, state.subaction_index
        if self.edit == "ADD":
            items.add().name = "new sub-action"
            items.move(len(items) - 1, min(i + 1, len(items) - 1))
            state.subaction_index = min(i + 1, len(items) - 1)
        elif not 0 <= i < len(items):
            return {"CANCELLED"}
        elif self.edit == "REMOVE":
            items.remove(i)
            state.subaction_index = min(i, len(items) - 1)
        else:
            j = i - 1 if self.edit == "UP" else i + 1
            if not 0 <= j < len(items):
                return {"CANCELLED"}
            items.move(i, j)
            state.subaction_index = j
        return {"FINISHED"}


class ZOMG_OT_ground(_WorkerOperator, _ArmatureOperator, bpy.types.Operator):
    """Find where each sub-action happens in the take (boundaries stay editable until Apply)"""

    bl_idname = "zomg.ground"
    bl_label = "Split"
    bl_options = {"REGISTER", "UNDO"}
    label = "split"

    object_name: StringProperty(options={"HIDDEN", "SKIP_SAVE"})

    def start_job(self, context) -> WorkerJob:
        from .read import read_armature

        obj = active_armature(context)
        state = obj.zomg
        subactions = [s.name.strip() for s in state.subactions if s.name.strip()]
        if not subactions:
            raise ZomgError("no sub-actions: press Propose Sub-actions or add them by hand")
        action = take_action(obj)
        start, end = split_range(obj, action)
        take = read_armature(obj, action)
        i0 = start - take.frame_start
        positions = take.positions[i0:i0 + end - start + 1]
        self.object_name = obj.name
        prefs = preferences.get(context)
        options = {"device": prefs.device, "with_masks": True}
        if prefs.checkpoint:
            options["checkpoint"] = bpy.path.abspath(prefs.checkpoint)
        request = {"task": "ground", "text": state.description.strip() or None, "subactions": subactions,
                   "options": options,
                   "take": {"fps": take.fps, "up_axis": take.up_axis, "name": take.name, "frame_start": start,
                            "meta": {k: v for k, v in take.meta.items() if k not in ("markers", "end_sites")}}}
        import numpy as np

        ends = take.meta.get("end_sites", {})
        return WorkerJob(request, {"positions": positions, "parents": take.parents,
                                   "joint_names": np.array(take.joint_names),
                                   "end_site_names": np.array(list(ends), dtype=str),
                                   "end_sites": np.array([v[i0:i0 + end - start + 1] for v in ends.values()])
                                   .reshape(len(ends), len(positions), 3)},
                         extra_paths=_extra_paths())

    def use_result(self, context, result: dict) -> None:
        obj = _target(self)
        state = obj.zomg
        previous = {r.text: (r.name, r.start, r.end, r.edited) for r in state.results}
        offset = result["frame_start"]  # segment frames count from the first frame sent to the worker
        kept = 0
        with Filling():
            state.results.clear()
            for segment in result["segments"]:
                item = state.results.add()
                item.text = segment["text"]
                name, start, end, edited = previous.get(item.text, (item.text, 0, 0, False))
                item.name = name  # a clip renamed by hand keeps its name
                if edited:  # and boundaries set by hand stay where the user put them
                    item.start, item.end, item.edited = start, end, True
                    kept += 1
                else:
                    item.start, item.end = offset + segment["start_frame"], offset + segment["end_frame"] - 1
                item.confidence = float(segment["score"])
        state.result_index = 0  # shows the first clip (preview range + current frame)
        _store_masks(obj, result.get("masks"), offset)
        low = sum(r.confidence < LOW_CONFIDENCE and not r.edited for r in state.results)
        state.status = (f"{len(state.results)} clips found" + (f", {kept} kept as edited" if kept else "")
                        + (f", {low} with low confidence: check them" if low else ""))


class ZOMG_OT_apply(_ArmatureOperator, bpy.types.Operator):
    """Write the clips (actions, NLA tracks, markers); the take itself is left untouched"""

    bl_idname = "zomg.apply"
    bl_label = "Apply"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if not super().poll(context):
            return False
        if not len(active_armature(context).zomg.results):
            cls.poll_message_set("Nothing to apply: run Split first")
            return False
        return True

    def execute(self, context):
        obj = active_armature(context)
        action = take_action(obj)
        try:
            first, _ = take_frames(obj, action)
            clips = [Clip(r.name, r.start - first, r.end + 1 - first, r.confidence) for r in obj.zomg.results]
            written = write_clips_for(obj, action, clips)
        except ZomgError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        obj.zomg.status = f"{len(written)} clips written"
        self.report({"INFO"}, obj.zomg.status)
        return {"FINISHED"}


class ZOMG_OT_install_deps(_WorkerOperator, bpy.types.Operator):
    """Download the engine packages (torch CPU, tokenizers ...) into this extension's own user folder"""

    bl_idname = "zomg.install_deps"
    bl_label = "Install Engine Packages"
    bl_options = {"REGISTER", "INTERNAL"}
    label = "package install"

    def start_job(self, context) -> WorkerJob:
        if not bpy.app.online_access:
            raise ZomgError("Online access is off: allow it in Preferences > System > Network, "
                            "or install the packages by hand (see the README)")
        missing = deps.missing()
        if not missing:
            raise ZomgError("All engine packages are already installed")
        return WorkerJob(deps.install_request(missing))

    def use_result(self, context, result: dict) -> None:
        deps.activate()
        self.report({"INFO"}, f"Installed {', '.join(result['installed'])} into {result['target']}")


def _extra_paths() -> tuple[str, ...]:
    path = deps.site_packages_dir()
    return (path,) if path else ()


def _store_masks(obj, masks, frame_start) -> None:
    """Per-frame masks as F-curves on custom properties of the armature data (`["zomg_mask_00"]`),
    in an action of their own, so the take's action stays untouched."""
    if not masks or frame_start is None:
        return
    import numpy as np

    data = obj.data
    name = f"{take_action(obj).name}_zomg_masks"
    if name in bpy.data.actions:
        bpy.data.actions.remove(bpy.data.actions[name])
    action = bpy.data.actions.new(name)
    if data.animation_data is None:
        data.animation_data_create()
    data.animation_data.action = action
    for key in [k for k in data.keys() if k.startswith("zomg_mask_")]:
        del data[key]
    frames = frame_start + np.arange(len(masks[0]), dtype=np.float32)
    for k, mask in enumerate(masks):
        prop = MASK_PROPERTY.format(k)
        data[prop] = 0.0
        set_linear_keys(action.fcurve_ensure_for_datablock(data, f'["{prop}"]'), frames, mask)


CLASSES = (ZOMG_OT_split_markers, ZOMG_OT_export_clips, ZOMG_OT_propose, ZOMG_OT_subaction_edit, ZOMG_OT_ground,
           ZOMG_OT_apply, ZOMG_OT_install_deps)


@bpy.app.handlers.persistent
def cancel_all_jobs(*_args) -> None:
    """Loading a file drops modal operators without telling them: stop their workers too."""
    for job in list(_RUNNING.values()):
        job.cancel()
    _RUNNING.clear()


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.app.handlers.load_pre.append(cancel_all_jobs)


def unregister():
    cancel_all_jobs()
    if cancel_all_jobs in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(cancel_all_jobs)
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
