"""The language side of training and evaluation: many wordings per Bandai content.

`data/wordings.json` holds, per content, `train` wordings (used to train the motion-text encoder)
and disjoint `eval` wordings (used only to measure zero-shot accuracy), style phrases for
augmentation, and `related` content pairs that must not be negatives of each other in
contrastive training. This module loads it and offers left/right mirroring of texts and labels.
"""

from __future__ import annotations

import json
import random
import re
from functools import lru_cache
from pathlib import Path

from .errors import ZomgError

WORDINGS_PATH = Path(__file__).resolve().parent / "data" / "wordings.json"


@lru_cache(maxsize=1)
def load_wordings() -> dict:
    """The parsed wordings.json (cached; treat as read-only)."""
    try:
        return json.loads(WORDINGS_PATH.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ZomgError(f"Wordings file missing: {WORDINGS_PATH} (reinstall the add-on)") from None


CONTENTS: list[str] = list(load_wordings()["contents"])
STYLES: list[str] = list(load_wordings()["styles"])


def _content(content: str) -> dict:
    entry = load_wordings()["contents"].get(content)
    if entry is None:
        raise ZomgError(f"Unknown motion content '{content}'; known: {', '.join(CONTENTS)}")
    return entry


def train_texts(content: str) -> list[str]:
    """Wordings to train on for one content."""
    return list(_content(content)["train"])


def eval_texts(content: str) -> list[str]:
    """Held-out wordings (never in the train set) for measuring zero-shot accuracy."""
    return list(_content(content)["eval"])


def style_phrases(style: str) -> list[str]:
    """Adverbial phrases ("angrily", "like an old man") that can follow any content wording."""
    phrases = load_wordings()["styles"].get(style)
    if phrases is None:
        raise ZomgError(f"Unknown motion style '{style}'; known: {', '.join(STYLES)}")
    return list(phrases)


def related(content: str) -> set[str]:
    """Contents that mean (nearly) the same as `content`: never use them as its negatives."""
    _content(content)
    out = set()
    for pair in load_wordings()["related"]:
        a, b = pair["contents"]
        if content in (a, b):
            out.add(b if content == a else a)
    return out


# "right" as in "right away" / "right now" / "all right" is not a side and must not be mirrored.
_NOT_A_SIDE = re.compile(r"(?:\ball\s+right\b|\bright(?=\s+(?:away|now)\b))", re.IGNORECASE)
_SIDE = re.compile(r"\b(left|right)(?=wards?\b|\b)", re.IGNORECASE)
_ROTATION = re.compile(r"\b(counter-?clockwise|anti-?clockwise|clockwise)\b", re.IGNORECASE)


def _same_case(word: str, like: str) -> str:
    if like.isupper():
        return word.upper()
    if like[0].isupper():
        return word[0].upper() + word[1:]
    return word


def mirror_text(text: str) -> str:
    """Swap left and right (and clockwise/counterclockwise) in a wording, keeping case.

    Handles "left-hand", "leftward(s)", "Left", "LEFT"; leaves "right away", "right now" and
    "all right" alone. Used with mirrored motion so that text and motion stay consistent.
    """
    protected = {m.end() - len("right") for m in _NOT_A_SIDE.finditer(text)}

    def side(m: re.Match) -> str:
        if m.start() in protected:
            return m.group(0)
        word = m.group(1)
        return _same_case("right" if word.lower() == "left" else "left", word)

    def rotation(m: re.Match) -> str:
        word = m.group(1)
        return _same_case("counterclockwise" if word.lower() == "clockwise" else "clockwise", word)

    return _ROTATION.sub(rotation, _SIDE.sub(side, text))


def mirror_content(content: str) -> str:
    """The content label of the left/right mirrored motion (walk-left <-> walk-right, ...)."""
    _content(content)
    if re.search(r"\b(left|right)\b", content):
        return mirror_text(content)
    return content


def compose(content_text: str, style: str | None = None, rng=None, p: float = 1.0) -> str:
    """`content_text` with, with probability `p`, a random phrase of `style` added.

    rng: `random.Random` or `numpy.random.Generator` (anything with `.random()`); style None
    returns the text unchanged. The phrase goes at the end, or (for one-word adverbs, one time in
    four) at the front: "Angrily, a person kicks".
    """
    if style is None:
        return content_text
    rng = rng if rng is not None else random.Random()
    phrases = style_phrases(style)
    if rng.random() >= p:
        return content_text
    phrase = phrases[min(int(rng.random() * len(phrases)), len(phrases) - 1)]
    text = content_text.strip()
    end = ""
    if text and text[-1] in ".!?":
        text, end = text[:-1], text[-1]
    if " " not in phrase and rng.random() < 0.25:
        rest = text if text[1:2].isupper() else text[:1].lower() + text[1:]  # keep acronyms
        return f"{phrase[0].upper()}{phrase[1:]}, {rest}{end}"
    return f"{text} {phrase}{end}"
