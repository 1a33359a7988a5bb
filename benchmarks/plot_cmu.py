"""Masks over time for the long CMU exercise routines (no timed labels exist: for eyes, not metrics).

    nice .venv/bin/python benchmarks/plot_cmu.py --out benchmarks/results

Each take's CMU index line ("jumping jacks, side twists, bend over, squats") becomes the sentence
"a person does jumping jacks, then side twists, then ...", partitioned by the rules backend and
grounded. One PNG per take: the per-frame text evidence (clipped at the floor), the optimised soft
masks, and the initial (DP) and final clips.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CMU = REPO.parent / "shared" / "data" / "cmu"
TAKES = ("13_29", "13_30", "13_31", "14_14", "14_20")


def descriptions() -> dict[str, str]:
    out = {}
    for line in (CMU / "text" / "cmu-index.txt").read_text(errors="replace").splitlines():
        clip, _, desc = line.partition("\t")
        out[clip.strip()] = desc.strip()
    return out


def plot(take_id: str, sentence: str, encoder, out_dir: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from zomg_blender.engine.bvh import read_bvh
    from zomg_blender.engine.features import take_features
    from zomg_blender.engine.grounding import FPS, GroundingConfig, _scale, frame_scores, ground
    from zomg_blender.engine.partition import partition

    subs = partition(sentence).subactions
    feats = take_features(read_bvh(CMU / "bvh" / f"{take_id}.bvh"))
    g = ground(encoder, feats, subs)
    with torch.no_grad():
        states = encoder.frame_features(feats)
        evidence = np.exp(frame_scores(encoder, states, encoder.encode_texts(subs), GroundingConfig(), _scale(encoder, GroundingConfig())))
    t = np.arange(len(feats)) / FPS
    colours = plt.cm.tab10(np.arange(len(subs)) % 10)
    fig, axes = plt.subplots(3, 1, figsize=(12, 6.5), sharex=True, gridspec_kw={"height_ratios": [2, 2, 1]})
    for k, sub in enumerate(subs):
        axes[0].plot(t, evidence[:, k], color=colours[k], lw=1, label=sub)
        axes[1].fill_between(t, g.masks[k], color=colours[k], alpha=0.45)
        axes[1].plot(t, g.masks[k], color=colours[k], lw=1)
        for row, segs in ((1, g.init_segments), (0, g.segments)):
            s = segs[k]
            axes[2].barh(row, (s.end - s.start) / FPS, left=s.start / FPS, color=colours[k], edgecolor="k", height=0.8)
        s = g.segments[k]
        axes[2].text((s.start + s.end) / 2 / FPS, 0, f"{s.score:.2f}", ha="center", va="center", fontsize=8)
    axes[0].set_ylabel("evidence p(text)")
    axes[0].legend(loc="upper right", fontsize=7, ncol=2)
    axes[1].set_ylabel("soft masks")
    axes[2].set_yticks([0, 1], ["final", "DP init"])
    axes[2].set_xlabel("time (s)")
    fig.suptitle(f"CMU {take_id}: {sentence}", fontsize=10)
    fig.tight_layout()
    out = out_dir / f"cmu_{take_id}_masks.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    bounds = ", ".join(f"{s.text.split(' ', 2)[-1]} {s.start / FPS:.1f}-{s.end / FPS:.1f}s ({s.score:.2f})" for s in g.segments)
    print(f"{take_id}: {bounds}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--takes", nargs="*", default=list(TAKES))
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    from zomg_blender.engine.encoder import load_encoder

    encoder = load_encoder(args.checkpoint, "cpu")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    desc = descriptions()
    for take_id in args.takes:
        items = [p.strip() for p in desc[take_id].split(",") if p.strip()]
        plot(take_id, "a person does " + ", then ".join(items), encoder, out_dir)


if __name__ == "__main__":
    main()
