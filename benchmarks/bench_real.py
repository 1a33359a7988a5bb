"""Spot check on real CMU takes whose sub-action times can be read off the motion itself.

    nice .venv/bin/python benchmarks/bench_real.py --out benchmarks/results/grounding_real.json

No CMU take comes with sub-action times, so these were read from the kinematics (hip height and
speed, the hip line's heading, the right foot's speed; `--signals` prints them), each boundary set
halfway through the still moment between two actions where there is one:
  01_01  hops forward, turns in place (the heading swings 180 deg at 8.5-10.0 s and 16.3-17.8 s;
         hops land at 7.0 s and 15.3 s and take off again at 10.5 s and 18.1 s)
  10_01  stands, kicks (the right foot is fastest at 4.5-5.2 s), walks
  131_03 stands, hops (hip speed rises at 0.75 s and falls at 8.4 s), stands
Three takes and eleven sub-actions: a check that the method carries over to real capture, not a
benchmark to choose anything by. Nothing here was tuned on these takes.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_grounding import iou, kcpd_bounds, uniform_bounds  # noqa: E402

from zomg_blender.engine.bvh import read_bvh  # noqa: E402
from zomg_blender.engine.features import take_features  # noqa: E402
from zomg_blender.engine.grounding import FPS, GroundingConfig, ground  # noqa: E402

CMU = REPO.parent / "shared" / "data" / "cmu" / "bvh"
TAKES = {
    "01_01": (["a person jumps forward", "a person turns around", "a person jumps forward", "a person turns around",
               "a person jumps forward"], [0.0, 7.75, 10.25, 15.8, 17.9, 22.93]),
    "10_01": (["a person stands still", "a person kicks a ball with the right foot", "a person walks a few steps"],
              [0.0, 4.5, 5.2, 6.68]),
    "131_03": (["a person stands still", "a person hops forward", "a person stands still"], [0.0, 0.75, 8.4, 9.18]),
}
METHODS = {"ZOMG (default)": {}, "abl: with evidence centring": {"evidence_center": True},
           "abl: + pooled-segment contrast (w 2)": {"w_pool": 2.0},
           "peer: window retrieval + order DP": {"init": "window", "w_homog": 0.0}}


def signals(name: str) -> None:
    take = read_bvh(CMU / f"{name}.bvh")
    p, n = take.positions, take.joint_names
    legs = [i for i, j in enumerate(n) if j in ("LeftUpLeg", "RightUpLeg", "lThigh", "rThigh")]
    across = p[:, legs[0]] - p[:, legs[1]]
    heading = np.degrees(np.unwrap(np.arctan2(across[:, 0], across[:, 2])))
    step = int(take.fps / 4)
    speed = np.linalg.norm(np.diff(p[:, 0, [0, 2]], axis=0), axis=1) * take.fps
    for s in range(0, take.frames - step, step):
        print(f"{s / take.fps:6.2f} s  hip height {p[s, 0, 1]:6.2f}  hip speed {speed[s:s + step].mean():6.2f}  "
              f"heading {heading[s]:7.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--signals", metavar="TAKE", help="print the kinematic signals of one take and stop")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.signals:
        signals(args.signals)
        return
    from zomg_blender.engine.encoder import load_encoder

    encoder = load_encoder(None, "cpu")
    rows: dict[str, dict] = {}
    for name, (texts, truth) in TAKES.items():
        feats = take_features(read_bvh(CMU / f"{name}.bvh"))
        t, k = len(feats), len(texts)
        preds = {}
        for method, over in METHODS.items():
            g = ground(encoder, feats, texts, config=replace(GroundingConfig(), **over))
            preds[method] = [s.start for s in g.segments] + [t]
        preds["peer: kernel CPD (rbf, features, told K)"] = kcpd_bounds(feats, k)
        preds["peer: uniform split"] = uniform_bounds(t, k)
        for method, bounds in preds.items():
            sec = [0.0] + [b / FPS for b in bounds[1:-1]] + [truth[-1]]
            ious = [iou((sec[j], sec[j + 1]), (truth[j], truth[j + 1])) for j in range(k)]
            rows.setdefault(method, {})[name] = {"ious": [round(v, 3) for v in ious],
                                                 "segments_s": [round(v, 2) for v in sec]}
    print("| method | " + " | ".join(TAKES) + " | mIoU, all 11 sub-actions |")
    print("|---|" + "---|" * (len(TAKES) + 1))
    for method, per in rows.items():
        all_ious = [v for name in TAKES for v in per[name]["ious"]]
        cells = " | ".join(f"{np.mean(per[name]['ious']):.2f}" for name in TAKES)
        print(f"| {method} | {cells} | {np.mean(all_ious):.3f} |")
    for method, per in rows.items():
        print(method, {name: per[name]["segments_s"] for name in TAKES})
    if args.out:
        Path(args.out).write_text(json.dumps({"truth_s": {n: v[1] for n, v in TAKES.items()}, "results": rows}, indent=1))


if __name__ == "__main__":
    main()
