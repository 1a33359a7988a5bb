"""`zomg score`: cosine similarity between a take and descriptions (search a mocap library by text)."""
from __future__ import annotations

import time

from ..engine.errors import ZomgError
from .common import load_take, run_manifest, write_json


def register(sub) -> None:
    p = sub.add_parser("score", help="score how well descriptions match takes")
    p.add_argument("take", nargs="?", help=".bvh/.fbx/.glb/.blend/.npz take")
    p.add_argument("--texts", nargs="+", metavar="TEXT", help="descriptions to score against the take")
    p.add_argument("--manifest", help="JSONL: {\"id\", \"motion\", \"texts\": [...]} per line")
    p.add_argument("--json", dest="json_out", help="output file (JSON, or JSONL with --manifest); stdout if omitted")
    p.add_argument("--checkpoint", help="encoder checkpoint (default: the shipped one)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--body-model", help="SMPL/SMPL-X model file for .npz takes")
    p.set_defaults(func=run)


def score_take(encoder, take, texts: list[str]) -> list[float]:
    from ..engine.features import take_features

    texts = [t.strip() for t in texts]
    if not texts or not all(texts):
        raise ZomgError("give at least one non-empty text to score")
    motion = encoder.encode_motion(take_features(take))
    return [round(float(s), 6) for s in encoder.encode_texts(texts) @ motion]


def run(args) -> int:
    if bool(args.take) == bool(args.manifest):
        raise ZomgError("give either a TAKE with --texts, or --manifest")
    from ..engine.encoder import load_encoder

    encoder = load_encoder(args.checkpoint, args.device)
    if args.take:
        if not args.texts:
            raise ZomgError("--texts is required with a TAKE")
        t0 = time.perf_counter()
        scores = score_take(encoder, load_take(args.take, args.body_model), args.texts)
        result = {"motion": args.take, "texts": args.texts, "scores": scores,
                  "best": args.texts[max(range(len(scores)), key=scores.__getitem__)],
                  "seconds": round(time.perf_counter() - t0, 4)}
        write_json(args.json_out, result)
        return 0
    return run_manifest(args.manifest, args.json_out, lambda case: {
        "scores": score_take(encoder, load_take(case["motion"], args.body_model), list(case.get("texts") or []))})
