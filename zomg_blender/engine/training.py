"""Contrastive training of the motion–text encoder (Bandai `train` split; selection on `val`).

Each training sequence is 1-4 random crops of clips of one style, concatenated with
a short cross-fade; every segment is pooled through its own soft mask and matched
to a wording of its content (symmetric InfoNCE, same-content pairs are not used as
negatives), and sampled frames are matched to their segment's text too. Training
on masked segments of concatenations is exactly how the grounding step uses the
encoder, and the frame loss keeps per-frame states local.

Augmentation: left/right mirroring (motion and label), speed changes (0.8x-1.25x),
random crops, style phrases in the text, small noise on the sentence vectors.
"""
from __future__ import annotations

import csv
import json
import math
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .encoder import EncoderConfig, MotionTextModel, resolve_device, save_checkpoint
from .errors import ZomgError

SPEEDS = (0.8, 1.0, 1.25)


@dataclass
class TrainConfig:
    steps: int = 4000
    batch: int = 128            # sequences per step
    max_len: int = 200          # frames per sequence (10 s at 20 fps)
    max_segments: int = 4
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup: int = 200
    frame_loss: float = 0.5
    frames_per_seq: int = 24
    text_noise: float = 0.02
    style_prob: float = 0.3
    crossfade: int = 3
    eval_every: int = 500
    max_minutes: float = 0.0    # > 0: a time budget; the LR schedule follows whichever of steps/time runs out first
    seed: int = 0
    device: str = "auto"
    model: dict = field(default_factory=dict)   # EncoderConfig overrides

    @classmethod
    def preset(cls, name: str, **overrides) -> "TrainConfig":
        presets = {
            "gpu": dict(steps=6000, batch=256, eval_every=500),
            "cpu": dict(steps=1500, batch=48, max_len=160, frames_per_seq=16, eval_every=500,
                        model=dict(d_model=192, ff_dim=384, n_layers=3)),
            "smoke": dict(steps=20, batch=8, max_len=80, eval_every=10, model=dict(d_model=64, ff_dim=128, n_layers=2)),
        }
        if name not in presets:
            raise ZomgError(f"unknown training preset {name!r}: use {', '.join(presets)}")
        cfg = dict(presets[name])
        cfg.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**cfg)


# ---------------------------------------------------------------------------
# Preparation: BVH -> canonical joints at 20 fps + sentence vectors, one .npz
# ---------------------------------------------------------------------------

def _unpacked(data_dir: Path, cache_dir: Path, name: str, tarball: str, probe: str) -> Path:
    """Folder holding the unpacked `tarball` of `data_dir/name` (unpacked once into the cache)."""
    for root in (data_dir / name, cache_dir / name, cache_dir):
        if (root / probe).is_dir():
            return root
    tar = data_dir / name / tarball
    if not tar.is_file():
        raise ZomgError(f"training data not found: {tar}")
    (cache_dir / name).mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-xJf", str(tar), "-C", str(cache_dir / name)], check=True)
    return cache_dir / name


# CMU clips whose one-line description is a single action, and the content it is.
CMU_CONTENTS = {"walk": "walk", "slow walk": "walk", "brisk walk": "walk", "walk/stride": "walk",
                "slow walk/stride": "walk", "walk on uneven terrain": "walk", "walk, exaggerated stride": "walk",
                "run": "run", "run/jog": "run", "jump": "jump", "forward jump": "jump", "jump, balance": "jump",
                "swordplay": "swordplay", "punch/strike": "punch"}
IDLE_SPEED = 0.12     # m/s: every joint slower than this ...
IDLE_FRAMES = 24      # ... for 1.2 s at 20 fps makes a "stand" window


def _cmu_content(description: str) -> str | None:
    if description.startswith("basketball - ") and "dribble" in description and "shoot" not in description:
        return "dribble"
    if description.startswith("dance - "):
        return "ballet"
    return CMU_CONTENTS.get(description)


def _idle_windows(j: np.ndarray) -> list[tuple[int, int]]:
    """Runs of >= IDLE_FRAMES frames where no joint moves faster than IDLE_SPEED."""
    speed = np.linalg.norm(np.diff(j, axis=0), axis=-1).max(-1) * 20.0
    still = np.concatenate([[False], speed < IDLE_SPEED, [False]])
    edges = np.flatnonzero(np.diff(still.astype(np.int8)))
    return [(a, b) for a, b in zip(edges[::2], edges[1::2]) if b - a >= IDLE_FRAMES]


def prepare(data_dir: str | Path, cache_dir: str | Path, out_path: str | Path, log=print) -> Path:
    """Read every training clip once into canonical 20-fps joints, embed all wordings, save one .npz.

    Sources: Bandai (its own train/val/test split), single-action CMU clips of cmu-extra
    (every fifth clip id held out as val), and "stand" windows cut from still stretches
    of Bandai clips (same split as their clip)."""
    from .bvh import read_bvh
    from .features import canonical_joints

    data_dir, cache_dir = Path(data_dir), Path(cache_dir)
    clips: list[TrainingClip] = []
    t0 = time.time()
    root = _unpacked(data_dir, cache_dir, "bandai", "bandai-bvh.tar.xz", "dataset")
    splits = {r["file"]: r["split"] for r in csv.DictReader(open(data_dir / "bandai" / "splits.csv"))}
    for r in csv.DictReader(open(data_dir / "bandai" / "manifest.csv")):
        path = root / r["file"]
        if r["bvh_present"] != "yes" or not path.is_file() or r["file"] not in splits:
            continue
        j = canonical_joints(read_bvh(path))
        clips.append(TrainingClip(j, r["content"], r["style"], splits[r["file"]], r["file"], "bandai"))
        for a, b in sorted(_idle_windows(j), key=lambda w: w[0] - w[1])[:1]:  # the longest still stretch
            clips.append(TrainingClip(j[a:b], "stand", r["style"], splits[r["file"]], f"{r['file']}#{a}-{b}", "idle"))
    cmu_root = _unpacked(data_dir, cache_dir, "cmu-extra", "cmu-extra-bvh.tar.xz", "bvh")
    cmu_rows = sorted(csv.DictReader(open(data_dir / "cmu-extra" / "manifest.csv")), key=lambda r: r["clip_id"])
    for n, r in enumerate(r for r in cmu_rows if _cmu_content(r["description"])):
        j = canonical_joints(read_bvh(cmu_root / "bvh" / f"{r['clip_id']}.bvh"))[2:]  # frame 0 may be a T-pose
        clips.append(TrainingClip(j, _cmu_content(r["description"]), "cmu", "val" if n % 5 == 0 else "train", r["clip_id"], "cmu"))
    counts = {src: sum(c.source == src for c in clips) for src in ("bandai", "idle", "cmu")}
    log(f"read {len(clips)} clips {counts} in {time.time() - t0:.1f}s")
    return save_prepared(out_path, clips, log)


@dataclass
class TrainingClip:
    joints: np.ndarray      # [T, 22, 3] canonical joints at 20 fps
    content: str
    style: str
    split: str              # train / val / test
    name: str
    source: str             # bandai / idle / cmu


def save_prepared(out_path: str | Path, clips: list[TrainingClip], log=print) -> Path:
    """Write clips and the sentence vectors of every wording (plain, and with each style's phrases) to one .npz."""
    from . import wordings
    from .text import get_text_encoder

    sentences, kinds, contents, styles = [], [], [], []
    rng = np.random.default_rng(0)
    clip_styles = sorted({c.style for c in clips if c.source == "bandai"})
    for c in wordings.CONTENTS:
        for s in wordings.train_texts(c):
            sentences.append(s); kinds.append("train"); contents.append(c); styles.append("")
        for st in clip_styles:
            for s in rng.choice(wordings.train_texts(c), size=3, replace=False):
                sentences.append(wordings.compose(str(s), st, rng)); kinds.append("train"); contents.append(c); styles.append(st)
        for s in wordings.eval_texts(c):
            sentences.append(s); kinds.append("eval"); contents.append(c); styles.append("")
    t0 = time.time()
    emb = get_text_encoder().encode(sentences)
    log(f"embedded {len(sentences)} sentences in {time.time() - t0:.1f}s")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out_path, joints=np.concatenate([c.joints for c in clips]).astype(np.float16),
        offsets=np.cumsum([0] + [len(c.joints) for c in clips]).astype(np.int64),
        clip_content=np.array([c.content for c in clips]), clip_style=np.array([c.style for c in clips]),
        clip_split=np.array([c.split for c in clips]), clip_file=np.array([c.name for c in clips]),
        clip_source=np.array([c.source for c in clips]),
        sentences=np.array(sentences), text_emb=emb.astype(np.float16), text_kind=np.array(kinds),
        text_content=np.array(contents), text_style=np.array(styles),
        related=np.array(json.dumps({c: sorted(wordings.related(c)) for c in wordings.CONTENTS})),
        mirror=np.array(json.dumps({c: wordings.mirror_content(c) for c in wordings.CONTENTS})),
    )
    return out_path


# ---------------------------------------------------------------------------
# Data in memory: features per clip for every (speed, mirror) variant
# ---------------------------------------------------------------------------

class Corpus:
    def __init__(self, path: str | Path, log=print, augment: bool = True):
        from .features import FEATURE_FPS, joint_features, mirror_joints, resample

        z = np.load(path, allow_pickle=False)
        self.content = z["clip_content"].tolist()
        self.style = z["clip_style"].tolist()
        self.split = z["clip_split"].tolist()
        self.source = z["clip_source"].tolist() if "clip_source" in z else ["bandai"] * len(self.split)
        off = z["offsets"]
        joints = z["joints"].astype(np.float32)
        related = json.loads(str(z["related"]))
        self.mirror = json.loads(str(z["mirror"]))
        self.contents = sorted(set(self.content) | set(self.mirror))
        self.cid = {c: i for i, c in enumerate(self.contents)}
        # same[i, j]: contents i and j describe (nearly) the same motion: never negatives of each other
        self.same = torch.eye(len(self.contents), dtype=torch.bool)
        for c, rel in related.items():
            for r in rel:
                self.same[self.cid[c], self.cid[r]] = self.same[self.cid[r], self.cid[c]] = True
        t0 = time.time()
        self.feats: dict[tuple[float, bool], list[np.ndarray]] = {}
        for mirrored in (False, True) if augment else (False,):
            for speed in SPEEDS if augment else (1.0,):
                out = []
                for i in range(len(self.content)):
                    j = joints[off[i]:off[i + 1]]
                    if mirrored:
                        j = mirror_joints(j)
                    fast = j if speed == 1.0 else resample(j, FEATURE_FPS * speed, FEATURE_FPS)  # `speed` x faster
                    out.append(joint_features(fast).astype(np.float32))
                self.feats[(speed, mirrored)] = out
        log(f"features for {len(self.content)} clips x {2 * len(SPEEDS)} variants in {time.time() - t0:.1f}s")
        train = self.clips("train")
        allf = np.concatenate([self.feats[(1.0, m)][i] for i in train for m in (False, True) if (1.0, m) in self.feats])
        self.mean = allf.mean(0)
        self.std = np.maximum(allf.std(0), 1e-2)
        # sentence table
        self.sentences = z["sentences"].tolist()
        self.text_emb = torch.as_tensor(z["text_emb"].astype(np.float32))
        kind, tc, ts = z["text_kind"].tolist(), z["text_content"].tolist(), z["text_style"].tolist()
        self.train_plain = {c: [k for k in range(len(kind)) if kind[k] == "train" and tc[k] == c and not ts[k]] for c in self.contents}
        self.train_style = {}
        for k in range(len(kind)):
            if kind[k] == "train" and ts[k]:
                self.train_style.setdefault((tc[k], ts[k]), []).append(k)
        self.eval_idx = {c: [k for k in range(len(kind)) if kind[k] == "eval" and tc[k] == c] for c in self.contents}

    def clips(self, split: str, source: str | None = None) -> list[int]:
        return [i for i, s in enumerate(self.split) if s == split and source in (None, self.source[i])]


class Batcher:
    """Random concatenations of clip crops of one style, with segment masks and texts."""

    def __init__(self, corpus: Corpus, cfg: TrainConfig, split: str = "train"):
        self.c, self.cfg = corpus, cfg
        self.rng = np.random.default_rng(cfg.seed)
        self.by_style: dict[str, list[int]] = {}
        for i in corpus.clips(split):
            self.by_style.setdefault(corpus.style[i], []).append(i)
        self.styles = sorted(self.by_style)

    def _text(self, content: str, style: str) -> int:
        pool = self.c.train_style.get((content, style)) if self.rng.random() < self.cfg.style_prob else None
        pool = pool or self.c.train_plain[content]
        return int(self.rng.choice(pool))

    def sample(self):
        cfg, rng, c = self.cfg, self.rng, self.c
        feats = np.zeros((cfg.batch, cfg.max_len, c.mean.shape[0]), np.float32)
        valid = np.zeros((cfg.batch, cfg.max_len), bool)
        seg_of_frame = np.full((cfg.batch, cfg.max_len), -1, np.int64)
        seg_content, seg_text, seg_bounds = [], [], []
        for b in range(cfg.batch):
            style = self.styles[rng.integers(len(self.styles))]
            n_seg = int(rng.integers(1, cfg.max_segments + 1))
            budget = cfg.max_len
            pos, prev = 0, None
            for s in range(n_seg):
                clip = int(rng.choice(self.by_style[style]))
                mirrored, speed = bool(rng.random() < 0.5), float(rng.choice(SPEEDS))
                content = c.content[clip]
                if mirrored:
                    content = c.mirror.get(content, content)
                if prev is not None and c.same[c.cid[content], c.cid[prev]]:
                    continue  # neighbours of the same content have no boundary to learn
                x = c.feats[(speed, mirrored)][clip]
                room = budget - pos if s == n_seg - 1 else min(budget - pos, max(12, budget // n_seg + rng.integers(-10, 30)))
                if room < 12:
                    break
                length = min(len(x), room, max(12, int(len(x) * rng.uniform(0.5, 1.0))))
                start = int(rng.integers(0, len(x) - length + 1))
                x = x[start:start + length]
                if pos > 0 and cfg.crossfade:
                    k = min(cfg.crossfade, length // 4)
                    w = np.linspace(0, 1, k + 2)[1:-1, None]
                    feats[b, pos:pos + k] = feats[b, pos - 1] * (1 - w) + x[:k] * w
                    feats[b, pos + k:pos + length] = x[k:]
                else:
                    feats[b, pos:pos + length] = x
                valid[b, pos:pos + length] = True
                seg_of_frame[b, pos:pos + length] = len(seg_content)
                seg_bounds.append((b, pos, pos + length))
                seg_content.append(c.cid[content])
                seg_text.append(self._text(content, c.style[clip]))
                pos += length
                prev = content
        return feats, valid, seg_of_frame, seg_bounds, np.array(seg_content), np.array(seg_text)


def _soft_masks(seg_bounds, length: int, rng) -> np.ndarray:
    """One mask row per segment, [S, T], with random soft edges and small boundary jitter."""
    t = np.arange(length)[None, :]
    b = np.array([s[0] for s in seg_bounds])
    lo = np.array([s[1] for s in seg_bounds], np.float32) + rng.uniform(-2, 2, len(seg_bounds))
    hi = np.array([s[2] for s in seg_bounds], np.float32) + rng.uniform(-2, 2, len(seg_bounds))
    tau = rng.uniform(0.3, 2.0, (len(seg_bounds), 1))
    m = 1 / (1 + np.exp(-(t - lo[:, None]) / tau)) * 1 / (1 + np.exp((t - hi[:, None]) / tau))
    return m.astype(np.float32), b


def _info_nce(sim: torch.Tensor, targets_content: torch.Tensor, text_content: torch.Tensor, same: torch.Tensor, scale) -> torch.Tensor:
    """Cross-entropy of rows against their own column; columns of the same content (other than the target) are masked."""
    n = sim.shape[0]
    diag = torch.arange(n, device=sim.device)
    blocked = same[targets_content][:, text_content]
    blocked[diag, diag] = False
    logits = (sim * scale).masked_fill(blocked, float("-inf"))
    return F.cross_entropy(logits, diag)


def train(prepared: str | Path, cfg: TrainConfig, out_checkpoint: str | Path, log=print) -> dict:
    torch.manual_seed(cfg.seed)
    device = resolve_device(cfg.device)
    corpus = Corpus(prepared, log)
    mcfg = EncoderConfig(**cfg.model)
    model = MotionTextModel(mcfg).to(device)
    model.feat_mean.copy_(torch.as_tensor(corpus.mean))
    model.feat_std.copy_(torch.as_tensor(corpus.std))
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {n_params / 1e6:.2f}M parameters on {device}")
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    budget_s = cfg.max_minutes * 60 or float("inf")
    batcher = Batcher(corpus, cfg)
    same = corpus.same.to(device)
    text_emb = corpus.text_emb.to(device)
    best, history, t_start = None, [], time.time()
    step, progress = 0, 0.0
    while progress < 1.0:
        step += 1
        progress = max(step / cfg.steps, (time.time() - t_start) / budget_s)
        for group in opt.param_groups:  # linear warm-up, cosine decay over steps or time
            group["lr"] = cfg.lr * min(1.0, step / cfg.warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        model.train()
        feats, valid, seg_of_frame, seg_bounds, seg_content, seg_text = batcher.sample()
        x = model.normalise(torch.as_tensor(feats, device=device))
        v = torch.as_tensor(valid, device=device)
        states = model.frames(x, v)
        masks, mb = _soft_masks(seg_bounds, cfg.max_len, batcher.rng)
        masks = torch.as_tensor(masks, device=device) * v[mb]
        seg_emb = model.pool(states[mb], masks[:, None, :])[:, 0]             # [S, D]
        tvec = text_emb[seg_text]
        tvec = F.normalize(tvec + cfg.text_noise * torch.randn_like(tvec), dim=-1)
        txt = model.text_embed(tvec)                                           # [S, D]
        sc = torch.as_tensor(seg_content, device=device)
        scale = model.logit_scale.exp().clamp(max=100)
        sim = seg_emb @ txt.T
        loss_seg = 0.5 * (_info_nce(sim, sc, sc, same, scale) + _info_nce(sim.T, sc, sc, same, scale))
        # frame loss: sampled frames away from boundaries vs all segment texts
        fb, ft = _sample_frames(seg_of_frame, seg_bounds, cfg.frames_per_seq, batcher.rng)
        fe = model.frame_embed(states[fb, ft])
        fseg = torch.as_tensor(seg_of_frame[fb, ft], device=device)
        blocked = same[sc[fseg]][:, sc]
        blocked[torch.arange(len(fseg), device=device), fseg] = False
        loss_frame = F.cross_entropy((fe @ txt.T * scale).masked_fill(blocked, float("-inf")), fseg)
        loss = loss_seg + cfg.frame_loss * loss_frame
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0:
            log(f"step {step} ({progress:.0%}) loss {loss.item():.3f} (seg {loss_seg.item():.3f} frame {loss_frame.item():.3f}) "
                f"scale {scale.item():.1f} {time.time() - t_start:.0f}s")
        if step % cfg.eval_every == 0 or progress >= 1.0:
            m = evaluate(model, corpus, "val", device)
            m["step"] = step
            if corpus.clips("val", "cmu"):
                m["cmu"] = evaluate(model, corpus, "val", device, source="cmu")
            # selection: held-out wordings on Bandai (prototype and single wording) and CMU clips
            m["select"] = float(np.mean([m["top1"], m["single_wording_top1"]] + ([m["cmu"]["top1"]] if "cmu" in m else [])))
            history.append(m)
            log(f"val @ {step}: " + " ".join(f"{k} {v:.3f}" for k, v in m.items() if isinstance(v, float))
                + (f" | cmu top1 {m['cmu']['top1']:.3f}" if "cmu" in m else ""))
            if best is None or m["select"] > best["select"]:
                best = m
                save_checkpoint(model, out_checkpoint, meta=dict(
                    train=asdict(cfg), val=m, params=n_params, data="Bandai-Namco-Research-Motiondataset 1+2, train split",
                    licence="CC BY-NC 4.0 (non-commercial), inherited from the Bandai training data"))
    log(f"done in {time.time() - t_start:.0f}s; best val selection {best['select']:.3f} at step {best['step']}")
    return {"best": best, "history": history, "seconds": time.time() - t_start, "params": n_params}


def _sample_frames(seg_of_frame, seg_bounds, per_seq: int, rng):
    bs, ts = [], []
    for b in range(seg_of_frame.shape[0]):
        ok = np.flatnonzero(seg_of_frame[b] >= 0)
        if len(ok):
            pick = rng.choice(ok, size=min(per_seq, len(ok)), replace=False)
            bs.append(np.full(len(pick), b)); ts.append(pick)
    return np.concatenate(bs), np.concatenate(ts)


@torch.no_grad()
def clip_embeddings(model: MotionTextModel, corpus: Corpus, clips: list[int], device, batch: int = 64) -> torch.Tensor:
    """Whole-clip embeddings (uniform mask over real frames) for the unaugmented clips."""
    model.eval()
    base = corpus.feats[(1.0, False)]
    out = []
    for s in range(0, len(clips), batch):
        idx = clips[s:s + batch]
        length = max(len(base[i]) for i in idx)
        x = np.zeros((len(idx), length, base[idx[0]].shape[1]), np.float32)
        v = np.zeros((len(idx), length), bool)
        for k, i in enumerate(idx):
            x[k, :len(base[i])] = base[i]
            v[k, :len(base[i])] = True
        xt, vt = model.normalise(torch.as_tensor(x, device=device)), torch.as_tensor(v, device=device)
        states = model.frames(xt, vt)
        out.append(model.pool(states, vt[:, None, :].float())[:, 0])
    return torch.cat(out)


@torch.no_grad()
def evaluate(model: MotionTextModel, corpus: Corpus, split: str, device, source: str | None = "bandai") -> dict:
    """Zero-shot recognition with held-out wordings: prototype top-1/top-3, single-wording top-1, retrieval R@k.

    Candidates are the contents present in the evaluated clips (25 for Bandai)."""
    model.eval()
    clips = corpus.clips(split, source)
    m = clip_embeddings(model, corpus, clips, device)
    labels = torch.tensor([corpus.cid[corpus.content[i]] for i in clips], device=device)
    present = sorted(set(labels.tolist()))
    protos, word_emb, word_lab = [], [], []
    for ci in present:
        idx = corpus.eval_idx[corpus.contents[ci]]
        e = model.text_embed(corpus.text_emb[idx].to(device))
        protos.append(F.normalize(e.mean(0), dim=-1))
        word_emb.append(e); word_lab += [ci] * len(idx)
    protos = torch.stack(protos)
    present_t = torch.tensor(present, device=device)
    rank = (m @ protos.T).argsort(dim=1, descending=True)
    pred = present_t[rank]
    top1 = (pred[:, 0] == labels).float().mean().item()
    top3 = (pred[:, :3] == labels[:, None]).any(1).float().mean().item()
    top1_related = corpus.same.to(device)[pred[:, 0], labels].float().mean().item()
    # every held-out wording on its own (harder than the prototype)
    we, wl = torch.cat(word_emb), torch.tensor(word_lab, device=device)
    wpred = wl[(m @ we.T).argmax(1)]
    single = (wpred == labels).float().mean().item()
    # retrieval: motion->text and text->motion with one held-out wording per clip; a hit is the same content
    g = torch.Generator().manual_seed(0)
    pick = [corpus.eval_idx[corpus.content[i]][torch.randint(len(corpus.eval_idx[corpus.content[i]]), (1,), generator=g).item()] for i in clips]
    t = model.text_embed(corpus.text_emb[pick].to(device))
    sim = m @ t.T
    hit = labels[:, None] == labels[None, :]
    res = {"top1": top1, "top3": top3, "top1_related": top1_related, "single_wording_top1": single}
    for k in (1, 5, 10):
        top = min(k, len(clips))
        res[f"m2t_R@{k}"] = hit.gather(1, sim.topk(top, dim=1).indices).any(1).float().mean().item()
        res[f"t2m_R@{k}"] = hit.T.gather(1, sim.T.topk(top, dim=1).indices).any(1).float().mean().item()
    return res
