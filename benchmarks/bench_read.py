"""Time read_armature's F-curve path against Blender's evaluated path on one take.

    .venv/bin/python benchmarks/bench_read.py TAKE.bvh [LAST_FRAME]
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from zomg_blender.blender.read import read_armature  # noqa: E402
from zomg_blender.blender.scene_io import import_take  # noqa: E402


def best_of(obj, method: str, runs: int = 5):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        take = read_armature(obj, method=method)
        times.append(time.perf_counter() - start)
    return min(times), take


def main() -> None:
    obj = import_take(sys.argv[1])
    if len(sys.argv) > 2:  # read a window of a long take
        action = obj.animation_data.action
        action.use_frame_range = True
        action.frame_end, action.frame_start = int(sys.argv[2]), 1
    fast, a = best_of(obj, "fcurves")
    slow, b = best_of(obj, "evaluated", runs=2)
    height = np.ptp(b.positions[0], axis=0).max()
    print(f"{Path(sys.argv[1]).name}: {a.frames} frames x {len(a.joint_names)} bones: fcurves {fast * 1e3:.1f} ms, "
          f"evaluated {slow * 1e3:.0f} ms, max difference {np.abs(a.positions - b.positions).max() / height:.1e} of height")


if __name__ == "__main__":
    main()
