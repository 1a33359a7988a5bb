"""Read AMASS-style SMPL / SMPL+H / SMPL-X motion (.npz with poses, trans, frame rate) into a Take.

Joint positions come from the body model: the shaped rest joints (J_regressor applied to
v_template + shapedirs * betas) posed by forward kinematics, with smplx's own lbs functions. Only the
first 22 joints (the SMPL body, identical in all three models) are kept; hands, jaw and eyes do not
move them, and pose blend shapes do not move joints, so no mesh is posed: fast on long takes.
"""
from __future__ import annotations

import contextlib
import io
import os
import pickle
from pathlib import Path

import numpy as np

from .errors import ZomgError
from .skeleton import CANONICAL_JOINTS, CANONICAL_PARENTS
from .take import Take

MODEL_HELP = ("give the SMPL body model file the motion was made with: SMPL_NEUTRAL.npz/.pkl, SMPLH_NEUTRAL.npz "
              "(AMASS: smplh/neutral/model.npz) or SMPLX_NEUTRAL.npz, or a folder holding them; they are "
              "downloaded after registering at smpl.is.tue.mpg.de, mano.is.tue.mpg.de or smpl-x.is.tue.mpg.de")
_FPS_KEYS = ("mocap_framerate", "mocap_frame_rate", "frame_rate", "fps")
_CHUNK = 4096


def read_smpl_npz(path, model_path=None, up_axis: str = "Z") -> Take:
    """AMASS / SMPL(-X) motion file + body model -> Take with the 22 body joints in metres.

    `up_axis` is the motion's world up: "Z" for AMASS (its default), "Y" for data kept in the body
    model's own frame.
    """
    path = os.fspath(path)
    name = Path(path).stem
    try:
        data = np.load(path, allow_pickle=False)
        motion = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as exc:
        raise ZomgError(f"cannot read SMPL motion {path}: {exc}") from None
    if "poses" not in motion or "trans" not in motion:
        raise ZomgError(f"{path} is not an SMPL motion file (needs 'poses' and 'trans'; has {', '.join(sorted(motion)) or 'nothing'})")
    poses = np.asarray(motion["poses"], dtype=np.float64)
    trans = np.asarray(motion["trans"], dtype=np.float64)
    if poses.ndim != 2 or poses.shape[1] < 66 or poses.shape[1] % 3 or trans.shape != (poses.shape[0], 3) or not len(poses):
        raise ZomgError(f"{path}: poses {poses.shape} / trans {trans.shape} are not [frames, 3*joints] / [frames, 3]")
    if not (np.isfinite(poses).all() and np.isfinite(trans).all()):
        raise ZomgError(f"{path}: the motion contains NaN or infinite values")
    fps = next((float(np.asarray(motion[k]).reshape(-1)[0]) for k in _FPS_KEYS if k in motion), None)
    if not fps or not np.isfinite(fps) or fps <= 0:
        raise ZomgError(f"{path}: no frame rate (expected one of {', '.join(_FPS_KEYS)})")
    gender = str(np.asarray(motion.get("gender", "neutral")).reshape(-1)[0]).lower()
    model_file = _find_model(model_path, poses.shape[1] // 3, gender)
    model = _load_model(model_file)
    betas = np.asarray(motion.get("betas", np.zeros(0)), dtype=np.float64).reshape(-1)
    joints = _posed_joints(model, poses[:, :66].reshape(-1, 22, 3), betas) + trans[:, None, :]
    take = Take(
        positions=joints.astype(np.float32), joint_names=list(CANONICAL_JOINTS), parents=CANONICAL_PARENTS.copy(),
        fps=fps, up_axis=up_axis, name=name, frame_start=0,
        meta={"source": path, "format": "smpl", "body_model": str(model_file), "metres_per_unit": 1.0},
    )
    return take.validate(min_frames=1)


def _find_model(model_path, pose_joints: int, gender: str) -> Path:
    if not model_path:
        raise ZomgError(f"reading SMPL motion needs a body model: {MODEL_HELP}")
    root = Path(model_path)
    if root.is_file():
        return root
    if not root.is_dir():
        raise ZomgError(f"body model {root} not found: {MODEL_HELP}")
    kinds = {24: ["smpl", "smplh", "smplx"], 52: ["smplh", "smplx", "smpl"], 55: ["smplx", "smplh", "smpl"]}
    genders = [gender, "neutral"] if gender in ("male", "female") else ["neutral", "male", "female"]
    for kind in kinds.get(pose_joints, ["smplx", "smplh", "smpl"]):
        for g in genders:
            for candidate in (f"{kind.upper()}_{g.upper()}", f"{kind}/{kind.upper()}_{g.upper()}", f"{kind}/{g}/model"):
                for ext in (".npz", ".pkl"):
                    if (root / (candidate + ext)).is_file():
                        return root / (candidate + ext)
    raise ZomgError(f"no body model file in {root}: {MODEL_HELP}")


def _load_model(path: Path) -> dict:
    """The arrays joint positions need: v_template, shapedirs, J_regressor, parents."""
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=True) as raw:
                data = {k: raw[k] for k in raw.files}
        else:
            with open(path, "rb") as fh:
                data = pickle.load(fh, encoding="latin1")
    except ModuleNotFoundError as exc:
        raise ZomgError(f"body model {path} needs the '{exc.name}' package to unpickle; use the .npz version of the model") from None
    except (OSError, ValueError, EOFError, pickle.UnpicklingError) as exc:
        raise ZomgError(f"cannot read body model {path}: {exc}") from None
    missing = [k for k in ("v_template", "shapedirs", "J_regressor", "kintree_table") if k not in data]
    if missing:
        raise ZomgError(f"{path} is not an SMPL body model (missing {', '.join(missing)}): {MODEL_HELP}")
    regressor = data["J_regressor"]
    regressor = np.asarray(regressor.todense() if hasattr(regressor, "todense") else regressor, dtype=np.float64)
    parents = np.asarray(data["kintree_table"], dtype=np.int64)[0].copy()
    parents[0] = -1
    model = {"v_template": np.asarray(data["v_template"], dtype=np.float64),
             "shapedirs": np.asarray(data["shapedirs"], dtype=np.float64), "J_regressor": regressor, "parents": parents}
    n = len(parents)
    if n < 22 or regressor.shape != (n, model["v_template"].shape[0]) or not np.array_equal(parents[:22], CANONICAL_PARENTS):
        raise ZomgError(f"{path}: the body model's joints are not the SMPL body ({n} joints): {MODEL_HELP}")
    return model


def _posed_joints(model: dict, body_pose: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """[T, 22, 3] axis-angle body poses -> [T, 22, 3] joint positions (no translation) via smplx.lbs."""
    import torch
    from smplx.lbs import batch_rigid_transform, batch_rodrigues, blend_shapes, vertices2joints

    shapedirs = model["shapedirs"]
    if shapedirs.ndim == 2:
        shapedirs = shapedirs[:, :, None]
    k = min(len(betas), shapedirs.shape[-1])
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
        v = torch.from_numpy(model["v_template"])[None]
        if k:
            v = v + blend_shapes(torch.from_numpy(betas[:k])[None], torch.from_numpy(shapedirs[:, :, :k]))
        rest = vertices2joints(torch.from_numpy(model["J_regressor"][:22]), v)     # [1, 22, 3]
        parents = torch.from_numpy(model["parents"][:22])
        out = []
        for start in range(0, len(body_pose), _CHUNK):
            chunk = torch.from_numpy(np.ascontiguousarray(body_pose[start:start + _CHUNK]))
            rot = batch_rodrigues(chunk.reshape(-1, 3)).reshape(len(chunk), 22, 3, 3)
            posed, _ = batch_rigid_transform(rot, rest.expand(len(chunk), -1, -1), parents)
            out.append(posed.numpy())
    return np.concatenate(out)
