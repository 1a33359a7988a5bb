"""Map any humanoid rig's joints onto the 22 SMPL/HumanML3D joints the motion encoder expects.

Bone names are matched through one alias table of normalised names (case, separators, namespaces such as
`mixamorig:` / `Armature|` / `DEF-` / `CC_Base_` / `Bip01` and the side marker are stripped), so one table
covers Bandai, CMU (cgspeed, Acclaim, DAZ), Character Creator, Mixamo, SMPL/SMPL-X, Unreal, Rigify,
Rokoko and 3ds Max Biped. Joints a rig lacks are derived (see `map_joints`).
"""
from __future__ import annotations

import json
import os
import re

import numpy as np

from .errors import ZomgError
from .take import Take

CANONICAL_JOINTS = [
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
]
CANONICAL_PARENTS = np.array([-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19])

# Normalised core names, best first. Sided entries are matched after the side marker is removed.
# Resolution order matters where rigs disagree: "shoulder" is the upper arm in SMPL and some CMU
# conversions but the clavicle in Mixamo/cgspeed/Bandai/Rigify, so the upper arm is resolved first
# preferring "arm"/"upperarm", and the collar then takes "shoulder" only if it is still free.
_UNSIDED = {
    "pelvis": ["hips", "hip", "pelvis", "root", "spine"],
    "neck": ["lowerneck", "necklower", "neck", "neck01", "necktwist01", "neck1", "spine004"],
    "head": ["head", "spine006"],
}
_SIDED = {
    "hip": ["upleg", "thigh", "femur", "upperleg", "thighbend", "hip"],
    "knee": ["leg", "shin", "tibia", "calf", "lowerleg", "shinbend", "knee"],
    "ankle": ["ankle", "foot"],
    "foot": ["toebase", "toes", "toe", "ball", "toe0", "foot"],
    "shoulder": ["upperarm", "arm", "shldr", "shldrbend", "humerus", "shoulder"],
    "collar": ["clavicle", "collar", "shoulder"],
    "elbow": ["forearm", "lowerarm", "radius", "forearmbend", "elbow"],
    "wrist": ["wrist", "hand"],
}
_PREFIX_TOKENS = {"def", "mixamorig", "cc", "base", "bip01", "bip001", "orig"}
_SIDE_TOKENS = {"l": "left", "left": "left", "r": "right", "right": "right"}

# Derived joints (documented in docs/FEATURES.md): spine1..3 sit on the pelvis->neck bone chain at the
# arc-length fractions of the SMPL neutral body (pelvis-spine1-spine2-spine3-neck = 0.11, 0.135, 0.055,
# 0.215 m), so rigs with 1 to 5 spine bones give comparable spines.
SPINE_FRACTIONS = {"spine1": 0.22, "spine2": 0.48, "spine3": 0.59}
COLLAR_FROM_NECK = 0.4   # a missing collar: 40 % of the way from the neck base to the shoulder
REQUIRED = ["pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "head",
            "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist"]


def _tokens(name: str) -> list[str]:
    name = re.split(r"[:|]", name)[-1]
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", name)
    return [t for t in re.split(r"[^A-Za-z0-9]+", name.lower()) if t and not re.fullmatch(r"mixamorig\d*", t)]


def _parses(name: str) -> list[tuple[str | None, str]]:
    """Every plausible (side, core) reading of a bone name, e.g. 'mixamorig:LeftUpLeg' -> ('left', 'upleg')."""
    toks = _tokens(name)
    while len(toks) > 1 and toks[0] in _PREFIX_TOKENS:
        toks = toks[1:]
    out: list[tuple[str | None, str]] = [(None, "".join(toks))]
    for k, tok in enumerate(toks):
        if tok in _SIDE_TOKENS and len(toks) > 1:
            out.append((_SIDE_TOKENS[tok], "".join(toks[:k] + toks[k + 1:])))
    if toks:
        first = toks[0]
        for marker in ("left", "right", "l", "r"):          # glued markers: 'lfemur', 'lefthip'
            if first.startswith(marker) and len(first) > len(marker):
                out.append((_SIDE_TOKENS[marker], first[len(marker):] + "".join(toks[1:])))
    return out


def map_joints(joint_names, mapping: dict | None = None, parents=None, end_sites=()) -> dict:
    """canonical joint -> source joint name, or a recipe {"mix": [[name, weight], ...]},
    {"chain": [names from pelvis to neck], "at": fraction} or {"end_site": name}.

    `mapping` (canonical -> source name or recipe) overrides the automatic choice. `parents` (indices
    into joint_names) lets spine joints follow the real spine chain; `end_sites` names joints whose BVH
    End Site can stand in for a missing toe. Raises ZomgError naming the canonical joints it cannot find.
    """
    names = list(joint_names)
    mapping = dict(mapping or {})
    unknown = sorted(set(mapping) - set(CANONICAL_JOINTS))
    if unknown:
        raise ZomgError(f"joint mapping names unknown canonical joints: {', '.join(unknown)}")
    for canonical, source in mapping.items():
        if isinstance(source, str) and source not in names:
            raise ZomgError(f"joint mapping: {canonical} -> {source!r}, but the rig has no joint {source!r}")
    lower = {n.lower(): n for n in names}
    if all(c in lower for c in CANONICAL_JOINTS):          # SMPL / SMPL-X / HumanML3D names
        return {c: mapping.get(c, lower[c]) for c in CANONICAL_JOINTS}

    index: dict[tuple[str | None, str], list[str]] = {}
    for n in names:
        for key in _parses(n):
            index.setdefault(key, []).append(n)
    used = {s for s in mapping.values() if isinstance(s, str)}
    result: dict = {}

    def pick(side, aliases):
        for alias in aliases:
            for n in index.get((side, alias), []):
                if n not in used:
                    used.add(n)
                    return n
        return None

    for canonical, aliases in _UNSIDED.items():
        result[canonical] = mapping.get(canonical) or pick(None, aliases)
    for part, aliases in _SIDED.items():
        for side in ("left", "right"):
            canonical = f"{side}_{part}"
            result[canonical] = mapping.get(canonical) or pick(side, aliases)

    missing = [c for c in REQUIRED if result.get(c) is None]
    if missing:
        raise ZomgError(f"cannot map the rig's joints onto the body model; missing: {', '.join(missing)} "
                        f"(give a joint mapping JSON, canonical name -> bone name)")
    for side in ("left", "right"):
        if result[f"{side}_foot"] is None:
            ankle = result[f"{side}_ankle"]
            result[f"{side}_foot"] = {"end_site": ankle} if isinstance(ankle, str) and ankle in end_sites else {"mix": [[ankle, 1.0]]}
        if result[f"{side}_collar"] is None:
            result[f"{side}_collar"] = {"mix": [[result["neck"] if isinstance(result["neck"], str) else result["head"], 1 - COLLAR_FROM_NECK],
                                                [result[f"{side}_shoulder"], COLLAR_FROM_NECK]]}
    if result["neck"] is None:
        result["neck"] = {"mix": [[result["left_shoulder"], 0.5], [result["right_shoulder"], 0.5]]}
    chain = _spine_chain(names, parents, result["pelvis"], result["neck"])
    for canonical, fraction in SPINE_FRACTIONS.items():
        result[canonical] = mapping.get(canonical) or {"chain": chain, "at": fraction}
    return {c: result[c] for c in CANONICAL_JOINTS}


def _spine_chain(names, parents, pelvis, neck) -> list:
    """Source joints from the pelvis up to the neck base, following parents where they lead there."""
    if parents is not None and isinstance(pelvis, str) and isinstance(neck, str):
        at = {n: i for i, n in enumerate(names)}
        path, j = [neck], at[neck]
        while parents[j] >= 0 and names[j] != pelvis:
            j = int(parents[j])
            path.append(names[j])
        if path[-1] == pelvis:
            return path[::-1]
    return [pelvis, neck]


def load_mapping(path) -> dict:
    """A user joint mapping from JSON: {"left_hip": "thigh_L", ...} (canonical name -> bone name)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise ZomgError(f"cannot read joint mapping {os.fspath(path)}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ZomgError(f"joint mapping {os.fspath(path)} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise ZomgError(f"joint mapping {os.fspath(path)} must be a JSON object: canonical joint -> bone name")
    return data


def to_canonical(take: Take, mapping: dict | None = None) -> np.ndarray:
    """[T, 22, 3] float32 canonical joint positions, in the take's own units and axes."""
    names = list(take.joint_names)
    end_sites = take.meta.get("end_sites", {}) if isinstance(take.meta, dict) else {}
    plan = map_joints(names, mapping, parents=take.parents, end_sites=end_sites)
    at = {n: i for i, n in enumerate(names)}
    pos = np.asarray(take.positions, dtype=np.float32)
    out = np.empty((pos.shape[0], len(CANONICAL_JOINTS), 3), dtype=np.float32)

    def source(ref) -> np.ndarray:
        if isinstance(ref, str):
            if ref not in at:
                raise ZomgError(f"joint mapping refers to {ref!r}, which the rig does not have")
            return pos[:, at[ref]]
        if isinstance(ref, dict) and "end_site" in ref:
            if ref["end_site"] not in end_sites:
                raise ZomgError(f"joint mapping: no End Site under {ref['end_site']!r}")
            return np.asarray(end_sites[ref["end_site"]], dtype=np.float32)
        if isinstance(ref, dict) and "mix" in ref:
            return sum(float(w) * source(n) for n, w in ref["mix"])
        if isinstance(ref, dict) and "chain" in ref:
            return _along_chain(np.stack([source(n) for n in ref["chain"]], axis=1), float(ref["at"]))
        raise ZomgError(f"joint mapping entry {ref!r} is neither a bone name nor a recipe")

    for k, canonical in enumerate(CANONICAL_JOINTS):
        out[:, k] = source(plan[canonical])
    if not (mapping or {}).keys() & {"left_collar", "right_collar"}:
        _fix_collars(out)
    return out


def _fix_collars(joints: np.ndarray) -> None:
    """Collar joints sitting on the neck (CMU's clavicles start at the spine) move COLLAR_FROM_NECK of the
    way towards the shoulder, where SMPL's collars are, so the collar bone has a direction."""
    neck = joints[:, CANONICAL_JOINTS.index("neck")]
    for side in ("left", "right"):
        c, s = CANONICAL_JOINTS.index(f"{side}_collar"), CANONICAL_JOINTS.index(f"{side}_shoulder")
        if np.median(np.linalg.norm(joints[:, c] - neck, axis=1)) < 0.25 * np.median(np.linalg.norm(joints[:, s] - neck, axis=1)):
            joints[:, c] = (1 - COLLAR_FROM_NECK) * neck + COLLAR_FROM_NECK * joints[:, s]


def _along_chain(chain: np.ndarray, fraction: float) -> np.ndarray:
    """Point at `fraction` of the arc length of a joint chain [T, K, 3]; bone lengths taken as their medians."""
    if chain.shape[1] == 1:
        return chain[:, 0]
    lengths = np.median(np.linalg.norm(np.diff(chain, axis=1), axis=2), axis=0)
    cumulative = np.concatenate([[0.0], np.cumsum(lengths)])
    if cumulative[-1] <= 0:
        return chain[:, 0]
    target = fraction * cumulative[-1]
    seg = int(np.clip(np.searchsorted(cumulative, target, side="right") - 1, 0, len(lengths) - 1))
    t = (target - cumulative[seg]) / lengths[seg] if lengths[seg] > 0 else 0.0
    return (1 - t) * chain[:, seg] + t * chain[:, seg + 1]
