"""Composite takes with known sub-action boundaries, built from real Bandai clips of one style.

Each composite joins 2-5 clips of different contents, all of one style, at the joint level: the
next clip is turned about the vertical axis and moved so that its pelvis position and heading
continue where the previous clip is at the start of a short cross-fade, and the joint positions
are blended over that cross-fade, so the boundary has no pose jump. The ground-truth boundary is
the middle of the cross-fade. Each segment gets one held-out wording of its content
(`wordings.eval_texts`), never a training wording; the one-sentence description joins them with
", then ".

    python benchmarks/composites.py --split val --n 100 --seed 0 --out benchmarks/results/composites_val.json
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from zomg_blender.engine.bvh import read_bvh  # noqa: E402
from zomg_blender.engine.take import Take  # noqa: E402

_DATA = [Path(p) for p in (os.environ.get("ZOMG_SHARED_DATA"),) if p] + [REPO.parent / "shared" / "data", Path("/work/shared/data")]
SHARED = next((p for p in _DATA if (p / "bandai").is_dir()), _DATA[0]) / "bandai"
CROSSFADE = 6                      # frames at 30 fps (0.2 s)


def bandai_root() -> Path:
    """Folder the manifest paths are relative to (the unpacked Bandai dataset)."""
    for cand in (Path("/work/cache"), Path.home() / ".cache" / "zomg-tests" / "bandai"):
        if (cand / "dataset").is_dir():
            return cand
    raise SystemExit("Bandai BVH not unpacked: tar -xJf ../shared/data/bandai/bandai-bvh.tar.xz -C ~/.cache/zomg-tests/bandai")


def clips_of_split(split: str) -> list[dict]:
    splits = {r["file"]: r["split"] for r in csv.DictReader(open(SHARED / "splits.csv"))}
    return [r for r in csv.DictReader(open(SHARED / "manifest.csv"))
            if r["bvh_present"] == "yes" and splits.get(r["file"]) == split]


@dataclass
class Composite:
    id: str
    style: str
    files: list[str]
    contents: list[str]
    texts: list[str]
    sentence: str
    bounds_s: list[float]          # K+1 times in seconds: 0, the K-1 boundaries, the duration

    def segments_s(self) -> list[tuple[float, float]]:
        return list(zip(self.bounds_s[:-1], self.bounds_s[1:]))


def sentence_of(texts: list[str]) -> str:
    parts = [t.strip().rstrip(".") for t in texts]
    parts = [parts[0]] + [p[0].lower() + p[1:] if p[:2] != p[:2].upper() else p for p in parts[1:]]
    return ", then ".join(parts) + "."


def make_specs(split: str = "val", n: int = 100, seed: int = 0, min_k: int = 2, max_k: int = 5) -> list[Composite]:
    """Deterministic composite recipes: style, clips of different contents, one held-out wording each."""
    from zomg_blender.engine.wordings import eval_texts

    rng = np.random.default_rng(seed)
    by_style: dict[str, dict[str, list[dict]]] = {}
    for r in clips_of_split(split):
        by_style.setdefault(r["style"], {}).setdefault(r["content"], []).append(r)
    styles = sorted(s for s, c in by_style.items() if len(c) >= max_k)
    specs = []
    for i in range(n):
        style = styles[rng.integers(len(styles))]
        contents = sorted(by_style[style])
        k = int(rng.integers(min_k, max_k + 1))
        chosen = [contents[j] for j in rng.choice(len(contents), size=k, replace=False)]
        rows = [by_style[style][c][rng.integers(len(by_style[style][c]))] for c in chosen]
        texts = []
        for c in chosen:
            pool = eval_texts(c)
            texts.append(pool[rng.integers(len(pool))])
        lengths = [int(r["frames"]) for r in rows]
        fps = 1.0 / float(rows[0]["frame_time_s"])
        bounds, start = [0.0], 0
        for length in lengths[:-1]:
            start += length - CROSSFADE
            bounds.append((start + CROSSFADE / 2) / fps)
        bounds.append((sum(lengths) - CROSSFADE * (k - 1)) / fps)
        specs.append(Composite(f"{split}-{i:03d}", style, [r["file"] for r in rows], chosen, texts, sentence_of(texts), bounds))
    return specs


def _heading(pos: np.ndarray, names: list[str]) -> float:
    """Facing angle about +Y (radians) from the hip line of one frame [J, 3]."""
    across = pos[names.index("UpperLeg_L")] - pos[names.index("UpperLeg_R")]
    fwd = np.array([-across[2], 0.0, across[0]])          # across x up: forward when x is the actor's left
    return float(np.arctan2(fwd[0], fwd[2]))


def _rotate_y(pos: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    return pos @ rot.T


def join(takes: list[Take], crossfade: int = CROSSFADE) -> Take:
    """Concatenate same-skeleton takes so each continues the previous one's pelvis position and heading."""
    names = takes[0].joint_names
    hips = names.index("Hips")
    out = takes[0].positions.astype(np.float64)
    for nxt in takes[1:]:
        pos = nxt.positions.astype(np.float64)
        anchor = out[-crossfade]                                    # pose where the cross-fade starts
        pos = _rotate_y(pos, _heading(anchor, names) - _heading(pos[0], names))
        shift = anchor[hips] - pos[0, hips]
        pos = pos + np.array([shift[0], 0.0, shift[2]])
        w = np.linspace(0.0, 1.0, crossfade + 2)[1:-1][:, None, None]
        blend = out[-crossfade:] * (1 - w) + pos[:crossfade] * w
        out = np.concatenate([out[:-crossfade], blend, pos[crossfade:]])
    return Take(out.astype(np.float32), names, takes[0].parents, takes[0].fps, "Y", "composite", 0, {})


def build_take(spec: Composite, root: Path | None = None) -> Take:
    root = root or bandai_root()
    take = join([read_bvh(root / f) for f in spec.files])
    take.name, take.meta = spec.id, {"source": spec.id}
    return take


def load_specs(path: str | Path) -> list[Composite]:
    return [Composite(**d) for d in json.loads(Path(path).read_text())]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="val", choices=["val", "test"])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    specs = make_specs(args.split, args.n, args.seed)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps([s.__dict__ for s in specs], indent=1))
    ks = np.array([len(s.files) for s in specs])
    dur = np.array([s.bounds_s[-1] for s in specs])
    print(f"{len(specs)} composites, K {ks.min()}-{ks.max()} (mean {ks.mean():.1f}), "
          f"duration {dur.min():.1f}-{dur.max():.1f} s (median {np.median(dur):.1f})")


if __name__ == "__main__":
    main()
