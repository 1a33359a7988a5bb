"""How well a clip's confidence flags misplaced clips: the threshold behind engine.take.LOW_CONFIDENCE.

    nice .venv/bin/python benchmarks/bench_confidence.py --split val

Grounds the val composites of bench_grounding.py (short, K 2-5, and long, K 6-10; given sub-actions, the
default configuration) and, for each threshold, counts the clips scored below it, how many of the
misplaced clips (IoU < 0.5 with the true sub-action) they include, and what share of the good clips
is flagged needlessly.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_grounding import iou, to_seconds  # noqa: E402
from composites import build_take, make_specs  # noqa: E402

from zomg_blender.engine.encoder import load_encoder  # noqa: E402
from zomg_blender.engine.features import take_features  # noqa: E402
from zomg_blender.engine.grounding import ground  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="val", choices=["val", "test"])
    ap.add_argument("--n", type=int, default=100)
    args = ap.parse_args()
    encoder = load_encoder(None, "cpu")
    scores, good = [], []
    for k_range in ((2, 5), (6, 10)):
        for spec in make_specs(args.split, args.n, 0, *k_range):
            feats = take_features(build_take(spec))
            g = ground(encoder, feats, spec.texts)
            pred = to_seconds([s.start for s in g.segments] + [len(feats)], spec.bounds_s[-1])
            for j, seg in enumerate(g.segments):
                scores.append(seg.score)
                good.append(iou((pred[j], pred[j + 1]), (spec.bounds_s[j], spec.bounds_s[j + 1])) >= 0.5)
    scores, good = np.array(scores), np.array(good)
    bad = ~good
    print(f"{len(scores)} clips, {bad.sum()} misplaced (IoU < 0.5)")
    print("| threshold | clips flagged | misplaced among them | share of misplaced flagged | share of good flagged |")
    print("|---|---|---|---|---|")
    for t in (0.02, 0.05, 0.1, 0.2, 0.3, 0.5):
        flag = scores < t
        print(f"| {t:g} | {flag.sum()} ({flag.mean():.1%}) | {(flag & bad).sum()} | "
              f"{(flag & bad).sum() / max(bad.sum(), 1):.2f} | {(flag & good).sum() / max(good.sum(), 1):.3f} |")


if __name__ == "__main__":
    main()
