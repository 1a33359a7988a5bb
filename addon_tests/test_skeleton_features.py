"""BVH reading, rig mapping and motion features on real CMU / Bandai / DAZ / Character Creator files."""
from __future__ import annotations

import time

import numpy as np
import pytest

from zomg_blender.engine.bvh import read_bvh
from zomg_blender.engine.errors import ZomgError
from zomg_blender.engine.features import (BONE_LENGTHS, FEATURE_DIM, FEATURE_FPS, FEATURE_LAYOUT, canonical_joints,
                                          estimate_stature, infer_metres_per_unit, joint_features, mirror_joints,
                                          take_features)
from zomg_blender.engine.skeleton import CANONICAL_JOINTS, CANONICAL_PARENTS, load_mapping, map_joints, to_canonical
from zomg_blender.engine.take import Take


def _bandai(bandai_dir, pattern="dataset-1_walk_normal_001.bvh"):
    hits = sorted(bandai_dir.glob(f"dataset/*/data/{pattern}"))
    assert hits, pattern
    return hits[0]


def _cc_clip(cmu_extra_dir):
    for path in sorted((cmu_extra_dir / "bvh").glob("*.bvh")):
        with open(path) as fh:
            if "CC_Base_Hip" in fh.read(200):
                return path
    pytest.fail("no Character Creator clip in cmu-extra")


@pytest.fixture(scope="module")
def real_files(cmu_bvh, bandai_dir, cmu_extra_dir):
    return {
        "bandai": _bandai(bandai_dir),
        "cgspeed": cmu_bvh / "131_01.bvh",
        "cgspeed_01": cmu_bvh / "01_01.bvh",
        "acclaim": cmu_bvh / "13_29.bvh",
        "acclaim_hip": cmu_extra_dir / "bvh" / "16_01.bvh",
        "daz": cmu_bvh / "10_03.bvh",
        "cc": _cc_clip(cmu_extra_dir),
    }


EXPECTED = {   # a few anchors per rig: canonical -> source bone
    "bandai": {"pelvis": "Hips", "left_hip": "UpperLeg_L", "left_foot": "Toes_L", "left_collar": "Shoulder_L",
               "left_shoulder": "UpperArm_L", "left_wrist": "Hand_L", "neck": "Neck"},
    "cgspeed": {"left_hip": "LeftHip", "left_collar": "LeftCollar", "left_shoulder": "LeftShoulder", "neck": "lowerneck"},
    "cgspeed_01": {"pelvis": "Hips", "left_hip": "LeftUpLeg", "left_knee": "LeftLeg", "left_ankle": "LeftFoot",
                   "left_foot": "LeftToeBase", "left_collar": "LeftShoulder", "left_shoulder": "LeftArm",
                   "left_elbow": "LeftForeArm", "left_wrist": "LeftHand", "neck": "Neck"},
    "acclaim": {"pelvis": "root", "left_hip": "lfemur", "left_knee": "ltibia", "left_ankle": "lfoot", "left_foot": "ltoes",
                "left_collar": "lclavicle", "left_shoulder": "lhumerus", "left_elbow": "lradius", "left_wrist": "lwrist",
                "neck": "lowerneck"},
    "acclaim_hip": {"pelvis": "hip", "right_hip": "rfemur"},
    "daz": {"pelvis": "hip", "left_hip": "lThigh", "left_knee": "lShin", "left_ankle": "lFoot", "left_foot": {"end_site": "lFoot"},
            "left_collar": "lCollar", "left_shoulder": "lShldr", "left_elbow": "lForeArm", "left_wrist": "lHand"},
    "cc": {"pelvis": "CC_Base_Hip", "left_hip": "CC_Base_L_Thigh", "left_knee": "CC_Base_L_Calf", "left_foot": "CC_Base_L_ToeBase",
           "left_collar": "CC_Base_L_Clavicle", "left_shoulder": "CC_Base_L_Upperarm", "left_elbow": "CC_Base_L_Forearm",
           "left_wrist": "CC_Base_L_Hand", "right_wrist": "CC_Base_R_Hand", "head": "CC_Base_Head"},
}


@pytest.mark.parametrize("rig", sorted(EXPECTED))
def test_real_rigs_map_and_give_plausible_bodies(real_files, rig):
    take = read_bvh(real_files[rig])
    assert take.up_axis == "Y" and take.fps > 0 and take.positions.dtype == np.float32
    plan = map_joints(take.joint_names, parents=take.parents, end_sites=take.meta["end_sites"])
    for canonical, source in EXPECTED[rig].items():
        assert plan[canonical] == source, (canonical, plan[canonical])
    assert plan["spine2"]["chain"][0] == plan["pelvis"] and plan["spine2"]["chain"][-1] == plan["neck"]
    source = to_canonical(take)
    unit = infer_metres_per_unit(source)
    assert 1.4 <= estimate_stature(source) * unit <= 2.0, (unit, estimate_stature(source))
    assert unit == {"bandai": 0.01, "acclaim": 0.01, "daz": 0.01, "cc": 0.01}.get(rig, 0.0254 / 0.45)
    joints = canonical_joints(take)
    assert joints.shape[1:] == (22, 3) and np.isfinite(joints).all()
    bones = np.linalg.norm(joints[:, 1:] - joints[:, CANONICAL_PARENTS[1:]], axis=2)
    np.testing.assert_allclose(bones, np.broadcast_to(BONE_LENGTHS[1:], bones.shape), atol=1e-4)   # standard body
    head_over_pelvis = np.median(joints[:, 15, 1] - joints[:, 0, 1])
    assert 0.35 < head_over_pelvis < 0.9          # upright, Y up, metres
    feet = joints[:, [7, 8, 10, 11], 1]
    assert abs(np.percentile(feet.min(axis=1), 1)) < 1e-4 and np.median(feet.min(axis=1)) < 0.12   # floor at 0


def test_bvh_frame_rate_rows_and_speed(real_files):
    t0 = time.perf_counter()
    take = read_bvh(real_files["bandai"])
    elapsed = time.perf_counter() - t0
    assert abs(take.fps - 30) < 0.01 and elapsed < 0.1
    feats = take_features(take)
    assert feats.shape == (int(np.floor((take.frames - 1) / take.fps * FEATURE_FPS + 1e-9)) + 1, FEATURE_DIM)
    assert feats.dtype == np.float32 and np.isfinite(feats).all()
    cmu = read_bvh(real_files["cgspeed_01"])
    assert cmu.fps == pytest.approx(120) and cmu.frames == 2752 and len(cmu.joint_names) == 31
    # FK sanity: a child stays at its bone length from its parent in every frame
    child, parent = cmu.joint_names.index("LeftLeg"), cmu.joint_names.index("LeftUpLeg")
    bone = np.linalg.norm(cmu.positions[:, child] - cmu.positions[:, parent], axis=1)
    assert np.ptp(bone) < 1e-3 * bone.mean()


def test_long_take_features_are_fast(real_files):
    take = read_bvh(real_files["acclaim"])                 # 120 fps; tile to 10 minutes
    reps = int(np.ceil(600 * take.fps / take.frames))
    long = Take(np.tile(take.positions, (reps, 1, 1)), take.joint_names, take.parents, take.fps, "Y", "long")
    t0 = time.perf_counter()
    feats = take_features(long)
    elapsed = time.perf_counter() - t0
    assert feats.shape[0] >= 600 * FEATURE_FPS and elapsed < 2.0, elapsed


def test_features_invariant_to_vertical_rotation_translation_and_up_axis(real_files):
    take = read_bvh(real_files["cgspeed"])
    base = take_features(take)
    a = np.radians(73.0)
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    moved = take.positions @ rot.T + np.array([310.0, 42.0, -95.0])
    other = take_features(Take(moved.astype(np.float32), take.joint_names, take.parents, take.fps, "Y", "moved"))
    np.testing.assert_allclose(other, base, atol=2e-3)
    p = take.positions
    z_up = np.stack([p[..., 0], -p[..., 2], p[..., 1]], axis=-1)     # Blender's view of a Y-up BVH
    blender = take_features(Take(z_up, take.joint_names, take.parents, take.fps, "Z", "zup"))
    np.testing.assert_allclose(blender, base, atol=1e-4)
    # features do change with the motion itself (the assertions above could not pass on constants)
    assert np.abs(base[:, FEATURE_LAYOUT["local_vel"]]).max() > 0.01
    assert 0 < base[:, FEATURE_LAYOUT["foot_contact"]].mean() < 1


def test_mirror_twice_is_identity_and_mirror_swaps_sides(real_files):
    joints = canonical_joints(read_bvh(real_files["bandai"]))
    once = mirror_joints(joints)
    np.testing.assert_array_equal(mirror_joints(once), joints)
    li, ri = CANONICAL_JOINTS.index("left_wrist"), CANONICAL_JOINTS.index("right_wrist")
    np.testing.assert_allclose(once[:, li, 1:], joints[:, ri, 1:])
    np.testing.assert_allclose(once[:, li, 0], -joints[:, ri, 0])
    assert np.isfinite(joint_features(once)).all()


def _rig(names_by_canonical, extra=()):
    names = list(names_by_canonical.values()) + list(extra)
    return names, names_by_canonical


SYNTHETIC = {
    "mixamo": {"pelvis": "mixamorig:Hips", "left_hip": "mixamorig:LeftUpLeg", "left_knee": "mixamorig:LeftLeg",
               "left_ankle": "mixamorig:LeftFoot", "left_foot": "mixamorig:LeftToeBase", "right_hip": "mixamorig:RightUpLeg",
               "right_knee": "mixamorig:RightLeg", "right_ankle": "mixamorig:RightFoot", "right_foot": "mixamorig:RightToeBase",
               "neck": "mixamorig:Neck", "head": "mixamorig:Head", "left_collar": "mixamorig:LeftShoulder",
               "left_shoulder": "mixamorig:LeftArm", "left_elbow": "mixamorig:LeftForeArm", "left_wrist": "mixamorig:LeftHand",
               "right_collar": "mixamorig:RightShoulder", "right_shoulder": "mixamorig:RightArm",
               "right_elbow": "mixamorig:RightForeArm", "right_wrist": "mixamorig:RightHand"},
    "mixamo1": {"pelvis": "mixamorig1:Hips", "left_hip": "mixamorig1:LeftUpLeg", "left_knee": "mixamorig1:LeftLeg",
                "left_ankle": "mixamorig1:LeftFoot", "right_hip": "mixamorig1:RightUpLeg", "right_knee": "mixamorig1:RightLeg",
                "right_ankle": "mixamorig1:RightFoot", "head": "mixamorig1:Head", "neck": "mixamorig1:Neck",
                "left_shoulder": "mixamorig1:LeftArm", "left_elbow": "mixamorig1:LeftForeArm", "left_wrist": "mixamorig1:LeftHand",
                "right_shoulder": "mixamorig1:RightArm", "right_elbow": "mixamorig1:RightForeArm", "right_wrist": "mixamorig1:RightHand"},
    "unreal": {"pelvis": "pelvis", "left_hip": "thigh_l", "left_knee": "calf_l", "left_ankle": "foot_l", "left_foot": "ball_l",
               "right_hip": "thigh_r", "right_knee": "calf_r", "right_ankle": "foot_r", "right_foot": "ball_r",
               "neck": "neck_01", "head": "head", "left_collar": "clavicle_l", "left_shoulder": "upperarm_l",
               "left_elbow": "lowerarm_l", "left_wrist": "hand_l", "right_collar": "clavicle_r", "right_shoulder": "upperarm_r",
               "right_elbow": "lowerarm_r", "right_wrist": "hand_r"},
    "rigify": {"pelvis": "DEF-spine", "left_hip": "DEF-thigh.L", "left_knee": "DEF-shin.L", "left_ankle": "DEF-foot.L",
               "left_foot": "DEF-toe.L", "right_hip": "DEF-thigh.R", "right_knee": "DEF-shin.R", "right_ankle": "DEF-foot.R",
               "right_foot": "DEF-toe.R", "neck": "DEF-spine.004", "head": "DEF-spine.006", "left_collar": "DEF-shoulder.L",
               "left_shoulder": "DEF-upper_arm.L", "left_elbow": "DEF-forearm.L", "left_wrist": "DEF-hand.L",
               "right_collar": "DEF-shoulder.R", "right_shoulder": "DEF-upper_arm.R", "right_elbow": "DEF-forearm.R",
               "right_wrist": "DEF-hand.R"},
    "rokoko": {"pelvis": "Hips", "left_hip": "LeftThigh", "left_knee": "LeftShin", "left_ankle": "LeftFoot", "left_foot": "LeftToe",
               "right_hip": "RightThigh", "right_knee": "RightShin", "right_ankle": "RightFoot", "right_foot": "RightToe",
               "neck": "Neck", "head": "Head", "left_collar": "LeftShoulder", "left_shoulder": "LeftArm",
               "left_elbow": "LeftForeArm", "left_wrist": "LeftHand", "right_collar": "RightShoulder",
               "right_shoulder": "RightArm", "right_elbow": "RightForeArm", "right_wrist": "RightHand"},
}
DISTRACTORS = {
    "mixamo": ["mixamorig:Spine", "mixamorig:Spine1", "mixamorig:Spine2", "mixamorig:LeftHandIndex1", "mixamorig:HeadTop_End"],
    "mixamo1": ["mixamorig1:Spine", "mixamorig1:LeftShoulder", "mixamorig1:RightShoulder"],
    "unreal": ["root", "spine_01", "spine_02", "spine_03", "spine_04", "spine_05", "neck_02", "thigh_twist_01_l", "ik_foot_l"],
    "rigify": ["DEF-spine.001", "DEF-spine.002", "DEF-spine.003", "DEF-spine.005", "DEF-thigh.L.001", "DEF-pelvis.L", "DEF-pelvis.R"],
    "rokoko": ["Spine1", "Spine2", "Spine3", "Spine4"],
}


@pytest.mark.parametrize("rig", sorted(SYNTHETIC))
def test_synthetic_rig_names_map(rig):
    names = list(SYNTHETIC[rig].values()) + DISTRACTORS[rig]
    plan = map_joints(names[::-1])
    for canonical, source in SYNTHETIC[rig].items():
        assert plan[canonical] == source, (canonical, plan[canonical])
    if rig == "mixamo1":   # clavicles present but not listed as expected anchors: they must still be the collars
        assert plan["left_collar"] == "mixamorig1:LeftShoulder"


def test_smpl_names_map_to_themselves_and_user_mapping_overrides():
    names = [n.upper() if i % 2 else n for i, n in enumerate(CANONICAL_JOINTS)]
    plan = map_joints(names)
    assert [plan[c].lower() for c in CANONICAL_JOINTS] == CANONICAL_JOINTS
    smplx = CANONICAL_JOINTS + ["jaw", "left_eye_smplx", "left_index1"]
    assert map_joints(smplx)["spine3"] == "spine3"
    rokoko = list(SYNTHETIC["rokoko"].values())
    plan = map_joints(rokoko, mapping={"left_wrist": "LeftForeArm", "left_elbow": "LeftArm"})
    assert plan["left_wrist"] == "LeftForeArm" and plan["left_elbow"] == "LeftArm"


def test_unmappable_rig_error_names_missing_joints(tmp_path):
    with pytest.raises(ZomgError, match=r"missing: .*left_knee.*right_knee"):
        map_joints(["Hips", "LeftUpLeg", "RightUpLeg", "Head", "LeftArm", "RightArm", "LeftForeArm", "RightForeArm",
                    "LeftHand", "RightHand", "LeftFoot", "RightFoot"])
    with pytest.raises(ZomgError, match="no joint 'nope'"):
        map_joints(list(SYNTHETIC["rokoko"].values()), mapping={"head": "nope"})
    bad = tmp_path / "map.json"
    bad.write_text("{not json")
    with pytest.raises(ZomgError, match="not valid JSON"):
        load_mapping(bad)
    good = tmp_path / "good.json"
    good.write_text('{"head": "Neck"}')
    assert load_mapping(good) == {"head": "Neck"}


def test_derived_joints_for_sparse_rig():
    """A rig with no collars, no toes and two spine bones still yields 22 joints in sensible places."""
    names = ["Hips", "Spine", "Chest", "Neck", "Head", "LeftUpLeg", "LeftLeg", "LeftFoot", "RightUpLeg", "RightLeg",
             "RightFoot", "LeftArm", "LeftForeArm", "LeftHand", "RightArm", "RightForeArm", "RightHand"]
    parents = np.array([-1, 0, 1, 2, 3, 0, 5, 6, 0, 8, 9, 2, 11, 12, 2, 14, 15])
    rest = np.array([[0, 1, 0], [0, 1.1, 0], [0, 1.3, 0], [0, 1.5, 0], [0, 1.6, 0], [.1, .95, 0], [.1, .5, 0], [.1, .1, 0],
                     [-.1, .95, 0], [-.1, .5, 0], [-.1, .1, 0], [.2, 1.45, 0], [.45, 1.45, 0], [.7, 1.45, 0],
                     [-.2, 1.45, 0], [-.45, 1.45, 0], [-.7, 1.45, 0]], dtype=np.float32)
    take = Take(np.repeat(rest[None], 5, axis=0), names, parents, 30.0, "Y", "sparse")
    joints = to_canonical(take)
    spine = joints[0, [0, 3, 6, 9, 12], 1]
    assert np.all(np.diff(spine) > 0)                                   # pelvis < spine1 < spine2 < spine3 < neck
    assert np.allclose(joints[0, CANONICAL_JOINTS.index("left_collar")], 0.6 * rest[3] + 0.4 * rest[11])
    assert np.allclose(joints[0, CANONICAL_JOINTS.index("left_foot")], rest[7])


@pytest.mark.parametrize("content, message", [
    (b"", "not a BVH file"),
    (b"\x00\x01garbage\xff" * 50, "not a BVH file"),
    (b"HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n"
     b"}\nMOTION\nFrames: 3\nFrame Time: 0.0333\n0 1 2 3 4 5\n0 1 2 3 4 5\n0 1 2", "truncated"),
    (b"HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n"
     b"}\nMOTION\nFrames: 0\nFrame Time: 0.0333\n", "no frames"),
    (b"HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n"
     b"}\nMOTION\nFrames: 1\nFrame Time: 0.0333\n0 nan 2 3 4 5\n", "NaN"),
    (b"HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n"
     b"}\nMOTION\nFrames: 2\nFrame Time: 0.0333\n0 1 2 3 4 5\n0 1 2 x 4 5\n", "truncated"),
    (b"HIERARCHY\nROOT Hips\n{\n OFFSET 0 0\n}\nMOTION\nFrames: 1\nFrame Time: 0.03\n", "broken BVH hierarchy"),
])
def test_bvh_rejects_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.bvh"
    path.write_bytes(content)
    with pytest.raises(ZomgError, match=message) as info:
        read_bvh(path)
    assert "\n" not in str(info.value)
    with pytest.raises(ZomgError, match="cannot read"):
        read_bvh(tmp_path / "missing.bvh")


def test_bvh_channel_orders_and_three_channel_root(tmp_path):
    """A 90 degree turn about Y, written in two channel orders, moves the child the same way."""
    def bvh(order, values):
        return (f"HIERARCHY\nROOT a\n{{\n OFFSET 0 0 0\n CHANNELS 3 {order}\n JOINT b\n {{\n  OFFSET 1 0 0\n"
                f"  CHANNELS 3 Zrotation Xrotation Yrotation\n  End Site\n  {{\n   OFFSET 0 1 0\n  }}\n }}\n}}\n"
                f"MOTION\nFrames: 1\nFrame Time: 0.04\n{values} 0 0 0\n")
    for order, values in [("Zrotation Xrotation Yrotation", "0 0 90"), ("Yrotation Xrotation Zrotation", "90 0 0")]:
        path = tmp_path / "t.bvh"
        path.write_text(bvh(order, values))
        take = read_bvh(path)
        assert take.fps == pytest.approx(25) and take.joint_names == ["a", "b"] and list(take.parents) == [-1, 0]
        np.testing.assert_allclose(take.positions[0, 1], [0, 0, -1], atol=1e-6)
        np.testing.assert_allclose(take.meta["end_sites"]["b"][0], [0, 1, -1], atol=1e-6)


def test_canonical_parents_are_smpl():
    assert len(CANONICAL_JOINTS) == 22 and CANONICAL_PARENTS[CANONICAL_JOINTS.index("left_wrist")] == CANONICAL_JOINTS.index("left_elbow")
    assert all(CANONICAL_PARENTS[i] < i for i in range(1, 22))


# ---- SMPL / AMASS motion through a small synthetic SMPL+H body model --------------------------------------

def _smplh_model(path, vertices=64, seed=0):
    """A well-formed SMPL+H model file (the keys smplx reads), random arrays, few vertices."""
    rng = np.random.default_rng(seed)
    parents = list(CANONICAL_PARENTS)
    for wrist in (20, 21):                                   # 5 fingers x 3 joints per hand
        for _ in range(5):
            base = wrist
            for _ in range(3):
                parents.append(base)
                base = len(parents) - 1
    n = len(parents)
    regressor = rng.random((n, vertices)) ** 4
    weights = rng.random((vertices, n))
    np.savez(path, v_template=rng.normal(0, 0.5, (vertices, 3)), shapedirs=rng.normal(0, 0.02, (vertices, 3, 16)),
             posedirs=rng.normal(0, 0.001, (vertices, 3, 9 * (n - 1))), J_regressor=regressor / regressor.sum(1, keepdims=True),
             kintree_table=np.array([[4294967295] + parents[1:], list(range(n))], dtype=np.int64),
             weights=weights / weights.sum(1, keepdims=True), f=rng.integers(0, vertices, (40, 3)),
             hands_componentsl=np.eye(45), hands_componentsr=np.eye(45), hands_meanl=np.zeros(45), hands_meanr=np.zeros(45))
    return path


def _amass_motion(path, frames=50, seed=1, rate_key="mocap_framerate", n_betas=16):
    rng = np.random.default_rng(seed)
    np.savez(path, poses=rng.normal(0, 0.3, (frames, 156)), trans=np.cumsum(rng.normal(0, 0.01, (frames, 3)), axis=0),
             betas=rng.normal(0, 1, n_betas), gender=np.array("neutral"), **{rate_key: np.array(60.0)})
    return path


def test_read_smpl_npz_matches_smplx_forward(tmp_path):
    import smplx
    import torch
    from zomg_blender.engine.smpl import read_smpl_npz

    model_file = _smplh_model(tmp_path / "SMPLH_NEUTRAL.npz")
    # smplx's SMPLH uses 10 shape coefficients when the model has fewer than 300, so compare with 10
    motion_file = _amass_motion(tmp_path / "walk_poses.npz", rate_key="mocap_frame_rate", n_betas=10)
    take = read_smpl_npz(motion_file, model_file)
    assert take.fps == 60 and take.up_axis == "Z" and take.positions.shape == (50, 22, 3)
    assert take.joint_names == CANONICAL_JOINTS and take.meta["metres_per_unit"] == 1.0

    tips = {f"{h}{t}": 0 for h in "lr" for t in ("thumb", "index", "middle", "ring", "pinky")}
    ids = dict(tips, nose=0, reye=1, leye=2, rear=3, lear=4, LBigToe=5, LSmallToe=6, LHeel=7, RBigToe=8, RSmallToe=9, RHeel=10)
    body = smplx.SMPLH(str(model_file), ext="npz", use_pca=False, num_betas=10, batch_size=50, vertex_ids=ids)
    motion = np.load(motion_file)
    poses = torch.tensor(motion["poses"], dtype=torch.float32)
    with torch.no_grad():
        out = body(betas=torch.tensor(motion["betas"], dtype=torch.float32)[None].expand(50, -1), global_orient=poses[:, :3],
                   body_pose=poses[:, 3:66], left_hand_pose=poses[:, 66:111], right_hand_pose=poses[:, 111:156],
                   transl=torch.tensor(motion["trans"], dtype=torch.float32))
    np.testing.assert_allclose(take.positions, out.joints[:, :22].numpy(), atol=1e-4)

    # a folder holding the model is searched by type and gender; features come out on the standard body
    folder = tmp_path / "models"
    folder.mkdir()
    _smplh_model(folder / "SMPLH_NEUTRAL.npz")
    again = read_smpl_npz(motion_file, folder)
    np.testing.assert_allclose(again.positions, take.positions)


def test_read_smpl_npz_errors_say_what_to_provide(tmp_path):
    from zomg_blender.engine.smpl import read_smpl_npz

    motion = _amass_motion(tmp_path / "m.npz")
    for model in (None, tmp_path / "nowhere", tmp_path):
        with pytest.raises(ZomgError, match=r"SMPL_NEUTRAL\.npz.*SMPLX_NEUTRAL\.npz"):
            read_smpl_npz(motion, model)
    not_motion = tmp_path / "x.npz"
    np.savez(not_motion, joints=np.zeros((3, 22, 3)))
    with pytest.raises(ZomgError, match="needs 'poses' and 'trans'"):
        read_smpl_npz(not_motion, _smplh_model(tmp_path / "SMPLH_NEUTRAL.npz"))
    garbage = tmp_path / "g.npz"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(ZomgError, match="cannot read SMPL motion"):
        read_smpl_npz(garbage, tmp_path / "SMPLH_NEUTRAL.npz")
