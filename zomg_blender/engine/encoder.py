"""The frozen motion–text encoder ZOMG grounds with.

Motion side: per-frame features (263-d, 20 fps) -> a small transformer whose
attention is restricted to a band of +-`band` frames, so every frame's state only
sees a few seconds around it (per-frame states must stay local to separate the
actions inside one long take). Because the receptive field is bounded, long takes
are encoded in overlapping chunks with *identical* results and memory linear in
length. An attention pooling turns frame states into one embedding and accepts
per-frame weights: the soft masks of the grounding step plug in there.

Text side: frozen all-MiniLM-L6-v2 sentence vectors (384-d) -> a small MLP into the
same space. Similarity is the cosine of L2-normalised embeddings.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import ZomgError

DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "weights" / "zomg_encoder.safetensors"


@dataclass
class EncoderConfig:
    feat_dim: int = 263
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    ff_dim: int = 512
    band: int = 16          # attention half-width in frames (0.8 s at 20 fps)
    conv_kernel: int = 5
    embed_dim: int = 256
    text_dim: int = 384
    dropout: float = 0.1
    chunk: int = 512        # frames per inference chunk (context added on both sides)

    @property
    def receptive(self) -> int:
        """Frames on each side that can influence one frame's state."""
        return self.n_layers * self.band + self.conv_kernel // 2


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    if isinstance(name, torch.device):
        return name
    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ZomgError("--device cuda was asked for but no CUDA GPU is available to torch")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ZomgError(f"unknown device {name!r}: use auto, cpu or cuda")
    return torch.device(name)


def band_mask(length: int, band: int, device) -> torch.Tensor:
    """Boolean [T, T] mask, True where attention is allowed (|i - j| <= band)."""
    idx = torch.arange(length, device=device)
    return (idx[None, :] - idx[:, None]).abs() <= band


class _Block(nn.Module):
    """Pre-norm transformer layer with a banded attention mask."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.norm1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        self.norm2 = nn.LayerNorm(cfg.d_model)
        self.ff = nn.Sequential(nn.Linear(cfg.d_model, cfg.ff_dim), nn.GELU(), nn.Linear(cfg.ff_dim, cfg.d_model))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.drop.p if self.training else 0.0)
        x = x + self.drop(self.out(a.transpose(1, 2).reshape(b, t, d)))
        return x + self.drop(self.ff(self.norm2(x)))


class MotionTextModel(nn.Module):
    """Everything with weights: motion backbone, attention pooling, both projection heads."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("feat_mean", torch.zeros(cfg.feat_dim))
        self.register_buffer("feat_std", torch.ones(cfg.feat_dim))
        self.inp = nn.Linear(cfg.feat_dim, cfg.d_model)
        self.conv = nn.Conv1d(cfg.d_model, cfg.d_model, cfg.conv_kernel, padding=cfg.conv_kernel // 2, groups=cfg.d_model)
        self.blocks = nn.ModuleList(_Block(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.pool_query = nn.Linear(cfg.d_model, 1)
        self.motion_head = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_model), nn.GELU(), nn.Linear(cfg.d_model, cfg.embed_dim))
        self.text_head = nn.Sequential(nn.Linear(cfg.text_dim, 512), nn.GELU(), nn.Linear(512, cfg.embed_dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    # -- motion ---------------------------------------------------------------
    def frames(self, feats: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised features [B, T, 263] -> frame states [B, T, d]. `valid` [B, T] marks real frames."""
        b, t, _ = feats.shape
        x = self.inp(feats)
        if valid is not None:
            x = x * valid[..., None]
        x = x + self.conv(x.transpose(1, 2)).transpose(1, 2)
        mask = band_mask(t, self.cfg.band, feats.device)
        if valid is not None:
            mask = mask[None, None] & valid[:, None, None, :]
            mask = mask | torch.eye(t, dtype=torch.bool, device=feats.device)  # padded rows attend to themselves
        for blk in self.blocks:
            x = blk(x, mask)
        return self.norm(x)

    def pool(self, states: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Attention pooling with per-frame weights: states [B, T, d], weights [B, K, T] in [0, 1] -> [B, K, D] unit vectors.

        The weights enter as log-priors on the attention logits, so a soft mask
        both selects frames and lets the learned query emphasise salient ones."""
        logits = self.pool_query(states).squeeze(-1)[:, None, :] + torch.log(weights.clamp_min(1e-6))
        attn = torch.softmax(logits, dim=-1)
        pooled = attn @ states
        return F.normalize(self.motion_head(pooled), dim=-1)

    def frame_embed(self, states: torch.Tensor) -> torch.Tensor:
        """Per-frame embeddings in the joint space (what a one-frame mask would pool to)."""
        return F.normalize(self.motion_head(states), dim=-1)

    # -- text -----------------------------------------------------------------
    def text_embed(self, sentence_vectors: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_head(sentence_vectors), dim=-1)

    def normalise(self, feats: torch.Tensor) -> torch.Tensor:
        return (feats - self.feat_mean) / self.feat_std


class MotionEncoder:
    """Inference wrapper: frozen model + text encoder on one device."""

    def __init__(self, model: MotionTextModel, device: torch.device, meta: dict | None = None):
        self.model = model.to(device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.device = device
        self.cfg = model.cfg
        self.meta = meta or {}
        self._text_cache: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def frame_features(self, feats: np.ndarray) -> torch.Tensor:
        """[T, 263] raw features -> frame states [T, d], chunked so memory is linear in T."""
        x = torch.as_tensor(np.asarray(feats, dtype=np.float32), device=self.device)
        if x.ndim != 2 or x.shape[1] != self.cfg.feat_dim:
            raise ZomgError(f"motion features have shape {tuple(x.shape)}, expected [frames, {self.cfg.feat_dim}]")
        x = self.model.normalise(x)
        t, chunk, ctx = x.shape[0], self.cfg.chunk, self.cfg.receptive
        if t <= chunk + 2 * ctx:
            return self.model.frames(x[None])[0]
        out = torch.empty(t, self.cfg.d_model, device=self.device)
        for s in range(0, t, chunk):
            lo, hi = max(0, s - ctx), min(t, s + chunk + ctx)
            states = self.model.frames(x[None, lo:hi])[0]
            out[s:min(t, s + chunk)] = states[s - lo:s - lo + min(chunk, t - s)]
        return out

    def pool(self, states: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """states [T, d], weights [K, T] -> [K, D] unit vectors (differentiable in weights)."""
        return self.model.pool(states[None], weights[None])[0]

    @torch.no_grad()
    def pool_prefix(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Prefix sums (P [T+1, d], Z [T+1], float64) from which the pooling of any contiguous hard mask [a, b)
        is `embed_pooled((P[b] - P[a]) / (Z[b] - Z[a]))`: the attention weights of such a mask are exp(query)
        on its frames and (up to the 1e-6 floor of `pool`) zero elsewhere, so every segment costs O(d)."""
        q = self.model.pool_query(states).squeeze(-1).double()
        w = torch.exp(q - q.max())
        zero = torch.zeros(1, device=states.device, dtype=torch.float64)
        p = torch.cat([zero.expand(1, states.shape[1]), torch.cumsum(w[:, None] * states.double(), 0)])
        return p, torch.cat([zero, torch.cumsum(w, 0)])

    @torch.no_grad()
    def embed_pooled(self, pooled: torch.Tensor) -> torch.Tensor:
        """Pooled states [..., d] -> unit embeddings [..., D] in the joint space."""
        return F.normalize(self.model.motion_head(pooled.float()), dim=-1)

    @torch.no_grad()
    def frame_embeddings(self, states: torch.Tensor) -> torch.Tensor:
        return self.model.frame_embed(states)

    @torch.no_grad()
    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """Sentences -> [N, D] unit vectors (cached per sentence)."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._text_cache]
        if missing:
            from .text import get_text_encoder

            vecs = torch.as_tensor(get_text_encoder().encode(missing), device=self.device)
            for t, v in zip(missing, self.model.text_embed(vecs)):
                self._text_cache[t] = v
        return torch.stack([self._text_cache[t] for t in texts])

    @torch.no_grad()
    def encode_motion(self, feats: np.ndarray) -> torch.Tensor:
        """Whole-clip embedding [D] (uniform mask)."""
        states = self.frame_features(feats)
        return self.pool(states, torch.ones(1, states.shape[0], device=self.device))[0]


def save_checkpoint(model: MotionTextModel, path: str | Path, meta: dict | None = None) -> None:
    from safetensors.torch import save_file

    tensors = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
    header = {"config": json.dumps(asdict(model.cfg)), "meta": json.dumps(meta or {})}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=header)


def load_model(path: str | Path | None = None) -> tuple[MotionTextModel, dict]:
    from safetensors import safe_open

    path = Path(path) if path else DEFAULT_CHECKPOINT
    if not path.is_file():
        raise ZomgError(f"encoder checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        cfg = EncoderConfig(**json.loads(header["config"]))
        model = MotionTextModel(cfg)
        model.load_state_dict(tensors)
    except ZomgError:
        raise
    except Exception as exc:  # noqa: BLE001 - any corrupt file is the user's checkpoint problem
        raise ZomgError(f"cannot load encoder checkpoint {path}: {exc}") from None
    return model, json.loads(header.get("meta", "{}"))


_LOADED: dict[tuple[str, str], MotionEncoder] = {}


def load_encoder(checkpoint: str | Path | None = None, device: str | torch.device = "auto") -> MotionEncoder:
    """Load (once per process) the frozen encoder; `checkpoint=None` is the shipped default."""
    dev = resolve_device(device)
    key = (str(Path(checkpoint).resolve()) if checkpoint else "default", str(dev))
    if key not in _LOADED:
        model, meta = load_model(checkpoint)
        _LOADED[key] = MotionEncoder(model, dev, meta)
    return _LOADED[key]
