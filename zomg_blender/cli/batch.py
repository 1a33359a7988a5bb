"""`zomg batch`: split every take of a manifest into clips, with a review image each and one summary.

Per take: a fresh Blender scene, the take imported, its description grounded (the encoder is loaded
once for the whole batch), one clip per sub-action written and saved/exported, a review PNG. A take
that fails is reported in one line and the batch goes on; the exit status is 1 if any failed.
A take done before (its record in OUT/.zomg_batch/ matches this run's inputs and its outputs exist)
is skipped unless --force.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import time
from pathlib import Path

from ..engine.clips import clip_name, sanitize_name, scene_range
from ..engine.errors import ZomgError
from .common import partition_options, read_manifest
from .split import add_grounding_arguments, add_output_arguments

RECORDS = ".zomg_batch"  # per-take records of finished work, inside OUT
SUMMARY_FIELDS = ("id", "take", "status", "error", "clips", "to_check", "outputs", "seconds")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "batch", help="split every take of a manifest into clips (.blend/FBX/glTF, review images, summary)",
        description="Split every take listed in MANIFEST into one clip per sub-action. MANIFEST is CSV with a "
                    "header (take,text[,subactions][,id]; sub-actions separated by '|') or JSONL "
                    "({\"id\", \"motion\", \"text\"} or {\"id\", \"motion\", \"subactions\"}); relative take paths "
                    "are relative to the manifest's folder. Writes OUT/<id>.blend/.glb/.fbx, OUT/<id>_review.png, "
                    "OUT/summary.csv and OUT/summary.json.")
    p.add_argument("manifest", metavar="MANIFEST", help="the takes: .csv or .jsonl")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (made if missing)")
    p.add_argument("--blend", action="store_true", help="save a .blend per take")
    p.add_argument("--fbx", action="store_true", help="export an FBX per take")
    p.add_argument("--gltf", action="store_true", help="export a .glb per take (default, with --blend: both)")
    p.add_argument("--force", action="store_true", help="redo takes whose outputs already exist")
    add_output_arguments(p)
    add_grounding_arguments(p)
    p.set_defaults(func=run)
    p.error = lambda message: p.exit(2, f"zomg batch: error: {message} (see zomg batch --help)\n")  # one line


def read_cases(path: str | Path) -> list[dict]:
    """The manifest's takes as {id, take (absolute), text, subactions, problem}; a problem fails only its take."""
    path = Path(path)
    if not path.is_file():
        raise ZomgError(f"manifest not found: {path}")
    if path.suffix.lower() == ".csv":
        rows = _csv_rows(path)
    else:
        rows = [(c, c.get("motion"), c.get("text"), c.get("subactions")) for c in read_manifest(path)]
    cases, stems = [], {}
    for n, (row, take, text, subactions) in enumerate(rows, 1):
        take = str(take or "").strip()
        case = {"id": str(row.get("id") or Path(take).stem or n).strip(), "take": "", "text": text,
                "subactions": subactions, "problem": None}
        if not take:
            case["problem"] = "no take path"
        else:
            case["take"] = str(path.parent / Path(take).expanduser()) if not Path(take).expanduser().is_absolute() \
                else str(Path(take).expanduser())
        if isinstance(text, str) and not text.strip():
            case["text"] = text = None
        if subactions is not None and (not isinstance(subactions, list) or not subactions
                                       or not all(isinstance(s, str) and s.strip() for s in subactions)):
            case["problem"] = "\"subactions\" must be a list of non-empty texts"
        elif text is None and subactions is None:
            case["problem"] = "no text and no sub-actions for this take"
        stem = sanitize_name(case["id"])
        if stem.lower() in stems:
            raise ZomgError(f"{path}: ids {stems[stem.lower()]!r} and {case['id']!r} give the same output name "
                            f"{stem!r}; give each take its own id")
        stems[stem.lower()] = case["id"]
        case["stem"] = stem
        cases.append(case)
    if not cases:
        raise ZomgError(f"{path}: the manifest lists no takes")
    return cases


def _csv_rows(path: Path) -> list[tuple]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = [c.strip().lower() for c in reader.fieldnames or []]
            if "take" not in columns or ("text" not in columns and "subactions" not in columns):
                raise ZomgError(f"{path}: the CSV needs a header with columns take,text[,subactions][,id]")
            reader.fieldnames = columns
            rows = [r for r in reader if any((v or "").strip() for v in r.values() if isinstance(v, str))]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ZomgError(f"cannot read manifest {path}: {getattr(exc, 'strerror', None) or exc}") from None
    out = []
    for row in rows:
        subs = [s.strip() for s in (row.get("subactions") or "").split("|") if s.strip()] or None
        out.append((row, row.get("take"), (row.get("text") or "").strip() or None, subs))
    return out


def run(args: argparse.Namespace) -> int:
    clip_name(args.naming, "take", 1, "clip")  # a bad naming pattern would fail every take: fail once, now
    cases = read_cases(args.manifest)
    out = Path(args.out).expanduser().absolute()
    try:
        (out / RECORDS).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ZomgError(f"cannot make output folder {out}: {exc.strerror or exc}") from None
    formats = [ext for ext, on in ((".blend", args.blend), (".glb", args.gltf), (".fbx", args.fbx)) if on] \
        or [".blend", ".glb"]
    review = _matplotlib_available()
    if not review:
        print("zomg: warning: matplotlib is not installed; review images are skipped", file=sys.stderr)
    batch = _Batch(args, out, formats, review)
    tick = time.perf_counter()
    if any(not case["problem"] and batch.done_before(case) is None for case in cases):
        batch.load_encoder()
    entries = []
    for i, case in enumerate(cases, 1):
        label = Path(case["take"]).name or case["id"]
        print(f"[{i}/{len(cases)}] {label} ... ", end="", flush=True)
        entry = batch.process(case)
        entries.append(entry)
        if entry["status"] == "failed":
            print(f"failed: {entry['error']}", flush=True)
        else:
            check = sum(bool(c.get("check")) for c in entry["clips"])
            print(f"{entry['status']} {len(entry['clips'])} clips {entry['seconds']:.1f}s"
                  + (f", {check} with low confidence to check" if check else ""), flush=True)
    counts = {s: sum(e["status"] == s for e in entries) for s in ("ok", "failed", "skipped")}
    _write_summary(out, args, formats, entries, counts)
    print(f"batch: {counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} skipped in "
          f"{time.perf_counter() - tick:.1f}s; summary in {out / 'summary.csv'}")
    if counts["failed"]:
        print(f"zomg: error: {counts['failed']} of {len(entries)} takes failed (see {out / 'summary.csv'})",
              file=sys.stderr)
        return 1
    return 0


class _Batch:
    """What stays the same across takes: the options, the output folder, the encoder once loaded."""

    def __init__(self, args: argparse.Namespace, out: Path, formats: list[str], review: bool):
        self.args, self.out, self.formats, self.review = args, out, formats, review
        self.encoder = None

    def done_before(self, case: dict) -> dict | None:
        """The record of an earlier run with the same inputs whose outputs all still exist (None unless so)."""
        if self.args.force or case["problem"]:
            return None
        done = _read_record(self.out / RECORDS / f"{case['stem']}.json")
        if (done.get("fingerprint") == self._fingerprint(case) and done.get("outputs")
                and all(Path(p).is_file() for p in done["outputs"])):
            return done
        return None

    def load_encoder(self) -> None:
        """Once per batch; a device or checkpoint problem is the whole batch's (ZomgError)."""
        from ..engine.encoder import load_encoder

        self.encoder = load_encoder(self.args.checkpoint, self.args.device)

    def process(self, case: dict) -> dict:
        """One take -> its summary entry; never raises for a problem with that take."""
        tick = time.perf_counter()
        entry = {"id": case["id"], "take": case["take"], "status": "failed", "error": "", "clips": [],
                 "outputs": [], "seconds": 0.0}
        record_path = self.out / RECORDS / f"{case['stem']}.json"
        try:
            if case["problem"]:
                raise ZomgError(case["problem"])
            done = self.done_before(case)
            if done is not None:
                entry.update(status="skipped", clips=done["clips"], outputs=done["outputs"])
                return entry
            record_path.unlink(missing_ok=True)  # half-done work must not look finished
            entry["clips"], entry["outputs"] = self._split(case)
            entry["status"] = "ok"
            _write_atomic(record_path, json.dumps({"fingerprint": self._fingerprint(case), "clips": entry["clips"],
                                                   "outputs": entry["outputs"]}, indent=1))
        except ZomgError as exc:
            entry["error"] = str(exc)
        except Exception as exc:  # noqa: BLE001 - one broken take must not stop the others
            if os.environ.get("ZOMG_DEBUG"):
                raise
            entry["error"] = f"internal error: {type(exc).__name__}: {exc}"
        finally:
            entry["seconds"] = round(time.perf_counter() - tick, 3)
        return entry

    def _split(self, case: dict) -> tuple[list[dict], list[str]]:
        from ..blender.export import export_fbx, export_gltf
        from ..blender.read import read_armature
        from ..blender.scene_io import import_take, save_blend
        from .split import cut_take, ground_clips

        args, take_path = self.args, Path(case["take"])
        _reset_scene()
        obj = import_take(take_path)
        take = read_armature(obj)
        take.name = take_path.name  # for validate()'s messages
        take.validate()
        take.name = take_path.stem
        clips, take.meta["grounding"] = ground_clips(
            take, text=case["text"], subactions=case["subactions"], encoder=self.encoder,
            partition=args.partition, seed=args.seed, partition_cfg=partition_options(args))
        names = cut_take(obj, take, clips, naming=args.naming, handles=args.handles, in_place=args.in_place)
        base = self.out / case["stem"]
        written = []
        for ext in self.formats:
            save = {".blend": save_blend, ".glb": lambda p: export_gltf(p, obj), ".fbx": lambda p: export_fbx(p, obj)}
            written.append(str(save[ext](base.with_suffix(ext))))
        texts = [s["text"] for s in take.meta["grounding"]["segments"]]
        summary = []
        for clip, name, text in zip(clips, names, texts):
            first, last = scene_range(clip, take)
            summary.append({"name": name, "text": text, "first_frame": first, "last_frame": last,
                            "start_s": round(clip.start_frame / take.fps, 4), "end_s": round(clip.end_frame / take.fps, 4),
                            "score": clip.score, "check": clip.needs_check})
        if self.review:
            from ..engine.review import render_review

            png = render_review(self.out / f"{case['stem']}_review.png",
                                f"{case['id']}: {take_path.name}  ({take.frames} frames at {take.fps:g} fps)",
                                take.fps, take.frame_start, summary, take.meta["grounding"]["masks"])
            written.append(str(png))
        return summary, written

    def _fingerprint(self, case: dict) -> str:
        """What the outputs depend on: the take file as it is now, the description and the options."""
        take = Path(case["take"])
        try:
            stat = take.stat()
            file_id = [str(take.resolve()), stat.st_size, stat.st_mtime_ns]
        except OSError:
            file_id = [str(take)]
        a = self.args
        checkpoint = str(Path(a.checkpoint).resolve()) if a.checkpoint else None
        key = [file_id, case["text"], case["subactions"], a.naming, a.handles, a.in_place, a.partition, partition_options(a), a.seed,
               checkpoint, self.formats, self.review]
        return hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]


def _reset_scene() -> None:
    """An empty scene for the next take (the startup file's settings; the preferences stay as they are)."""
    import bpy

    from ..blender.scene_io import quiet_blender

    with quiet_blender():
        bpy.ops.wm.read_homefile(use_empty=True)


def _matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _read_record(path: Path) -> dict:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise ZomgError(f"cannot write {path}: {exc.strerror or exc}") from None


def _write_summary(out: Path, args, formats: list[str], entries: list[dict], counts: dict) -> None:
    """summary.json (everything) and summary.csv (one row per take; clips as name:first-last:score|...;
    to_check = how many clips scored below engine.take.LOW_CONFIDENCE)."""
    doc = {"manifest": str(Path(args.manifest).absolute()), "out": str(out), "formats": formats,
           "options": {"naming": args.naming, "handles": args.handles, "in_place": args.in_place,
                       "partition": args.partition, "device": args.device, "seed": args.seed,
                       "checkpoint": args.checkpoint},
           "counts": counts, "takes": entries}
    _write_atomic(out / "summary.json", json.dumps(doc, indent=2))
    tmp = out / "summary.csv.tmp"
    try:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, SUMMARY_FIELDS)
            writer.writeheader()
            for e in entries:
                clips = "|".join(f"{c['name']}:{c['first_frame']}-{c['last_frame']}:"
                                 f"{'' if c['score'] is None else format(c['score'], '.3f')}" for c in e["clips"])
                writer.writerow({**{k: e[k] for k in ("id", "take", "status", "error", "seconds")},
                                 "clips": clips, "to_check": sum(bool(c.get("check")) for c in e["clips"]),
                                 "outputs": "|".join(e["outputs"])})
        os.replace(tmp, out / "summary.csv")
    except OSError as exc:
        raise ZomgError(f"cannot write {out / 'summary.csv'}: {exc.strerror or exc}") from None
