"""The operators inside Blender (bpy 5.0.1) on a real CMU take: split at markers, export, the worker
flow (Split -> edit -> Apply) with undo, and a worker that hangs (cancel) or crashes.

The extension is loaded from this checkout through a temporary extension repository (a symlink),
so it runs under its real package name `bl_ext.<repo>.zomg`, as installed extensions do.
"""
from __future__ import annotations

import importlib
import json
import os
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from zomg_blender.engine.take import LOW_CONFIDENCE

if "bpy" not in sys.modules:  # a throwaway Blender profile, unless another test already started bpy
    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="zomg-profile-"))
bpy = pytest.importorskip("bpy")

REPO = Path(__file__).resolve().parents[1]
REPO_MODULE = "zomg_tests"
MODULE = f"bl_ext.{REPO_MODULE}.zomg"
TAKE = "131_03.bvh"  # CMU "start, hop, stop": 1102 frames at 120 fps
SUBACTIONS = ["a person starts walking", "a person hops on one foot", "a person stops and stands still"]


def sub(name: str):
    return importlib.import_module(f"{MODULE}.zomg_blender.blender.{name}")


@pytest.fixture(scope="module")
def addon(tmp_path_factory):
    folder = tmp_path_factory.mktemp("extensions")
    (folder / "zomg").symlink_to(REPO, target_is_directory=True)
    repos = bpy.context.preferences.extensions.repos
    repo = repos.new(name=REPO_MODULE, module=REPO_MODULE, custom_directory=str(folder), source="USER")
    bpy.ops.preferences.addon_enable(module=MODULE)
    yield bpy.context.preferences.addons[MODULE].preferences
    bpy.ops.preferences.addon_disable(module=MODULE)
    repos.remove(repo)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A small untrained encoder: these tests check the flow, not how well it splits."""
    import torch

    from zomg_blender.engine.encoder import EncoderConfig, MotionTextModel, save_checkpoint

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_checkpoint(MotionTextModel(EncoderConfig(d_model=32, n_layers=1, n_heads=2, ff_dim=64, embed_dim=32)), path)
    return path


@pytest.fixture
def take(addon, cmu_bvh):
    """A fresh scene with the CMU take imported and its armature active."""
    bpy.ops.wm.read_homefile(use_empty=True)
    obj = sub("scene_io").import_take(cmu_bvh / TAKE)
    bpy.context.view_layer.objects.active = obj
    obj.select_set(True)
    return obj


def keys_of(action) -> np.ndarray:
    """Every key (frame, value) of every F-curve of the action, to prove it was not touched."""
    out = []
    for layer in action.layers:
        for strip in layer.strips:
            for bag in strip.channelbags:
                for fc in bag.fcurves:
                    co = np.empty(2 * len(fc.keyframe_points), np.float32)
                    fc.keyframe_points.foreach_get("co", co)
                    out.append(co)
    return np.concatenate(out)


def glb_animation_names(path: Path) -> list[str]:
    data = path.read_bytes()
    length, kind = struct.unpack_from("<I4s", data, 12)
    assert kind == b"JSON"
    return [a["name"] for a in json.loads(data[20:20 + length])["animations"]]


def in_window():
    window = bpy.context.window_manager.windows[0]
    return bpy.context.temp_override(window=window, screen=window.screen)


def test_split_at_markers_makes_one_clip_per_marker_and_keeps_the_take(take):
    action = take.animation_data.action
    before = keys_of(action)
    first, last = (int(f) for f in action.frame_range)
    for name, frame in (("start", first), ("hop", 300), ("stop", 800)):
        bpy.context.scene.timeline_markers.new(name, frame=frame)

    assert bpy.ops.zomg.split_markers() == {"FINISHED"}
    tracks = take.animation_data.nla_tracks
    assert [t.name for t in tracks] == [f"131_03_{i:02d}_{n}" for i, n in ((1, "start"), (2, "hop"), (3, "stop"))]
    strips = [t.strips[0] for t in tracks]
    assert [(int(s.frame_start), int(s.frame_end)) for s in strips] == [(first, 299), (300, 799), (800, last)]
    assert np.array_equal(keys_of(bpy.data.actions[action.name]), before)

    assert bpy.ops.zomg.split_markers() == {"FINISHED"}  # a re-run replaces the clips, never duplicates
    assert len(take.animation_data.nla_tracks) == 3


def test_export_writes_one_animation_per_clip(take, tmp_path):
    for name, frame in (("start", 1), ("hop", 300), ("stop", 800)):
        bpy.context.scene.timeline_markers.new(name, frame=frame)
    assert bpy.ops.zomg.split_markers() == {"FINISHED"}

    assert bpy.ops.zomg.export_clips(filepath=str(tmp_path / "clips.glb"), file_format="GLTF") == {"FINISHED"}
    assert sorted(glb_animation_names(tmp_path / "clips.glb")) == ["131_03_01_start", "131_03_02_hop", "131_03_03_stop"]
    assert bpy.ops.zomg.export_clips(filepath=str(tmp_path / "clips"), file_format="FBX") == {"FINISHED"}
    assert (tmp_path / "clips.fbx").stat().st_size > 10_000
    # with the preferences' format (FBX by default) a .glb file name still gets glTF
    assert bpy.ops.zomg.export_clips(filepath=str(tmp_path / "named.glb")) == {"FINISHED"}
    assert (tmp_path / "named.glb").read_bytes()[:4] == b"glTF"


def test_propose_fills_an_editable_list_offline(take, addon):
    take.zomg.description = "walk forward, then wave with the right hand and finally run back"
    addon.backend = "rules"
    # As from the panel's button; in background mode the operator waits for its worker.
    assert bpy.ops.zomg.propose("INVOKE_DEFAULT") == {"FINISHED"}
    proposed = [s.name for s in take.zomg.subactions]
    assert len(proposed) == 3 and "wave" in proposed[1]

    take.zomg.subaction_index = 2
    assert bpy.ops.zomg.subaction_edit(edit="UP") == {"FINISHED"}
    assert bpy.ops.zomg.subaction_edit(edit="ADD") == {"FINISHED"}
    take.zomg.subactions[take.zomg.subaction_index].name = "turn around"
    assert [s.name for s in take.zomg.subactions] == [proposed[0], proposed[2], "turn around", proposed[1]]
    take.zomg.subaction_index = 0
    assert bpy.ops.zomg.subaction_edit(edit="REMOVE") == {"FINISHED"}
    assert len(take.zomg.subactions) == 3


def test_http_backend_stays_offline_without_online_access(take, addon):
    assert bpy.app.online_access is False  # bpy as a module: Blender's "Allow Online Access" is off
    addon.backend, addon.endpoint = "openai", "http://127.0.0.1:9/v1"
    try:
        take.zomg.description = "jump twice and then sit down"
        assert bpy.ops.zomg.propose() == {"FINISHED"}
    finally:
        addon.backend, addon.endpoint = "rules", ""
    from zomg_blender.engine.partition import partition

    assert [s.name for s in take.zomg.subactions] == partition("jump twice and then sit down").subactions
    assert "(rules)" in take.zomg.status and "online access is off" in take.zomg.status


def test_split_edit_apply_is_one_undo_step_and_keeps_the_take(take, addon, checkpoint):
    addon.checkpoint, addon.device = str(checkpoint), "cpu"
    state = take.zomg
    for text in SUBACTIONS:
        state.subactions.add().name = text
    source = take.animation_data.action
    before = keys_of(source)
    first, last = (int(f) for f in source.frame_range)
    name, source_name = take.name, source.name  # undo reloads the data: old references go stale

    assert bpy.ops.zomg.ground() == {"FINISHED"}
    results = [(r.name, r.start, r.end) for r in state.results]
    assert [r[0] for r in results] == SUBACTIONS
    assert results[0][1] == first and results[-1][2] == last
    assert all(a[2] + 1 == b[1] for a, b in zip(results, results[1:])), results  # contiguous, ordered
    assert all(0.0 <= r.confidence <= 1.0 for r in state.results)
    low = sum(r.confidence < LOW_CONFIDENCE for r in state.results)
    assert ("low confidence" in state.status) == bool(low), state.status
    masks = take.data.animation_data.action
    assert sorted(k for k in take.data.keys() if k.startswith("zomg_mask_")) == ["zomg_mask_00", "zomg_mask_01", "zomg_mask_02"]
    assert masks is not None and masks != source
    assert bpy.context.scene.frame_preview_start == first  # the first result is shown

    # Hand edits (a boundary, a clip name) survive a second Split; untouched results are found again.
    edited = state.results[1]
    edited.start = results[1][1] + 10
    assert edited.edited and not state.results[0].edited
    state.results[2].name = "idle"
    assert bpy.ops.zomg.ground() == {"FINISHED"}
    assert (state.results[1].start, state.results[1].edited) == (results[1][1] + 10, True)
    assert (state.results[0].start, state.results[0].end) == results[0][1:]
    assert [r.name for r in state.results] == SUBACTIONS[:2] + ["idle"]

    bpy.ops.ed.undo_push(message="before apply")
    # As a button press does: with an undo push (scripts' operator calls push none by default).
    assert bpy.ops.zomg.apply("EXEC_DEFAULT", True) == {"FINISHED"}
    assert len(take.animation_data.nla_tracks) == 3 and take.animation_data.action is None
    with in_window():
        bpy.ops.ed.undo()
    obj = bpy.data.objects[name]
    assert len(obj.animation_data.nla_tracks) == 0
    assert obj.animation_data.action.name == source_name
    assert not [a for a in bpy.data.actions if "zomg_clip" in a]
    assert len(obj.zomg.results) == 3 and obj.zomg.results[1].edited
    with in_window():
        bpy.ops.ed.redo()  # the Apply was its own step: redo brings all of it back
    obj = bpy.data.objects[name]
    assert [t.name for t in obj.animation_data.nla_tracks] == [
        "131_03_01_a_person_starts_walking", "131_03_02_a_person_hops_on_one_foot", "131_03_03_idle"]
    assert np.array_equal(keys_of(bpy.data.actions[source_name]), before)


def test_worker_cancel_kills_it_within_half_a_second(addon, monkeypatch):
    worker = sub("worker")
    monkeypatch.setenv(worker.TEST_FAULT_ENV, "hang")
    job = worker.WorkerJob({"task": "partition", "text": "walk then run"})
    deadline = time.monotonic() + 30
    while not (job.dir / "progress.json").exists():  # the child is up and inside its task
        assert job.running and time.monotonic() < deadline
        time.sleep(0.05)
    tick = time.monotonic()
    job.cancel()
    assert time.monotonic() - tick < 0.5
    assert job.proc.returncode is not None and not job.running
    assert not job.dir.exists()
    with pytest.raises(worker.WorkerFailed, match="cancelled"):
        job.finish()


def test_worker_crash_is_reported_and_changes_nothing(take, addon, checkpoint, monkeypatch):
    addon.checkpoint, addon.device = str(checkpoint), "cpu"
    monkeypatch.setenv(sub("worker").TEST_FAULT_ENV, "crash")
    for text in SUBACTIONS:
        take.zomg.subactions.add().name = text
    actions = sorted(a.name for a in bpy.data.actions)
    with pytest.raises(RuntimeError, match="stopped unexpectedly"):
        bpy.ops.zomg.ground()
    assert len(take.zomg.results) == 0
    assert sorted(a.name for a in bpy.data.actions) == actions
    assert take.animation_data.action is not None and not take.animation_data.nla_tracks


def test_zomg_cli_command_runs_the_zomg_command_line(addon, cmu_bvh, tmp_path, capsys):
    """What `blender -b --command zomg ...` calls with the arguments after `zomg`."""
    run = sub("cli_command").run
    bpy.ops.wm.read_homefile(use_empty=True)
    out = tmp_path / "clips.blend"
    assert run(["split", str(cmu_bvh / TAKE), "--ranges", "1-300:start,301-1102:hop", "--out", str(out)]) == 0
    assert out.stat().st_size > 0
    assert sorted(t.name for o in bpy.data.objects if o.animation_data for t in o.animation_data.nla_tracks) == [
        "131_03_01_start", "131_03_02_hop"]
    assert run(["split", str(tmp_path / "missing.bvh"), "--at-markers", "--out", str(out)]) == 2
    assert "missing.bvh" in capsys.readouterr().err


def test_package_install_needs_online_access(addon):
    deps = sub("deps")
    assert deps.missing() == []  # this environment has every engine package
    assert deps.site_packages_dir().endswith(os.path.join("zomg", "site-packages"))
    with pytest.raises(RuntimeError, match="Online access is off"):
        bpy.ops.zomg.install_deps()
