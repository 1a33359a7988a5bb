"""Grounding accuracy on Bandai composites: ZOMG, its ablations and peers, with given sub-actions and from one sentence.

    nice .venv/bin/python benchmarks/bench_grounding.py --split val --n 100 --out benchmarks/results/grounding_val.json

Metrics (per ground-truth sub-action, times in seconds):
  IoU     temporal IoU of the predicted segment of that sub-action with its true segment (0 if none)
  mIoU    mean IoU over all sub-actions of all composites
  R@1 θ   fraction of sub-actions whose predicted segment has IoU >= θ (θ = 0.3, 0.5, 0.7)
  mAP     mean over θ in {0.3, 0.4, 0.5, 0.6, 0.7} of the average precision of all predicted segments
          ranked by their confidence score (a segment is a true positive when the sub-action it was
          predicted for has IoU >= θ); methods without scores tie, their AP is precision x recall
  bErr    mean absolute error of the K-1 interior boundaries in seconds (given sub-actions only)
From one sentence, the partition's sub-actions are aligned to the true ones in order by MiniLM
cosine (monotone alignment); unmatched true sub-actions count IoU 0, unmatched predictions are
false positives. Peers from a sentence use the partition's count K.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from composites import build_take, make_specs  # noqa: E402

from zomg_blender.engine.features import take_features  # noqa: E402
from zomg_blender.engine.grounding import FPS, GroundingConfig, ground  # noqa: E402

THETAS_R = (0.3, 0.5, 0.7)
THETAS_MAP = (0.3, 0.4, 0.5, 0.6, 0.7)

# name -> (method, GroundingConfig overrides, also from one sentence?); "zomg" runs ground(), the others are peers.
# Loss ablations use the logits parameterisation: with ordered boundaries exclusivity, coverage and order hold
# by construction, so switching those losses off there would change nothing.
TTO = {"optimize": True}
TTO_LOGITS = {"optimize": True, "param": "logits"}
VARIANTS: dict[str, tuple[str, dict, bool]] = {
    "ZOMG (frame evidence + state homogeneity DP)": ("zomg", {}, True),
    "peer: uniform split": ("uniform", {}, True),
    "peer: kernel CPD (rbf, features, told K)": ("kcpd", {}, True),
    "peer: window retrieval + order DP": ("zomg", {"init": "window", "w_homog": 0.0}, True),
    "abl: text only (no homogeneity)": ("zomg", {"w_homog": 0.0}, True),
    "abl: with evidence centring": ("zomg", {"evidence_center": True}, True),
    "abl: text only, with evidence centring": ("zomg", {"w_homog": 0.0, "evidence_center": True}, False),
    "abl: + pooled-segment contrast in the DP (w 2)": ("zomg", {"w_pool": 2.0}, False),
    "abl: no text (state homogeneity only)": ("zomg", {"w_homog": 1e6}, False),
    "abl: window evidence instead of frame": ("zomg", {"init": "window"}, False),
    "abl: no evidence floor": ("zomg", {"evidence_floor": -1e9}, False),
    "abl: coarse grid (40 points) + refinement": ("zomg", {"max_points": 40}, False),
    "abl: no partition (whole sentence = one clip)": ("whole", {}, False),
    "abl: no partition, told K (sentence as every text)": ("nopart", {}, False),
    "TTO: boundaries, all losses": ("zomg", TTO, True),
    "TTO: logits, all losses": ("zomg", TTO_LOGITS, False),
    "TTO: boundaries, hard masks (straight-through)": ("zomg", {**TTO, "hard": True}, False),
    "TTO: logits, hard masks (straight-through)": ("zomg", {**TTO_LOGITS, "hard": True}, False),
    "TTO: boundaries, one-way contrast": ("zomg", {**TTO, "symmetric": False}, False),
    "TTO: logits, no contrast": ("zomg", {**TTO_LOGITS, "w_contrast": 0.0}, False),
    "TTO: logits, no exclusivity": ("zomg", {**TTO_LOGITS, "w_exclusive": 0.0}, False),
    "TTO: logits, no smoothness": ("zomg", {**TTO_LOGITS, "w_smooth": 0.0}, False),
    "TTO: logits, no order": ("zomg", {**TTO_LOGITS, "w_order": 0.0}, False),
    "TTO: logits, no coverage": ("zomg", {**TTO_LOGITS, "w_cover": 0.0}, False),
    "TTO: logits + frame anchor (w 5, contrast 0.3)": ("zomg", {**TTO_LOGITS, "w_frame": 5.0, "w_contrast": 0.3}, False),
    "TTO paper-style: uniform init, boundaries": ("zomg", {**TTO, "init": "uniform"}, False),
    "TTO paper-style: uniform init, logits": ("zomg", {**TTO_LOGITS, "init": "uniform"}, False),
}


def iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def uniform_bounds(t: int, k: int) -> list[int]:
    return [int(round(j * t / k)) for j in range(k + 1)]


def kcpd_bounds(feats: np.ndarray, k: int) -> list[int]:
    """Kernel change-point detection (rbf, median heuristic) on standardised features, told K."""
    import ruptures

    if k == 1:
        return [0, len(feats)]
    x = (feats - feats.mean(0)) / (feats.std(0) + 1e-6)
    bkps = ruptures.KernelCPD(kernel="rbf", min_size=10).fit(x).predict(n_bkps=k - 1)
    return [0, *bkps[:-1], len(feats)]


def align(true_texts: list[str], pred_texts: list[str]) -> dict[int, int]:
    """Monotone one-to-one alignment true index -> predicted index maximising MiniLM cosine."""
    if true_texts == pred_texts:
        return {i: i for i in range(len(true_texts))}
    from zomg_blender.engine.text import get_text_encoder

    enc = get_text_encoder()
    sim = enc.encode(true_texts) @ enc.encode(pred_texts).T
    n, m = sim.shape
    dp = np.zeros((n + 1, m + 1))
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            dp[i, j] = max(dp[i - 1, j], dp[i, j - 1], dp[i - 1, j - 1] + max(sim[i - 1, j - 1], 0.0))
    out, i, j = {}, n, m
    while i and j:
        if dp[i, j] == dp[i - 1, j - 1] + max(sim[i - 1, j - 1], 0.0) and sim[i - 1, j - 1] > 0:
            out[i - 1] = j - 1
            i, j = i - 1, j - 1
        elif dp[i, j] == dp[i - 1, j]:
            i -= 1
        else:
            j -= 1
    return out


def evaluate_case(spec, pred_bounds_s: list[float], scores: list[float], pred_texts: list[str]) -> dict:
    """Per-composite record: IoU per true sub-action, and (score, IoU) per predicted segment."""
    true = spec.segments_s()
    pred = list(zip(pred_bounds_s[:-1], pred_bounds_s[1:]))
    match = align(spec.texts, pred_texts) if len(pred_texts) != len(spec.texts) or pred_texts != spec.texts else \
        {i: i for i in range(len(true))}
    ious = [iou(true[i], pred[match[i]]) if i in match else 0.0 for i in range(len(true))]
    inv = {j: i for i, j in match.items()}
    pred_iou = [iou(true[inv[j]], pred[j]) if j in inv else 0.0 for j in range(len(pred))]
    berr = [abs(a - b) for a, b in zip(pred_bounds_s[1:-1], spec.bounds_s[1:-1])] if len(pred) == len(true) else []
    return {"ious": ious, "pred": list(zip(scores, pred_iou)), "berr": berr}


def average_precision(pred: list[tuple[float, float]], n_true: int, theta: float) -> float:
    """AP over segments ranked by score; ties are one group (evaluated at its end)."""
    if not pred:
        return 0.0
    scores = np.array([p[0] for p in pred])
    hits = np.array([p[1] >= theta for p in pred], dtype=float)
    order = np.argsort(-scores, kind="stable")
    scores, hits = scores[order], hits[order]
    ap, prev_recall, tp = 0.0, 0.0, np.cumsum(hits)
    ends = np.flatnonzero(np.append(scores[1:] != scores[:-1], True))
    for e in ends:
        recall, precision = tp[e] / n_true, tp[e] / (e + 1)
        ap += (recall - prev_recall) * precision
        prev_recall = recall
    return float(ap)


def summarise(records: list[dict]) -> dict:
    ious = np.concatenate([r["ious"] for r in records])
    pred = [p for r in records for p in r["pred"]]
    berr = [b for r in records for b in r["berr"]]
    out = {"mIoU": float(ious.mean())}
    for th in THETAS_R:
        out[f"R@1@{th}"] = float((ious >= th).mean())
    out["mAP"] = float(np.mean([average_precision(pred, len(ious), th) for th in THETAS_MAP]))
    out["bErr_s"] = float(np.mean(berr)) if berr else float("nan")
    return out


def predict(method: str, cfg: GroundingConfig, encoder, feats: np.ndarray, texts: list[str], sentence: str, seed: int):
    """-> (interior+end bounds in feature frames, scores)."""
    t, k = len(feats), len(texts)
    if method == "uniform":
        return uniform_bounds(t, k), [1.0] * k
    if method == "kcpd":
        return kcpd_bounds(feats, k), [1.0] * k
    if method == "nopart":
        texts = [sentence] * k
    g = ground(encoder, feats, texts, seed=seed, config=cfg)
    return [s.start for s in g.segments] + [t], [s.score for s in g.segments]


def to_seconds(bounds: list[int], duration: float) -> list[float]:
    return [0.0] + [b / FPS for b in bounds[1:-1]] + [duration]


def with_overrides(config: GroundingConfig, items: list[str]) -> GroundingConfig:
    """`--set FIELD=VALUE ...` applied to a GroundingConfig (values take the field's type)."""
    for item in items:
        key, val = item.split("=", 1)
        typ = type(getattr(config, key))
        config = replace(config, **{key: (val.lower() in ("1", "true", "yes")) if typ is bool else typ(val)})
    return config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="val", choices=["val", "test"])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0, help="composite recipe seed")
    ap.add_argument("--k", type=int, nargs=2, default=(2, 5), metavar=("MIN", "MAX"), help="sub-actions per composite")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--variants", nargs="*", default=None, help="substrings of variant names to run (default all)")
    ap.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="GroundingConfig overrides for every ZOMG variant")
    ap.add_argument("--no-sentence", action="store_true", help="skip the from-one-sentence evaluation")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from zomg_blender.engine.encoder import load_encoder
    from zomg_blender.engine.partition import partition

    base = with_overrides(GroundingConfig(), args.set)
    encoder = load_encoder(args.checkpoint, "cpu")
    specs = make_specs(args.split, args.n, args.seed, *args.k)
    tick = time.perf_counter()
    cases = []
    for spec in specs:
        take = build_take(spec)
        cases.append((spec, take_features(take), take.duration_s, partition(spec.sentence, backend="rules").subactions))
    print(f"{len(cases)} composites built in {time.perf_counter() - tick:.1f} s; "
          f"partition recovers K for {np.mean([len(c[3]) == len(c[0].texts) for c in cases]):.0%}", flush=True)

    chosen = {n: v for n, v in VARIANTS.items() if not args.variants or any(s in n for s in args.variants)}
    results = {}
    for name, (method, over, with_sentence) in chosen.items():
        cfg = replace(base, **over)
        tick = time.perf_counter()
        rec_given, rec_sent = [], []
        for spec, feats, dur, subs in cases:
            if method == "whole":
                rec_given.append(evaluate_case(spec, [0.0, dur], [1.0], [spec.sentence]))
                continue
            b, sc = predict(method, cfg, encoder, feats, spec.texts, spec.sentence, 0)
            rec_given.append(evaluate_case(spec, to_seconds(b, dur), sc, spec.texts))
            if with_sentence and not args.no_sentence:
                b, sc = predict(method, cfg, encoder, feats, subs, spec.sentence, 0)
                rec_sent.append(evaluate_case(spec, to_seconds(b, dur), sc, subs))
        results[name] = {"given": summarise(rec_given), "sentence": summarise(rec_sent) if rec_sent else None,
                         "seconds": time.perf_counter() - tick, "config": over}
        r = results[name]
        sent = f" | sentence mIoU {r['sentence']['mIoU']:.3f}" if r["sentence"] else ""
        print(f"{name:45s} given mIoU {r['given']['mIoU']:.3f} R@.5 {r['given']['R@1@0.5']:.3f} "
              f"mAP {r['given']['mAP']:.3f} bErr {r['given']['bErr_s']:.2f}s{sent}  ({r['seconds']:.0f} s)", flush=True)

    print("\n| method | mIoU | R@1 0.3 | R@1 0.5 | R@1 0.7 | mAP | bErr s | sentence mIoU | sentence R@1 0.5 | sentence mAP |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        g, s = r["given"], r["sentence"]
        sent = f"{s['mIoU']:.3f} | {s['R@1@0.5']:.3f} | {s['mAP']:.3f}" if s else "- | - | -"
        print(f"| {name} | {g['mIoU']:.3f} | {g['R@1@0.3']:.3f} | {g['R@1@0.5']:.3f} | {g['R@1@0.7']:.3f} | "
              f"{g['mAP']:.3f} | {g['bErr_s']:.2f} | {sent} |")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"split": args.split, "n": args.n, "seed": args.seed, "k": list(args.k),
                                              "base_config": base.__dict__, "results": results}, indent=1))


if __name__ == "__main__":
    main()
