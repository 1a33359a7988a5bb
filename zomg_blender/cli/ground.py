"""`zomg ground`: split a take into ordered clips from a description (one take, or a JSONL manifest)."""
from __future__ import annotations

import json
import sys
import time

from ..engine.errors import ZomgError
from .common import load_take, read_manifest, write_json


def register(sub) -> None:
    p = sub.add_parser("ground", help="find where each sub-action of a description happens in a take")
    p.add_argument("take", nargs="?", help=".bvh/.fbx/.glb/.gltf/.blend/.npz take")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--text", help="one description, split into sub-actions by the partition backend")
    what.add_argument("--subactions", nargs="+", metavar="TEXT", help="the ordered sub-actions, one text each")
    p.add_argument("--manifest", help="JSONL: {\"id\", \"motion\", \"text\"} or {\"id\", \"motion\", \"subactions\"} per line")
    p.add_argument("--json", dest="json_out", help="output file (JSON, or JSONL with --manifest); stdout if omitted")
    p.add_argument("--partition", default="rules", choices=["rules", "openai", "ollama"], help="how to split --text")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", help="encoder checkpoint (default: the shipped one)")
    p.add_argument("--body-model", help="SMPL/SMPL-X model file for .npz takes")
    p.set_defaults(func=run)


def _ground_one(encoder, motion: str, text, subactions, args) -> dict:
    from ..engine.pipeline import ground_take

    take = load_take(motion, args.body_model)
    result = ground_take(take, text=text, subactions=subactions, encoder=encoder,
                         partition_backend=args.partition, device=args.device, seed=args.seed)
    result["motion"] = str(motion)
    return result


def run(args) -> int:
    if bool(args.take) == bool(args.manifest):
        raise ZomgError("give either a TAKE with --text/--subactions, or --manifest")
    if args.take and args.text is None and not args.subactions:
        raise ZomgError("--text or --subactions is required with a TAKE")
    if args.take and args.text is not None and not args.text.strip():
        raise ZomgError("the description is empty: give a non-empty --text")
    from ..engine.encoder import load_encoder

    tick = time.perf_counter()
    encoder = load_encoder(args.checkpoint, args.device)
    load_s = time.perf_counter() - tick
    if args.take:
        result = _ground_one(encoder, args.take, args.text, args.subactions, args)
        result["timings_s"]["load"] = round(load_s, 4)
        write_json(args.json_out, result)
        return 0

    cases = read_manifest(args.manifest)
    failed = 0
    try:
        sink = open(args.json_out, "w") if args.json_out else sys.stdout
    except OSError as exc:
        raise ZomgError(f"cannot write {args.json_out}: {exc.strerror or exc}") from None
    try:
        for n, case in enumerate(cases):
            try:
                text, subs = case.get("text"), case.get("subactions")
                if (text is None) == (subs is None):
                    raise ZomgError("each case needs exactly one of \"text\" or \"subactions\"")
                if subs is not None and (not isinstance(subs, list) or not subs):
                    raise ZomgError("\"subactions\" must be a non-empty list of texts")
                line = _ground_one(encoder, case["motion"], text, subs, args)
                line["id"] = case["id"]
                line["timings_s"]["load"] = round(load_s, 4) if n == 0 else 0.0
            except ZomgError as exc:
                failed += 1
                print(f"zomg: error: {case['id']}: {exc}", file=sys.stderr)
                line = {"id": case["id"], "error": str(exc)}
            except Exception as exc:  # noqa: BLE001 - one broken case must not stop the others
                failed += 1
                msg = f"internal error: {type(exc).__name__}: {exc}"
                print(f"zomg: error: {case['id']}: {msg}", file=sys.stderr)
                line = {"id": case["id"], "error": msg}
            sink.write(json.dumps(line) + "\n")
            sink.flush()
    finally:
        if sink is not sys.stdout:
            sink.close()
    return 1 if failed else 0
