"""`zomg train`: train the motion–text encoder on the Bandai data (train split; best on val)."""
from __future__ import annotations

import json
from pathlib import Path

from ..engine.errors import ZomgError
from .common import write_json


def register(sub) -> None:
    p = sub.add_parser("train", help="train the motion-text encoder (development; needs the Bandai data)")
    p.add_argument("--data", default="../shared/data", help="data folder holding bandai/ (default ../shared/data)")
    p.add_argument("--cache", default=str(Path.home() / ".cache" / "zomg-train"), help="where to unpack and prepare data")
    p.add_argument("--prepared", help="prepared .npz (made from --data when missing)")
    p.add_argument("--prepare-only", action="store_true", help="stop after writing the prepared .npz")
    p.add_argument("--preset", default="cpu", choices=["cpu", "gpu", "smoke"], help="cpu: ~1 h on 2 cores; gpu: a few minutes")
    p.add_argument("--steps", type=int)
    p.add_argument("--batch", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--minutes", type=float, help="time budget; the schedule ends when steps or time run out")
    p.add_argument("--model", help='encoder size overrides as JSON, e.g. \'{"d_model": 320, "n_layers": 5}\'')
    p.add_argument("--frame-loss", type=float, help="weight of the per-frame loss")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--out", required=True, help="checkpoint to write (.safetensors)")
    p.add_argument("--log-json", help="write the training history here")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..engine import training

    prepared = Path(args.prepared or Path(args.cache) / "bandai_prepared.npz")
    if not prepared.is_file():
        training.prepare(Path(args.data), Path(args.cache), prepared)
    if args.prepare_only:
        print(f"prepared data: {prepared}")
        return 0
    cfg = training.TrainConfig.preset(args.preset, steps=args.steps, batch=args.batch, seed=args.seed, device=args.device, max_minutes=args.minutes,
                                          frame_loss=args.frame_loss, model=json.loads(args.model) if args.model else None)
    result = training.train(prepared, cfg, args.out, log=lambda m: print(m, flush=True))
    if args.log_json:
        write_json(args.log_json, result)
    if result["best"] is None:
        raise ZomgError("training produced no checkpoint")
    print(f"checkpoint: {args.out}")
    return 0
