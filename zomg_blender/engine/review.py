"""Review image of one split take: the clips as coloured bands on the take's timeline, with their
names and confidence, over the soft masks the grounding found. Lets a person check a whole batch
by eye. matplotlib (Agg canvas, no pyplot state) is imported only here; callers handle its absence.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import ZomgError

WIDTH_IN, HEIGHT_IN, DPI = 14.0, 4.5, 100


def render_review(path: str | Path, title: str, fps: float, frame_start: int, clips: list[dict],
                  masks: list | np.ndarray | None = None) -> Path:
    """Write a PNG. ``clips``: dicts with name, first_frame, last_frame (scene frames, inclusive), score;
    ``masks``: [K][frames] soft masks per take frame (frame 0 is scene frame ``frame_start``), or None.

    Raises ImportError when matplotlib is missing."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    colors = [_color(i) for i in range(len(clips))]
    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    bands, curves = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 2]})
    last = max([c["last_frame"] for c in clips] + [frame_start])
    wide = (last - frame_start + 1) / 8  # a band this wide has room for its name
    for i, (clip, color) in enumerate(zip(clips, colors), 1):
        lo, hi = clip["first_frame"], clip["last_frame"] + 1
        score = "" if clip.get("score") is None else f"{clip['score']:.2f}"
        bands.axvspan(lo, hi, color=color, alpha=0.75, lw=0, label=f"{i}. {clip['name']}  {score}")
        curves.axvspan(lo, hi, color=color, alpha=0.12, lw=0)
        bands.text((lo + hi) / 2, 0.5, f"{clip['name'] if hi - lo >= wide else i}\n{score}", ha="center",
                   va="center", fontsize=8, clip_on=True)
    fig.legend(loc="outside right upper", fontsize=8, title="clip  confidence", title_fontsize=8, frameon=False)
    bands.set_yticks([])
    bands.set_ylim(0, 1)
    bands.set_title(title, fontsize=10)
    if masks is not None and len(masks):
        masks = np.asarray(masks, dtype=np.float32)
        if masks.ndim != 2 or masks.shape[0] != len(clips):
            raise ZomgError(f"review image: {masks.shape[0] if masks.ndim else 0} masks for {len(clips)} clips")
        frames = frame_start + np.arange(masks.shape[1])
        for mask, clip, color in zip(masks, clips, colors):
            curves.plot(frames, mask, color=color, lw=1.5)
        last = max(last, int(frames[-1]))
    curves.set_ylim(-0.05, 1.05)
    curves.set_ylabel("soft mask")
    curves.set_xlabel(f"scene frame ({fps:g} fps)")
    curves.set_xlim(frame_start, last + 1)
    seconds = curves.secondary_xaxis("top", functions=(lambda f: (f - frame_start) / fps, lambda s: s * fps + frame_start))
    seconds.set_xlabel("seconds", fontsize=8)
    seconds.tick_params(labelsize=7)
    try:
        fig.savefig(path, format="png")
    except OSError as exc:
        raise ZomgError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def _color(i: int) -> tuple:
    """Distinct colours for neighbouring clips (tab10, then tab20's lighter shades)."""
    from matplotlib import colormaps

    return colormaps["tab10"](i % 10) if i < 10 else colormaps["tab20"]((2 * (i - 10) + 1) % 20)
