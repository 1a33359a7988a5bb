"""The motion–text encoder: exact chunked inference, checkpoints, the shipped weights on real clips,
`zomg score`, and a smoke run of `zomg train` on a handful of real Bandai clips."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from zomg_blender.engine.bvh import read_bvh
from zomg_blender.engine.encoder import (EncoderConfig, MotionEncoder, MotionTextModel, load_encoder, load_model,
                                         save_checkpoint)
from zomg_blender.engine.errors import ZomgError
from zomg_blender.engine.features import canonical_joints, take_features

REPO = Path(__file__).resolve().parents[1]
torch.set_num_threads(1)


def zomg(*args, timeout=180) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("ZOMG_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "zomg_blender", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _bandai(bandai_dir: Path, shared_data: Path, split: str, per_content: int = 1) -> list[tuple[Path, str, str]]:
    """(path, content, style) of the first `per_content` clips of each content in `split`."""
    splits = {r["file"]: r["split"] for r in csv.DictReader(open(shared_data / "bandai" / "splits.csv"))}
    seen: dict[str, int] = {}
    out = []
    for r in csv.DictReader(open(shared_data / "bandai" / "manifest.csv")):
        if r["bvh_present"] == "yes" and splits.get(r["file"]) == split and seen.get(r["content"], 0) < per_content:
            seen[r["content"]] = seen.get(r["content"], 0) + 1
            out.append((bandai_dir / r["file"], r["content"], r["style"]))
    return out


def test_chunked_encoding_equals_whole_take_and_pooling_is_differentiable():
    torch.manual_seed(0)
    enc = MotionEncoder(MotionTextModel(EncoderConfig(chunk=64)), torch.device("cpu"))
    x = np.random.default_rng(0).normal(size=(700, 263)).astype(np.float32)
    chunked = enc.frame_features(x)
    whole = enc.model.frames(enc.model.normalise(torch.as_tensor(x))[None])[0]
    assert chunked.shape == (700, 256)
    assert (chunked - whole).abs().max() < 1e-4
    w = torch.rand(3, 700, requires_grad=True)
    pooled = enc.pool(chunked, w)
    assert torch.allclose(pooled.norm(dim=-1), torch.ones(3), atol=1e-5)
    pooled[:, 0].sum().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0


def test_checkpoint_round_trip_and_bad_files(tmp_path):
    model = MotionTextModel(EncoderConfig(d_model=64, ff_dim=128, n_layers=1))
    model.feat_mean.fill_(0.5)
    save_checkpoint(model, tmp_path / "m.safetensors", meta={"note": "test"})
    back, meta = load_model(tmp_path / "m.safetensors")
    assert meta == {"note": "test"} and back.cfg.d_model == 64
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), back.state_dict().values()))
    (tmp_path / "bad.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(ZomgError, match="cannot load encoder checkpoint"):
        load_model(tmp_path / "bad.safetensors")
    with pytest.raises(ZomgError, match="not found"):
        load_model(tmp_path / "missing.safetensors")


def test_shipped_weights_recognise_held_out_bandai_clips(bandai_dir, shared_data):
    """One test clip per content, held-out wordings: the shipped encoder gets nearly all right."""
    from zomg_blender.engine import wordings

    enc = load_encoder(device="cpu")
    assert "non-commercial" in enc.meta["licence"] or "BY-NC" in enc.meta["licence"]
    clips = _bandai(bandai_dir, shared_data, "test")
    contents = sorted({c for _, c, _ in clips})
    protos = torch.nn.functional.normalize(torch.stack([enc.encode_texts(wordings.eval_texts(c)).mean(0) for c in contents]), dim=-1)
    right, wrong = 0, []
    for path, content, _ in clips:
        sims = protos @ enc.encode_motion(take_features(read_bvh(path)))
        guess = contents[int(sims.argmax())]
        if guess == content or guess in wordings.related(content):  # bye ~ wave-right-hand, run ~ dash ...
            right += 1
        else:
            wrong.append((path.name, guess))
    assert right / len(clips) >= 0.85, wrong


def test_score_cli_single_and_manifest(bandai_dir, shared_data, tmp_path):
    (bow, _, _), = [c for c in _bandai(bandai_dir, shared_data, "test") if c[1] == "bow"]
    proc = zomg("score", bow, "--texts", "a person bows politely", "a person runs fast", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["best"] == "a person bows politely" and out["scores"][0] > out["scores"][1]
    manifest = tmp_path / "cases.jsonl"
    manifest.write_text("\n".join(json.dumps(c) for c in [
        {"id": "bow", "motion": str(bow), "texts": ["a person kicks", "someone takes a bow"]},
        {"id": "gone", "motion": str(tmp_path / "missing.bvh"), "texts": ["a person kicks"]},
    ]))
    proc = zomg("score", "--manifest", manifest, "--json", tmp_path / "out.jsonl", "--device", "cpu")
    assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1 and "gone" in proc.stderr
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [x["id"] for x in lines] == ["bow", "gone"]
    assert lines[0]["scores"][1] > lines[0]["scores"][0] and "error" in lines[1]
    proc = zomg("score", bow, "--texts", "  ", "--device", "cpu")
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1


def test_train_smoke_on_real_clips(bandai_dir, shared_data, tmp_path):
    """`zomg train` runs end to end on a tiny prepared set and writes a loadable checkpoint."""
    from zomg_blender.engine.training import TrainingClip, save_prepared

    clips = [TrainingClip(canonical_joints(read_bvh(p)), c, s, split, p.name, "bandai")
             for split in ("train", "val") for p, c, s in _bandai(bandai_dir, shared_data, split)[:8]]
    prepared = save_prepared(tmp_path / "prepared.npz", clips, log=lambda m: None)
    proc = zomg("train", "--prepared", prepared, "--preset", "smoke", "--steps", "6", "--device", "cpu",
                "--out", tmp_path / "smoke.safetensors", "--log-json", tmp_path / "log.json")
    assert proc.returncode == 0, proc.stderr
    history = json.loads((tmp_path / "log.json").read_text())["history"]
    assert history and 0.0 <= history[-1]["top1"] <= 1.0
    enc = load_encoder(tmp_path / "smoke.safetensors", "cpu")
    assert enc.meta["train"]["steps"] == 6
    val_clip = _bandai(bandai_dir, shared_data, "val")[0][0]
    assert enc.encode_motion(take_features(read_bvh(val_clip))).shape == (enc.cfg.embed_dim,)
