"""Per-frame motion features in the HumanML3D layout (263 numbers per 1/20 s), from joint positions only.

Any take is first brought onto one standard body (metres, Y up, 20 fps, fixed bone lengths), so the
features depend on the motion rather than the rig. Layout and choices: docs/FEATURES.md. Vectorised over frames.
"""
from __future__ import annotations

import numpy as np

from .errors import ZomgError
from .skeleton import CANONICAL_JOINTS, CANONICAL_PARENTS, to_canonical
from .take import Take

FEATURE_FPS = 20
FEATURE_DIM = 263
N_JOINTS = len(CANONICAL_JOINTS)
FEATURE_LAYOUT = {
    "root_rot_vel": slice(0, 1),        # heading change, rad per feature frame
    "root_lin_vel": slice(1, 3),        # pelvis XZ displacement per feature frame, heading frame, metres
    "root_height": slice(3, 4),         # pelvis height above the floor, metres
    "ric": slice(4, 67),                # joints 1..21 relative to the pelvis XZ, heading frame (y absolute)
    "rot6d": slice(67, 193),            # joints 1..21: 6D of the swing rotation rest bone dir -> bone dir
    "local_vel": slice(193, 259),       # all 22 joints, displacement per feature frame, heading frame
    "foot_contact": slice(259, 263),    # left ankle, left foot, right ankle, right foot (0/1)
}

_J = {name: i for i, name in enumerate(CANONICAL_JOINTS)}
_FOOT = [_J["left_ankle"], _J["left_foot"], _J["right_ankle"], _J["right_foot"]]
MIRROR_INDEX = np.array([_J[n.replace("left_", "@").replace("right_", "left_").replace("@", "right_")] for n in CANONICAL_JOINTS])

# Candidate file units (metres per unit). 0.0254/0.45: CMU ASF length units, kept by cgspeed BVH conversions.
UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "cmu_asf": 0.0254 / 0.45}
NOMINAL_HEIGHT_M = 1.7
STATURE_PER_PATH = 1.2   # stature / (ankle->knee->hip + pelvis->spine->neck->head joint path) on SMPL bodies

# Rest (T-pose) bone directions in the heading frame (x = actor's left, y = up, z = forward); the
# 6D rotation feature is the minimal rotation taking these to the current bone direction.
_REST_DIRS = np.zeros((N_JOINTS, 3))
for _name, _dir in {
    "left_hip": (1, 0, 0), "right_hip": (-1, 0, 0), "spine1": (0, 1, 0), "left_knee": (0, -1, 0),
    "right_knee": (0, -1, 0), "spine2": (0, 1, 0), "left_ankle": (0, -1, 0), "right_ankle": (0, -1, 0),
    "spine3": (0, 1, 0), "left_foot": (0, 0, 1), "right_foot": (0, 0, 1), "neck": (0, 1, 0),
    "left_collar": (1, 0, 0), "right_collar": (-1, 0, 0), "head": (0, 1, 0), "left_shoulder": (1, 0, 0),
    "right_shoulder": (-1, 0, 0), "left_elbow": (1, 0, 0), "right_elbow": (-1, 0, 0), "left_wrist": (1, 0, 0),
    "right_wrist": (-1, 0, 0),
}.items():
    _REST_DIRS[_J[_name]] = _dir

# Standard body (metres, rounded SMPL-neutral proportions): every take is re-posed onto these bone lengths
# (bone directions kept, root path scaled by the leg-length ratio), as HumanML3D does, so features do not
# depend on the rig's proportions or where its neck/head/collar joints happen to sit.
BONE_LENGTHS = np.zeros(N_JOINTS)
for _name, _length in {
    "left_hip": 0.12, "right_hip": 0.12, "spine1": 0.12, "left_knee": 0.37, "right_knee": 0.37, "spine2": 0.135,
    "left_ankle": 0.40, "right_ankle": 0.40, "spine3": 0.055, "left_foot": 0.14, "right_foot": 0.14, "neck": 0.215,
    "left_collar": 0.14, "right_collar": 0.14, "head": 0.10, "left_shoulder": 0.11, "right_shoulder": 0.11,
    "left_elbow": 0.26, "right_elbow": 0.26, "left_wrist": 0.25, "right_wrist": 0.25,
}.items():
    BONE_LENGTHS[_J[_name]] = _length
_LEGS = [_J[n] for n in ("left_knee", "left_ankle", "right_knee", "right_ankle")]

CONTACT_SPEED2 = 0.002          # squared metres per feature frame (HumanML3D's threshold)
CONTACT_HEIGHT = np.array([0.15, 0.10, 0.15, 0.10])   # ankle, toe heights above the floor, metres


def canonical_joints(take: Take, mapping: dict | None = None) -> np.ndarray:
    """[T20, 22, 3] float32 on the standard body: 20 fps, metres, Y up, floor at 0, pelvis XZ at 0 at time 0."""
    take.validate(min_frames=1)
    joints = to_canonical(take, mapping).astype(np.float64)
    if take.up_axis.upper() == "Z":                     # Blender world (x, y, z) -> Y-up (x, z, -y)
        joints = np.stack([joints[..., 0], joints[..., 2], -joints[..., 1]], axis=-1)
    elif take.up_axis.upper() != "Y":
        raise ZomgError(f"{take.name}: unknown up axis {take.up_axis!r} (expected 'Y' or 'Z')")
    joints = resample(joints, float(take.fps), FEATURE_FPS)
    scale = take.meta.get("metres_per_unit") if isinstance(take.meta, dict) else None
    joints = joints * (float(scale) if scale else infer_metres_per_unit(joints, take.name))
    joints = uniform_skeleton(joints)
    foot_low = joints[:, _FOOT, 1].min(axis=1)
    joints[..., 1] -= np.percentile(foot_low, 1.0)
    joints[..., [0, 2]] -= joints[0, 0, [0, 2]]
    return joints.astype(np.float32)


def uniform_skeleton(joints: np.ndarray) -> np.ndarray:
    """Re-pose [T, 22, 3] metres onto BONE_LENGTHS: same bone directions, root path scaled by leg ratio.

    A bone of zero length (a rig whose toe had to copy the ankle) takes its rest direction in the
    body's heading frame.
    """
    parents = CANONICAL_PARENTS
    bones = joints[:, 1:] - joints[:, parents[1:]]
    norms = np.linalg.norm(bones, axis=-1, keepdims=True)
    legs = np.median(norms[:, [k - 1 for k in _LEGS], 0].sum(axis=1)) / 2
    target_legs = BONE_LENGTHS[_LEGS].sum() / 2
    heading = heading_angles(joints)
    rest = _rotate_y(np.broadcast_to(_REST_DIRS[1:], bones.shape), -heading)
    dirs = np.where(norms > 1e-6, bones / np.maximum(norms, 1e-6), rest)
    out = np.empty_like(joints)
    out[:, 0] = joints[:, 0] * (target_legs / legs if legs > 0 else 1.0)
    for k in range(1, N_JOINTS):
        out[:, k] = out[:, parents[k]] + BONE_LENGTHS[k] * dirs[:, k - 1]
    return out


def resample(x: np.ndarray, fps: float, out_fps: float) -> np.ndarray:
    """Linear interpolation in time: row i is time i/out_fps, up to the last source frame (>= 1 row)."""
    frames = x.shape[0]
    rows = int(np.floor((frames - 1) / fps * out_fps + 1e-9)) + 1
    src = np.arange(rows) * (fps / out_fps)
    i0 = np.minimum(np.floor(src).astype(np.int64), frames - 1)
    i1 = np.minimum(i0 + 1, frames - 1)
    w = (src - i0).reshape((-1,) + (1,) * (x.ndim - 1))
    return x[i0] * (1 - w) + x[i1] * w


def skeleton_path_length(joints: np.ndarray) -> float:
    """Median ankle->knee->hip (mean of both legs) + pelvis->spine->neck->head length, in input units."""
    def length(chain):
        return np.linalg.norm(np.diff(joints[:, chain], axis=1), axis=2).sum(axis=1)
    legs = 0.5 * (length([_J["left_ankle"], _J["left_knee"], _J["left_hip"]]) +
                  length([_J["right_ankle"], _J["right_knee"], _J["right_hip"]]))
    torso = length([_J[n] for n in ("pelvis", "spine1", "spine2", "spine3", "neck", "head")])
    return float(np.median(legs + torso))


def estimate_stature(joints: np.ndarray) -> float:
    """Standing height estimate from bone lengths (pose independent), in input units."""
    return STATURE_PER_PATH * skeleton_path_length(joints)


def infer_metres_per_unit(joints: np.ndarray, name: str = "take") -> float:
    """The candidate unit that gives the body a stature closest to 1.7 m (log scale)."""
    stature = estimate_stature(joints)
    if not (stature > 0 and np.isfinite(stature)):
        raise ZomgError(f"{name}: cannot infer the units, the skeleton has no size")
    scales = np.array(list(UNITS.values()))
    best = scales[np.argmin(np.abs(np.log(stature * scales / NOMINAL_HEIGHT_M)))]
    if not 0.8 <= stature * best <= 2.6:
        raise ZomgError(f"{name}: cannot infer the units (skeleton height {stature:.3g} units matches no m/cm/mm/inch body); "
                        "set the take's metres_per_unit")
    return float(best)


def heading_angles(joints: np.ndarray) -> np.ndarray:
    """[T] facing angle about +Y (0 = facing +Z), from the hips and shoulders across vector."""
    across = (joints[:, _J["right_hip"]] - joints[:, _J["left_hip"]] +
              joints[:, _J["right_shoulder"]] - joints[:, _J["left_shoulder"]])
    # forward = up x across = (across_z, 0, -across_x)
    return np.arctan2(across[:, 2], -across[:, 0])


def _rotate_y(v: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate vectors [T, ..., 3] by -angle[T] about Y: world -> heading frame (forward becomes +Z)."""
    c = np.cos(angle).reshape((-1,) + (1,) * (v.ndim - 2))
    s = np.sin(angle).reshape((-1,) + (1,) * (v.ndim - 2))
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    return np.stack([c * x - s * z, y, s * x + c * z], axis=-1)


def _forward_diff(x: np.ndarray) -> np.ndarray:
    """x[i+1] - x[i], the last row repeating the one before (zeros for a single row)."""
    d = np.zeros_like(x)
    if x.shape[0] > 1:
        d[:-1] = x[1:] - x[:-1]
        d[-1] = d[-2]
    return d


def _swing_6d(dirs: np.ndarray) -> np.ndarray:
    """[T, 21, 3] unit bone directions -> [T, 21, 6]: first two columns of the minimal rotation rest -> dir."""
    a = np.broadcast_to(_REST_DIRS[1:], dirs.shape)
    v = np.cross(a, dirs)
    c = (a * dirs).sum(-1)
    k = np.zeros(dirs.shape[:-1] + (3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    k[..., 1, 0], k[..., 2, 0], k[..., 2, 1] = v[..., 2], -v[..., 1], v[..., 0]
    r = np.eye(3) + k + (k @ k) / np.maximum(1.0 + c, 1e-6)[..., None, None]
    return r[..., :, :2].reshape(dirs.shape[:-1] + (6,))


def joint_features(joints20: np.ndarray) -> np.ndarray:
    """[T20, 22, 3] canonical joints (metres, Y up, floor 0) -> [T20, 263] float32; see FEATURE_LAYOUT."""
    p = np.asarray(joints20, dtype=np.float64)
    if p.ndim != 3 or p.shape[1:] != (N_JOINTS, 3) or p.shape[0] < 1:
        raise ZomgError(f"joint features need [frames, {N_JOINTS}, 3] joints, got {p.shape}")
    frames = p.shape[0]
    heading = heading_angles(p)
    out = np.empty((frames, FEATURE_DIM))
    dh = _forward_diff(heading)
    out[:, FEATURE_LAYOUT["root_rot_vel"]] = ((dh + np.pi) % (2 * np.pi) - np.pi)[:, None]
    root = p[:, 0]
    out[:, FEATURE_LAYOUT["root_lin_vel"]] = _rotate_y(_forward_diff(root), heading)[:, [0, 2]]
    out[:, FEATURE_LAYOUT["root_height"]] = root[:, 1:2]
    rel = p.copy()
    rel[..., [0, 2]] -= root[:, None, [0, 2]]
    out[:, FEATURE_LAYOUT["ric"]] = _rotate_y(rel[:, 1:], heading).reshape(frames, -1)
    bones = _rotate_y(p[:, 1:] - p[:, CANONICAL_PARENTS[1:]], heading)
    norms = np.linalg.norm(bones, axis=-1, keepdims=True)
    dirs = np.where(norms > 1e-8, bones / np.maximum(norms, 1e-8), _REST_DIRS[1:])
    out[:, FEATURE_LAYOUT["rot6d"]] = _swing_6d(dirs).reshape(frames, -1)
    vel = _rotate_y(_forward_diff(p), heading)
    out[:, FEATURE_LAYOUT["local_vel"]] = vel.reshape(frames, -1)
    feet = p[:, _FOOT]
    speed2 = (_forward_diff(feet) ** 2).sum(-1)
    out[:, FEATURE_LAYOUT["foot_contact"]] = (speed2 < CONTACT_SPEED2) & (feet[..., 1] < CONTACT_HEIGHT)
    return out.astype(np.float32)


def take_features(take: Take, mapping: dict | None = None) -> np.ndarray:
    """[T20, 263] float32 features of a take; row i is time i/20 s."""
    return joint_features(canonical_joints(take, mapping))


def mirror_joints(joints20: np.ndarray) -> np.ndarray:
    """Left/right mirror image (swap sides, negate x): a data augmentation."""
    m = np.asarray(joints20)[:, MIRROR_INDEX].copy()
    m[..., 0] = -m[..., 0]
    return m
