"""The motion a take carries, as plain arrays: what crosses the Blender/engine border."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import ZomgError


@dataclass
class Take:
    """World-space joint positions of one take, in the source's own units and axes."""

    positions: np.ndarray          # [T, J, 3] float32
    joint_names: list[str]
    parents: np.ndarray            # [J] int, -1 for a root
    fps: float
    up_axis: str = "Z"             # "Z" (Blender world) or "Y" (raw BVH)
    name: str = "take"
    frame_start: int = 0           # the source's number for frame 0 (Blender scene frame)
    meta: dict = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return int(self.positions.shape[0])

    @property
    def duration_s(self) -> float:
        return self.frames / float(self.fps)

    def validate(self, min_frames: int = 2) -> "Take":
        """Raise ZomgError for takes no step downstream can use."""
        p = self.positions
        if p.ndim != 3 or p.shape[2] != 3 or p.shape[1] != len(self.joint_names):
            raise ZomgError(f"{self.name}: joint positions have shape {p.shape}, expected [frames, {len(self.joint_names)}, 3]")
        if p.shape[0] < min_frames:
            raise ZomgError(f"{self.name}: the take has {p.shape[0]} frame(s); at least {min_frames} are needed")
        if not np.isfinite(p).all():
            raise ZomgError(f"{self.name}: the take contains NaN or infinite values")
        if not (self.fps > 0 and np.isfinite(self.fps)):
            raise ZomgError(f"{self.name}: invalid frame rate {self.fps}")
        return self


# A grounded clip scoring below this is worth checking by eye. On 200 val composites (1,145 clips) it flags
# 6.6% of the clips, which hold 11 of the 19 misplaced ones (IoU < 0.5); 5.8% of good clips are flagged
# (benchmarks/bench_confidence.py).
LOW_CONFIDENCE = 0.2


@dataclass
class Clip:
    """One named clip: frames counted from 0 in the take's own frame rate, end exclusive."""

    name: str
    start_frame: int
    end_frame: int
    score: float | None = None

    @property
    def needs_check(self) -> bool:
        """Grounded with low confidence: often an action the encoder does not know, or misplaced."""
        return self.score is not None and self.score < LOW_CONFIDENCE
