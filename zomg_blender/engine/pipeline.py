"""One take + a description -> the JSON result of `zomg ground` (clips in the file's own frames)."""
from __future__ import annotations

import time

from .errors import ZomgError
from .take import Take

FEATURE_FPS = 20


def feature_to_source_bounds(bounds: list[int], frames: int, fps: float) -> list[int]:
    """Interior feature-frame boundaries (time i/20 s) -> strictly increasing source frames; 0 and `frames` at the ends."""
    out = [0]
    k = len(bounds) + 1
    for j, b in enumerate(bounds, 1):
        f = int(round(b / FEATURE_FPS * fps))
        out.append(min(max(f, out[-1] + 1), frames - (k - j)))
    out.append(frames)
    return out


def ground_take(take: Take, text: str | None = None, subactions: list[str] | None = None, encoder=None,
                partition_backend: str = "rules", partition_cfg: dict | None = None, device: str = "auto",
                seed: int = 0, checkpoint=None, config=None, with_masks: bool = False) -> dict:
    """Partition `text` (or use `subactions`), ground them on `take`, return the `zomg ground` JSON contract.

    Times are seconds from the take's first frame; frames count from 0 in the file's frame rate, end
    exclusive, the last segment ends at `frames`. `timings_s.total` excludes process start and model load.
    `with_masks` adds "masks": the soft masks [K][frames] sampled at every source frame (for the Blender UI)."""
    from .features import take_features
    from .grounding import ground

    take.validate(min_frames=1)
    timings = {"load": 0.0}
    if encoder is None:
        from .encoder import load_encoder

        tick = time.perf_counter()
        encoder = load_encoder(checkpoint, device)
        timings["load"] = time.perf_counter() - tick

    tick = time.perf_counter()
    if subactions is not None:
        subactions = [str(s).strip() for s in subactions]
        if not subactions or not all(subactions):
            raise ZomgError("sub-actions must be non-empty texts")
        part = {"backend": "given", "warnings": []}
    else:
        if text is None or not str(text).strip():
            raise ZomgError("the description is empty: give a text or a list of sub-actions")
        from .partition import partition

        result = partition(str(text), backend=partition_backend, **(partition_cfg or {}))
        subactions = list(result.subactions)
        part = {"backend": result.backend, "warnings": list(result.warnings)}
        if not subactions:
            raise ZomgError("the description yields no sub-actions")
    timings["partition"] = time.perf_counter() - tick

    tick = time.perf_counter()
    feats = take_features(take)
    feat_time = time.perf_counter() - tick
    g = ground(encoder, feats, subactions, seed=seed, config=config)
    timings["encode"] = feat_time + g.timings["encode"]
    timings["optimize"] = g.timings["init"] + g.timings["optimize"]
    timings["decode"] = g.timings["decode"]
    timings["total"] = sum(timings[k] for k in ("partition", "encode", "optimize", "decode"))

    fps, frames = float(take.fps), take.frames
    bounds = feature_to_source_bounds([s.start for s in g.segments[1:]], frames, fps)
    segments = [{"text": s.text, "start_s": round(bounds[j] / fps, 4), "end_s": round(bounds[j + 1] / fps, 4),
                 "start_frame": bounds[j], "end_frame": bounds[j + 1], "score": round(float(s.score), 4)}
                for j, s in enumerate(g.segments)]
    out = {
        "id": take.name,
        "motion": str(take.meta.get("source", take.name)) if isinstance(take.meta, dict) else take.name,
        "fps": fps,
        "frames": frames,
        "duration_s": round(frames / fps, 4),
        "subactions": subactions,
        "segments": segments,
        "partition": part,
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
    }
    if with_masks:
        import numpy as np

        at = np.arange(frames) / fps * FEATURE_FPS  # source frame f is time f/fps = feature row f/fps*20
        out["masks"] = [np.round(np.interp(at, np.arange(m.shape[0]), m), 4).tolist() for m in g.masks]
    return out
