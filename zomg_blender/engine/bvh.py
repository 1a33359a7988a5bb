"""Read a BVH file into a Take: a small pure-numpy parser plus forward kinematics vectorised over frames."""
from __future__ import annotations

import os
import re
import warnings

import numpy as np

from .errors import ZomgError
from .take import Take

_AXES = {"X": 0, "Y": 1, "Z": 2}
_TOKEN = re.compile(r"\S+")


class _Joint:
    __slots__ = ("name", "parent", "offset", "channels", "end_offsets")

    def __init__(self, name: str, parent: int):
        self.name = name
        self.parent = parent
        self.offset = np.zeros(3)
        self.channels: list[str] = []
        self.end_offsets: list[np.ndarray] = []


def read_bvh(path) -> Take:
    """Parse HIERARCHY + MOTION and return joint (bone head) positions in file units, Y up.

    Position channels, where a joint has them, replace its OFFSET (the convention of Blender's importer
    and of files such as Bandai's, which store the offset in every frame). End Sites become no joints;
    their world positions are kept in `meta["end_sites"]` ({parent joint name: [T, 3]}) because some
    rigs (DAZ conversions) only have their toes there.
    """
    path = os.fspath(path)
    name = os.path.splitext(os.path.basename(path))[0]
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise ZomgError(f"cannot read BVH file {path}: {exc.strerror or exc}") from None
    text = raw.decode("latin-1")
    cut = text.find("MOTION")
    if not text.lstrip().startswith("HIERARCHY") or cut < 0:
        raise ZomgError(f"{path} is not a BVH file (needs a HIERARCHY and a MOTION section)")
    joints = _parse_hierarchy(text[:cut], path)
    frames, frame_time, values = _parse_motion(text[cut + len("MOTION"):], path)
    n_channels = sum(len(j.channels) for j in joints)
    if frames <= 0:
        raise ZomgError(f"{path} has no frames of motion")
    if values.size < frames * n_channels:
        raise ZomgError(f"{path}: the motion is truncated ({values.size // max(n_channels, 1)} of {frames} frames present)")
    motion = values[: frames * n_channels].reshape(frames, n_channels)
    if not np.isfinite(motion).all():
        raise ZomgError(f"{path}: the motion contains NaN or infinite values")
    positions, end_sites = _forward_kinematics(joints, motion)
    take = Take(
        positions=positions,
        joint_names=[j.name for j in joints],
        parents=np.array([j.parent for j in joints], dtype=np.int64),
        fps=_frame_rate(frame_time),
        up_axis="Y",
        name=name,
        frame_start=0,
        meta={"source": path, "format": "bvh", "end_sites": end_sites},
    )
    return take.validate(min_frames=1)


def _parse_hierarchy(text: str, path: str) -> list[_Joint]:
    tokens = _TOKEN.findall(text)
    joints: list[_Joint] = []
    stack: list[int] = []          # joint index per open brace; -2 marks an End Site block
    pending: int | None = None     # joint (or End Site) declared, its "{" not yet seen
    i, n = 1, len(tokens)          # tokens[0] is HIERARCHY
    try:
        while i < n:
            tok = tokens[i]
            up = tok.upper()
            if up in ("ROOT", "JOINT"):
                parent = _current_joint(stack) if up == "JOINT" else -1
                if up == "JOINT" and parent < 0:
                    raise ValueError("JOINT outside a joint")
                joints.append(_Joint(tokens[i + 1], parent))
                pending = len(joints) - 1
                i += 2
            elif up == "END":
                pending = -2
                i += 2                       # "End Site"
            elif tok == "{":
                if pending is None:
                    raise ValueError("unexpected {")
                stack.append(pending)
                pending = None
                i += 1
            elif tok == "}":
                stack.pop()
                i += 1
            elif up == "OFFSET":
                offset = np.array([float(t) for t in tokens[i + 1:i + 4]])
                if offset.shape != (3,):
                    raise ValueError("short OFFSET")
                if stack[-1] == -2:
                    joints[_current_joint(stack)].end_offsets.append(offset)
                else:
                    joints[stack[-1]].offset = offset
                i += 4
            elif up == "CHANNELS":
                count = int(tokens[i + 1])
                channels = tokens[i + 2:i + 2 + count]
                if count not in (0, 3, 6) or len(channels) != count or any(c[:1].upper() not in _AXES or c[1:].lower() not in ("position", "rotation") for c in channels):
                    raise ValueError(f"unsupported CHANNELS {' '.join(channels)}")
                joints[stack[-1]].channels = [c[0].upper() + c[1:].lower() for c in channels]
                i += 2 + count
            else:
                raise ValueError(f"unexpected token {tok!r}")
    except (ValueError, IndexError) as exc:
        raise ZomgError(f"{path}: broken BVH hierarchy ({exc})") from None
    if not joints or stack:
        raise ZomgError(f"{path}: broken BVH hierarchy (no joints or unbalanced braces)")
    return joints


def _current_joint(stack: list[int]) -> int:
    for entry in reversed(stack):
        if entry >= 0:
            return entry
    return -1


def _parse_motion(text: str, path: str) -> tuple[int, float, np.ndarray]:
    head = re.match(r"\s*Frames:\s*(\d+)\s*Frame\s+Time:\s*(\S+)", text)
    if not head:
        raise ZomgError(f"{path}: the MOTION section lacks 'Frames:' and 'Frame Time:'")
    frames = int(head.group(1))
    try:
        frame_time = float(head.group(2))
    except ValueError:
        raise ZomgError(f"{path}: bad Frame Time {head.group(2)!r}") from None
    if not (frame_time > 0 and np.isfinite(frame_time)):
        raise ZomgError(f"{path}: bad Frame Time {frame_time}")
    body = text[head.end():]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # fromstring stops at garbage; the count check catches it
        values = np.fromstring(body, dtype=np.float64, sep=" ")
    return frames, frame_time, values


def _frame_rate(frame_time: float) -> float:
    """1 / Frame Time, snapped to a whole rate when the file just rounded it (0.0333333 -> 30)."""
    fps = 1.0 / frame_time
    whole = round(fps)
    return float(whole) if whole > 0 and abs(fps - whole) < 1e-4 * fps else fps


def _quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of quaternions stored component-major, [4, T] (w, x, y, z)."""
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return np.stack([aw * bw - ax * bx - ay * by - az * bz,
                     aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw])


def _quat_rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors v [3, T] (or [3, 1]) by unit quaternions q [4, T]: v + 2w(u x v) + 2u x (u x v)."""
    w, u = q[0], q[1:]
    t = 2.0 * np.stack([u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]])
    return v + w * t + np.stack([u[1] * t[2] - u[2] * t[1], u[2] * t[0] - u[0] * t[2], u[0] * t[1] - u[1] * t[0]])


def _forward_kinematics(joints: list[_Joint], motion: np.ndarray) -> tuple[np.ndarray, dict]:
    """World joint positions [T, J, 3] float32, one joint at a time, all frames at once.

    Rotations are quaternions in component-major arrays: a BVH's Euler channels listed as A B C give
    the local rotation R_A R_B R_C, composed here as q_A q_B q_C.
    """
    frames = motion.shape[0]
    columns = np.ascontiguousarray(motion.T)
    positions = np.empty((len(joints), 3, frames))
    rotations: list[np.ndarray | None] = []   # None: identity all along the chain so far
    end_sites: dict[str, np.ndarray] = {}
    column = 0
    for index, joint in enumerate(joints):
        local_t = joint.offset[:, None] * np.ones((1, frames)) if any(c.endswith("position") for c in joint.channels) else joint.offset[:, None]
        local_q = None
        for channel in joint.channels:
            values = columns[column]
            column += 1
            axis = _AXES[channel[0]]
            if channel.endswith("position"):
                local_t[axis] = values
                continue
            angle = np.radians(values) * 0.5
            q = np.zeros((4, frames))
            q[0] = np.cos(angle)
            q[1 + axis] = np.sin(angle)
            local_q = q if local_q is None else _quat_mul(local_q, q)
        if joint.parent < 0:
            positions[index] = local_t
            world_q = local_q
        else:
            parent_q = rotations[joint.parent]
            offset = local_t if parent_q is None else _quat_rotate(parent_q, local_t)
            positions[index] = positions[joint.parent] + offset
            world_q = local_q if parent_q is None else parent_q if local_q is None else _quat_mul(parent_q, local_q)
        rotations.append(world_q)
        if joint.end_offsets:
            end = joint.end_offsets[0][:, None]
            tip = positions[index] + (end if world_q is None else _quat_rotate(world_q, end))
            end_sites[joint.name] = np.ascontiguousarray(tip.T, dtype=np.float32)
    return np.ascontiguousarray(positions.transpose(2, 0, 1), dtype=np.float32), end_sites
