"""Encoder benchmarks: zero-shot recognition and retrieval on Bandai `test` with held-out wordings,
a non-learned peer, per-frame similarity over a long CMU take (PNG), and encoding speed on CPU.

    python benchmarks/bench_encoder.py --prepared ~/.cache/zomg-train/bandai_prepared.npz --out benchmarks/results
(`zomg train --prepare-only --prepared FILE` makes the prepared file from ../shared/data.)
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zomg_blender.engine.bvh import read_bvh  # noqa: E402
from zomg_blender.engine.encoder import load_encoder, load_model  # noqa: E402
from zomg_blender.engine.features import take_features  # noqa: E402
from zomg_blender.engine.training import Corpus, evaluate  # noqa: E402


def centroid_peer(corpus: Corpus, split: str) -> dict:
    """Nearest class centroid on pose statistics (per-clip mean and std of the features), fit on train."""
    base = corpus.feats[(1.0, False)]
    stat = lambda i: np.concatenate([base[i].mean(0), base[i].std(0)])  # noqa: E731
    tr, te = corpus.clips("train", "bandai"), corpus.clips(split, "bandai")
    xtr, xte = np.stack([stat(i) for i in tr]), np.stack([stat(i) for i in te])
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    ytr = np.array([corpus.cid[corpus.content[i]] for i in tr])
    yte = np.array([corpus.cid[corpus.content[i]] for i in te])
    classes = np.unique(ytr)
    cents = np.stack([xtr[ytr == c].mean(0) for c in classes])
    order = classes[np.argsort(((xte[:, None] - cents[None]) ** 2).sum(-1), axis=1)]
    return {"top1": float((order[:, 0] == yte).mean()), "top3": float((order[:, :3] == yte[:, None]).any(1).mean())}


def frame_plot(encoder, bvh: Path, texts: list[str], png: Path) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    feats = take_features(read_bvh(bvh))
    states = encoder.frame_features(feats)
    sim = (encoder.frame_embeddings(states) @ encoder.encode_texts(texts).T).cpu().numpy()
    kernel = np.ones(10) / 10  # 0.5 s moving average, for readability only
    smooth = np.stack([np.convolve(sim[:, k], kernel, mode="same") for k in range(len(texts))], 1)
    t = np.arange(len(sim)) / 20.0
    fig, ax = plt.subplots(figsize=(12, 3.5))
    for k, text in enumerate(texts):
        ax.plot(t, smooth[:, k], label=text, lw=1.2)
    ax.set_xlabel("seconds"); ax.set_ylabel("frame-text cosine"); ax.set_title(f"{bvh.name}: per-frame similarity")
    ax.legend(fontsize=7, ncol=3, loc="upper right"); fig.tight_layout(); fig.savefig(png, dpi=110); plt.close(fig)
    return {"take": bvh.name, "seconds": float(t[-1]), "png": str(png), "argmax_share": {
        text: float((smooth.argmax(1) == k).mean()) for k, text in enumerate(texts)}}


def speed(encoder, bvh: Path) -> list[dict]:
    """Frames per second of the encoder on one CPU thread (robust on a shared machine)."""
    torch.set_num_threads(1)
    take = read_bvh(bvh)
    feats = take_features(take)
    rows = []
    for seconds in (20, 120, 600):
        n = seconds * 20
        x = np.resize(feats, (n, feats.shape[1]))  # the take repeated to the length wanted
        encoder.frame_features(x[:200])  # warm-up
        t0 = time.perf_counter()
        encoder.frame_features(x)
        dt = time.perf_counter() - t0
        rows.append({"take_s": seconds, "frames_20fps": n, "encode_s": round(dt, 3), "frames_per_s": round(n / dt)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prepared", required=True)
    ap.add_argument("--checkpoint", nargs="+", default=[None])
    ap.add_argument("--split", default="test")
    ap.add_argument("--cmu", default=str(Path(__file__).resolve().parents[2] / "shared/data/cmu/bvh"))
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    torch.set_num_threads(2)
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(args.prepared, augment=False)
    report = {"split": args.split, "peer_centroid": centroid_peer(corpus, args.split), "models": {}}
    for ck in args.checkpoint:
        model, meta = load_model(ck)
        entry = {"val_at_selection": meta.get("val"), args.split: evaluate(model, corpus, args.split, torch.device("cpu"))}
        if corpus.clips("val", "cmu"):  # held-out CMU clips (every fifth single-action clip of cmu-extra)
            entry["cmu_heldout"] = evaluate(model, corpus, "val", torch.device("cpu"), source="cmu")
        report["models"][ck or "shipped"] = entry
    enc = load_encoder(args.checkpoint[0], "cpu")
    cmu = Path(args.cmu)
    report["frame_similarity"] = [
        frame_plot(enc, cmu / "131_01.bvh", ["a person stands still", "a person walks forward"], out / "frames_131_01.png"),
        frame_plot(enc, cmu / "13_29.bvh", ["a person does jumping jacks", "a person twists the torso side to side",
                                            "a person bends over", "a person squats", "a person stands still"], out / "frames_13_29.png"),
        frame_plot(enc, cmu / "10_01.bvh", ["a person walks", "a person kicks", "a person stands still"], out / "frames_10_01.png"),
        frame_plot(enc, cmu / "01_01.bvh", ["a person jumps forward", "a person turns around", "a person stands still"], out / "frames_01_01.png"),
        frame_plot(enc, cmu / "131_03.bvh", ["a person hops", "a person walks", "a person stands still"], out / "frames_131_03.png"),
    ]
    report["speed_cpu"] = speed(enc, cmu / "13_29.bvh")
    (out / "encoder.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
