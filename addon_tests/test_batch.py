"""`zomg batch` as a user runs it: a real subprocess on a small manifest of real Bandai takes (two good,
one missing), then re-run (skips) and --force (redoes); the manifest readers on their own."""
from __future__ import annotations

import csv
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from zomg_blender.cli.batch import read_cases
from zomg_blender.engine.errors import ZomgError
from zomg_blender.engine.take import LOW_CONFIDENCE

REPO = Path(__file__).resolve().parents[1]
DATA = "dataset/Bandai-Namco-Research-Motiondataset-2/data"
WALK, RAISE = "dataset-2_walk-turn-left_active_001.bvh", "dataset-2_raise-up-both-hands_active_001.bvh"


def zomg(*args) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("ZOMG_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "zomg_blender", "batch", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def glb_animations(path: Path) -> list[str]:
    data = path.read_bytes()
    return [a["name"] for a in json.loads(data[20:20 + struct.unpack_from("<I", data, 12)[0]])["animations"]]


@pytest.fixture(scope="module")
def manifest(bandai_dir, tmp_path_factory) -> Path:
    """takes/ next to the manifest, referred to by relative paths; the third take does not exist."""
    folder = tmp_path_factory.mktemp("batch")
    (folder / "takes").mkdir()
    for name in (WALK, RAISE):
        shutil.copy(bandai_dir / DATA / name, folder / "takes" / name)
    path = folder / "takes.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["take", "text", "subactions", "id"])
        writer.writerow([f"takes/{WALK}", "", "a person walks forward|a person turns left", "walk"])
        writer.writerow([f"takes/{RAISE}", "a person raises both hands, then lowers them", "", "raise"])
        writer.writerow(["takes/missing.bvh", "a person waves", "", ""])
    return path


@pytest.fixture(scope="module")
def first_run(manifest):
    out = manifest.parent / "out"
    return zomg(manifest, "--out", out, "--naming", "{take}_{name}"), out


def test_batch_splits_good_takes_and_reports_the_missing_one(first_run):
    proc, out = first_run
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"[1/3] {WALK} ... ok 2 clips ")
    assert lines[1].startswith(f"[2/3] {RAISE} ... ok 2 clips ")
    assert lines[2].startswith("[3/3] missing.bvh ... failed: ") and "no such file" in lines[2]
    assert "2 ok, 1 failed, 0 skipped" in lines[3]
    assert proc.stderr.strip().splitlines() == [f"zomg: error: 1 of 3 takes failed (see {out / 'summary.csv'})"]

    rows = list(csv.DictReader(open(out / "summary.csv")))
    assert [(r["id"], r["status"]) for r in rows] == [("walk", "ok"), ("raise", "ok"), ("missing", "failed")]
    assert rows[2]["error"] and rows[2]["clips"] == "" and rows[2]["outputs"] == ""
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"ok": 2, "failed": 1, "skipped": 0}
    walk = summary["takes"][0]
    assert walk["take"] == str(out.parent / "takes" / WALK)  # relative to the manifest's folder
    stem = Path(WALK).stem
    assert [c["name"] for c in walk["clips"]] == [f"{stem}_walks_forward", f"{stem}_turns_left"]
    assert [c["text"] for c in walk["clips"]] == ["a person walks forward", "a person turns left"]
    assert walk["clips"][0]["first_frame"] == 1 and walk["clips"][-1]["last_frame"] == 130
    assert walk["clips"][0]["last_frame"] + 1 == walk["clips"][1]["first_frame"]
    assert all(0 <= c["score"] <= 1 for t in summary["takes"][:2] for c in t["clips"])
    assert all(c["check"] == (c["score"] < LOW_CONFIDENCE) for t in summary["takes"][:2] for c in t["clips"])
    assert [r["to_check"] for r in rows] == [str(sum(c["check"] for c in t["clips"])) for t in summary["takes"]]
    assert all(t["seconds"] > 0 for t in summary["takes"])

    for tid in ("walk", "raise"):
        entry = next(t for t in summary["takes"] if t["id"] == tid)
        assert sorted(Path(p).name for p in entry["outputs"]) == [f"{tid}.blend", f"{tid}.glb", f"{tid}_review.png"]
        assert all(Path(p).stat().st_size > 1000 for p in entry["outputs"])
        assert sorted(glb_animations(out / f"{tid}.glb")) == sorted(c["name"] for c in entry["clips"])
        width, height = png_size(out / f"{tid}_review.png")
        assert 800 <= width <= 3000 and 300 <= height <= 1500
    assert not list(out.glob("missing*"))

    import bpy  # each take was split in a fresh scene: the second file holds nothing of the first

    bpy.ops.wm.open_mainfile(filepath=str(out / "raise.blend"))
    assert [o.type for o in bpy.data.objects if o.type == "ARMATURE"] == ["ARMATURE"]
    assert not [a.name for a in bpy.data.actions if "walk" in a.name]
    assert sorted(m.name for m in bpy.context.scene.timeline_markers) == sorted(c["name"] for c in summary["takes"][1]["clips"])


def test_batch_rerun_skips_done_takes_and_force_redoes_them(first_run, manifest):
    _, out = first_run
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file() and not p.name.startswith("summary")}
    again = zomg(manifest, "--out", out, "--naming", "{take}_{name}")
    assert again.returncode == 1
    assert [ln.split(" ... ")[1].split()[0] for ln in again.stdout.splitlines()[:3]] == ["skipped", "skipped", "failed:"]
    assert {p: out.joinpath(p).stat().st_mtime_ns for p in before} == before
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"ok": 0, "failed": 1, "skipped": 2}
    assert len(summary["takes"][0]["clips"]) == 2 and len(summary["takes"][0]["outputs"]) == 3  # from the record

    forced = zomg(manifest, "--out", out, "--naming", "{take}_{name}", "--force")
    assert forced.returncode == 1
    assert "2 ok, 1 failed, 0 skipped" in forced.stdout
    assert all(out.joinpath(p).stat().st_mtime_ns > t for p, t in before.items())


def test_manifest_readers(tmp_path):
    (tmp_path / "a.bvh").write_text("x")
    jsonl = tmp_path / "m.jsonl"
    jsonl.write_text('{"id": "one", "motion": "a.bvh", "text": "a person walks"}\n\n'
                     '{"id": "two", "motion": "/abs/b.bvh", "subactions": ["a person sits", "a person stands"]}\n'
                     '{"id": "three", "motion": "c.bvh"}\n'
                     '{"id": "four", "motion": "d.bvh", "subactions": ["ok", ""]}\n')
    cases = read_cases(jsonl)
    assert [(c["id"], c["take"], c["problem"]) for c in cases[:2]] == [
        ("one", str(tmp_path / "a.bvh"), None), ("two", "/abs/b.bvh", None)]
    assert cases[1]["subactions"] == ["a person sits", "a person stands"]
    assert "no text" in cases[2]["problem"] and "non-empty" in cases[3]["problem"]  # fail only their own take

    table = tmp_path / "m.csv"
    table.write_text("Take,Text,Subactions\nsub/x.bvh,,walk | turn |\nsub/y.bvh,a person jumps,\n")
    cases = read_cases(table)
    assert [(c["id"], c["take"], c["text"], c["subactions"]) for c in cases] == [
        ("x", str(tmp_path / "sub/x.bvh"), None, ["walk", "turn"]),
        ("y", str(tmp_path / "sub/y.bvh"), "a person jumps", None)]

    table.write_text("take,text\nx/a.bvh,walk\ny/a.bvh,run\n")
    with pytest.raises(ZomgError, match="same output name"):
        read_cases(table)
    table.write_text("file,description\na.bvh,walk\n")
    with pytest.raises(ZomgError, match="take,text"):
        read_cases(table)
    with pytest.raises(ZomgError, match="not found"):
        read_cases(tmp_path / "nope.csv")
