"""`zomg ground`: split a take into ordered clips from a description (one take, or a JSONL manifest)."""
from __future__ import annotations

import time

from ..engine.errors import ZomgError
from .common import add_partition_arguments, load_take, partition_options, run_manifest, write_json


def register(sub) -> None:
    p = sub.add_parser("ground", help="find where each sub-action of a description happens in a take")
    p.add_argument("take", nargs="?", help=".bvh/.fbx/.glb/.gltf/.blend/.npz take")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--text", help="one description, split into sub-actions by the partition backend")
    what.add_argument("--subactions", nargs="+", metavar="TEXT", help="the ordered sub-actions, one text each")
    p.add_argument("--manifest", help="JSONL: {\"id\", \"motion\", \"text\"} or {\"id\", \"motion\", \"subactions\"} per line")
    p.add_argument("--json", dest="json_out", help="output file (JSON, or JSONL with --manifest); stdout if omitted")
    add_partition_arguments(p)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", help="encoder checkpoint (default: the shipped one)")
    p.add_argument("--body-model", help="SMPL/SMPL-X model file for .npz takes")
    p.set_defaults(func=run)


def _ground_one(encoder, motion: str, text, subactions, args) -> dict:
    from ..engine.pipeline import ground_take

    take = load_take(motion, args.body_model)
    result = ground_take(take, text=text, subactions=subactions, encoder=encoder,
                         partition_backend=args.partition, partition_cfg=partition_options(args), device=args.device, seed=args.seed)
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

    loads = iter([round(load_s, 4)])  # the model is loaded once: its time goes to the first case

    def one(case: dict) -> dict:
        text, subs = case.get("text"), case.get("subactions")
        if (text is None) == (subs is None):
            raise ZomgError("each case needs exactly one of \"text\" or \"subactions\"")
        if subs is not None and (not isinstance(subs, list) or not subs):
            raise ZomgError("\"subactions\" must be a non-empty list of texts")
        result = _ground_one(encoder, case["motion"], text, subs, args)
        result["timings_s"]["load"] = next(loads, 0.0)
        return result

    return run_manifest(args.manifest, args.json_out, one)
