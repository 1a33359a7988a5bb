"""Calibration of the output masks: does each boundary's ramp hold the true boundary?

    nice .venv/bin/python benchmarks/bench_masks.py --split val --n 100 [--set FIELD=VALUE ...]

With the optimisation off, mask k = P(b_k <= t < b_{k+1}) from the boundary posterior, so the
probability that boundary j lies at or before frame t is 1 - sum_{k<j} mask_k(t). Its 5-95% ramp
runs from the first frame where that reaches 0.05 to the first where it reaches 0.95; a hit is a true
boundary (20 fps frames, half a frame of rounding allowed) inside the ramp. The median ramp width is
reported in seconds. Given sub-actions, the composites of bench_grounding.py.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_grounding import with_overrides  # noqa: E402
from composites import build_take, make_specs  # noqa: E402

from zomg_blender.engine.encoder import load_encoder  # noqa: E402
from zomg_blender.engine.features import take_features  # noqa: E402
from zomg_blender.engine.grounding import FPS, GroundingConfig, ground  # noqa: E402


def ramps(masks: np.ndarray) -> list[tuple[int, int]]:
    """[(first frame with P(b_j <= t) >= 0.05, first with >= 0.95)] for the K-1 interior boundaries."""
    out = []
    for j in range(1, masks.shape[0]):
        cdf = 1.0 - masks[:j].sum(0)
        out.append((int(np.argmax(cdf >= 0.05)), int(np.argmax(cdf >= 0.95))))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="val", choices=["val", "test"])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--k", type=int, nargs=2, default=(2, 5), metavar=("MIN", "MAX"))
    ap.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE")
    args = ap.parse_args()
    cfg = with_overrides(GroundingConfig(), args.set)
    encoder = load_encoder(None, "cpu")
    hits, widths = [], []
    for spec in make_specs(args.split, args.n, 0, *args.k):
        feats = take_features(build_take(spec))
        g = ground(encoder, feats, spec.texts, config=cfg)
        for (lo, hi), true_s in zip(ramps(g.masks), spec.bounds_s[1:-1]):
            b = true_s * FPS
            hits.append(lo - 0.5 <= b <= hi + 0.5)
            widths.append((hi - lo) / FPS)
    print(f"{args.split}, K {args.k[0]}-{args.k[1]}, {len(hits)} boundaries, T = {cfg.mask_temperature:g}, "
          f"w_homog = {cfg.w_homog:g}: true boundary inside the 5-95% ramp {np.mean(hits):.0%}, "
          f"median ramp {np.median(widths):.2f} s")


if __name__ == "__main__":
    main()
