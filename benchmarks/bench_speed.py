"""Grounding wall time and peak memory against take length (CPU), on real CMU motion.

    nice .venv/bin/python benchmarks/bench_speed.py --threads 1 --out benchmarks/results/grounding_speed.json

Takes of 1 s, 20 s, 2 min and 10 min are cut from the CMU exercise routines (13_29, 13_30, 13_31,
14_14, 14_20: one skeleton, 120 fps) laid end to end. Each length runs in a fresh process so the
peak resident memory (ru_maxrss) of that length alone is measured: `rss_delta_mb` is the peak
during ground_take minus the resident size once the model and the take are loaded. The peaks of
Python/numpy allocations (tracemalloc; torch tensors are not traced: the frame states are T x 256
float32) are reported separately for feature extraction and for `grounding.ground`.
The time is `ground_take` end to end (features, encoder, partition-free sub-actions, DP,
optimisation, decoding), model load excluded, after one warm-up run on a 1 s take.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CMU = REPO.parent / "shared" / "data" / "cmu" / "bvh"
ROUTINES = ("13_29", "13_30", "13_31", "14_14", "14_20")
SUBACTIONS = ["a person does jumping jacks", "a person twists the torso side to side", "a person bends over",
              "a person squats", "a person jogs in place", "a person stretches", "a person reaches up",
              "a person touches the toes"]
LENGTHS_S = (1, 20, 120, 600)


def long_take(seconds: float):
    """Real CMU routine motion laid end to end (root moved to continue the previous take) and cut to length."""
    from zomg_blender.engine.bvh import read_bvh

    takes = [read_bvh(CMU / f"{n}.bvh") for n in ROUTINES]
    base = takes[0]
    need = int(round(seconds * base.fps))
    parts, total, offset, i = [], 0, np.zeros(3, dtype=np.float32), 0
    while total < need:
        pos = takes[i % len(takes)].positions
        shift = offset - pos[0, 0] * np.array([1, 0, 1], dtype=np.float32)
        parts.append(pos + shift)
        offset = parts[-1][-1, 0] * np.array([1, 0, 1], dtype=np.float32)
        total += len(pos)
        i += 1
    base.positions = np.concatenate(parts)[:need]
    base.name = f"cmu_routines_{seconds:g}s"
    return base


def k_for(seconds: float) -> int:
    return 2 if seconds <= 1 else 4 if seconds <= 20 else 8


def run_one(seconds: float, threads: int, checkpoint: str | None, device: str) -> dict:
    import torch

    from zomg_blender.engine.encoder import load_encoder
    from zomg_blender.engine.features import take_features
    from zomg_blender.engine.grounding import ground
    from zomg_blender.engine.pipeline import ground_take

    torch.set_num_threads(threads)
    tick = time.perf_counter()
    encoder = load_encoder(checkpoint, device)
    load_s = time.perf_counter() - tick
    ground_take(long_take(1), subactions=SUBACTIONS[:2], encoder=encoder)         # warm-up
    take = long_take(seconds)
    subs = SUBACTIONS[: k_for(seconds)]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tick = time.perf_counter()
    out = ground_take(take, subactions=subs, encoder=encoder)
    wall = time.perf_counter() - tick
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    traced = {}
    for part, fn in (("features", lambda: take_features(take)), ("ground", lambda: ground(encoder, feats, subs))):
        tracemalloc.start()
        result = fn()
        traced[part] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
        tracemalloc.stop()
        if part == "features":
            feats = result
    return {"seconds": seconds, "source_frames": take.frames, "k": len(subs), "wall_s": round(wall, 3),
            "timings_s": out["timings_s"], "load_s": round(load_s, 3),
            "rss_baseline_mb": round(rss_before, 1), "rss_delta_mb": round(rss_after - rss_before, 1),
            "traced_features_mb": traced["features"], "traced_ground_mb": traced["ground"],
            "device": str(encoder.device), "threads": threads}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--lengths", type=float, nargs="*", default=list(LENGTHS_S))
    ap.add_argument("--one", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.one is not None:
        print(json.dumps(run_one(args.one, args.threads, args.checkpoint, args.device)))
        return
    rows = []
    for seconds in args.lengths:
        cmd = [sys.executable, __file__, "--one", str(seconds), "--threads", str(args.threads), "--device", args.device]
        if args.checkpoint:
            cmd += ["--checkpoint", args.checkpoint]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode:
            raise SystemExit(res.stderr.strip().splitlines()[-1])
        row = json.loads(res.stdout.strip().splitlines()[-1])
        rows.append(row)
        t = row["timings_s"]
        print(f"{seconds:6g} s take ({row['source_frames']} frames, K={row['k']}): {row['wall_s']:.2f} s "
              f"[encode {t['encode']:.2f}, optimise {t['optimize']:.2f}, decode {t['decode']:.2f}]  "
              f"peak RSS +{row['rss_delta_mb']} MB; numpy peak: features {row['traced_features_mb']} MB, "
              f"grounding {row['traced_ground_mb']} MB", flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
