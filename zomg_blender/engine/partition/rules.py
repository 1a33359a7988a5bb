"""Offline, deterministic language partition: a description -> ordered, self-contained sub-actions.

"a person walks in, waves with the left hand, bows, then runs off" ->
["a person walks in", "a person waves with the left hand", "a person bows", "a person runs off"].

How it reads a description: sentences are cut at . ! ? ; and new lines; a sentence that opens with a
subordinate clause ("before bowing, he waves", "while walking he waves") is restructured first; the rest
is cut at sequence markers (then, next, afterwards, followed by ...), and at commas, "and" and "but" only
when what follows is a new subject or a verb in the same form as the piece's own verb ("walks forward and
kicks" splits, "left and right arms" and "walks in, waving" do not). Pieces that say they happen at the
same time are merged back, "X after Y" is reordered, repetitions ("twice", "3 times", "again") become
copies, and each piece gets a subject (its own, the one carried from before, or "a person"; subject
pronouns become "a person"). The pieces keep the description's own words: verbs are only re-inflected
("wave"/"waving" -> "waves") and the subject added, because the grounding encoder scores these words.

Motion-capture index style is read too: exercise nouns are kept and done ("jumping jacks, jog, squats" ->
"a person does jumping jacks", "a person jogs", "a person does squats"), a short verbless label before a
colon or dash is a topic, not an action ("playground - climb, hang"), bare verbs in a row are a list
("Start Hop Stop"), "run/jog" is one action with two names, and "arms up then down" is one path.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace

from ..errors import ZomgError
from .lexicon import AUX, activity_len, is_ambiguous_activity, is_verb, lemma_of, third_person, verb_forms

MAX_REPEAT = 10
DEFAULT_SUBJECT = ("a", "person")

SEPARATORS = {",", ":", "and", "but"}
PRONOUNS = {"he", "she", "they", "it", "i", "we", "you"}
PLURAL_PRONOUNS = {"they", "i", "we", "you"}   # take base verb forms: "they walk" -> "a person walks"
WEAK_PRONOUNS = {"it", "you"}                  # subjects only when a verb follows ("picks it up")
DETERMINERS = {"a", "an", "the", "this", "that", "one", "another", "our"}
SUBJECT_WORDS = {"someone", "somebody", "everyone", "everybody"}
SUBJECT_NOUNS = {"person", "man", "woman", "boy", "girl", "guy", "lady", "child", "kid", "actor", "actress",
                 "character", "figure", "dancer", "performer", "player", "athlete", "fighter", "soldier",
                 "robot", "zombie", "human", "individual", "subject", "avatar", "model", "hero", "runner"}
PREPOSITIONS = {"with", "in", "on", "at", "to", "into", "onto", "from", "of", "by", "for", "toward", "towards",
                "over", "under", "across", "around", "through", "behind", "near", "along", "off", "up", "down",
                "out", "away", "back", "forward", "backward", "backwards", "left", "right", "while", "whilst",
                "as", "until", "when", "before", "after", "once", "then"}
# Words that begin a piece without being its verb (no "s" is ever added to them).
NON_VERBS = PREPOSITIONS | DETERMINERS | PRONOUNS | {
    "his", "her", "their", "its", "my", "your", "both", "each", "all", "some", "two", "three", "quick", "slow",
    "small", "big", "large", "little", "short", "long", "high", "low", "fast", "very", "not", "no", "again",
    "forwards", "sideways", "upward", "upwards", "downward", "inside", "outside", "here", "there", "now",
    "still", "just", "also", "even", "twice", "once", "more", "same", "other", "next", "last", "first"}
ADVERBS = {"also", "just", "still", "even", "very", "really", "almost", "fast", "slow", "quick", "soon",
           "suddenly", "not", "never", "immediately"}
DIRECTIONS = {"up", "down", "left", "right", "forward", "forwards", "back", "backward", "backwards", "in", "out",
              "sideways", "upward", "upwards", "downward", "downwards", "over", "under", "underneath", "around",
              "away", "off", "on", "across", "through"}
# Directions that never close a phrasal verb ("turn left", but "pick the box up").
FREE_DIRECTIONS = {"left", "right", "forward", "forwards", "backward", "backwards", "sideways", "over", "under",
                   "underneath", "around"}
# Participles that describe how the previous action is done, never a next one ("steps back, facing front").
MANNER_PARTICIPLES = {"facing", "keeping", "using", "staying", "remaining"}
SIMULTANEOUS = [("at", "the", "same", "time"), ("simultaneously",), ("meanwhile",), ("in", "the", "meantime"),
                ("concurrently",), ("all", "the", "while")]

# Sequence markers. Strong ones cut a piece wherever they stand ("walks then turns"); weak ones
# only right after a separator or at the start of a piece ("walks, next turns" but "next to").
_STRONG = ["then", "afterwards", "afterward", "subsequently", "finally", "lastly", "eventually",
           "after that", "after this", "after which", "followed by", "and then"]
_WEAK = ["next", "later", "last", "first", "firstly", "first of all", "second", "secondly", "third", "thirdly",
         "fourth", "fifth", "at last", "in the end", "at the end", "to finish", "to start", "to begin",
         "to begin with", "now", "so", "once done", "once finished", "when done", "when finished", "soon after",
         "shortly after", "soon afterwards", "shortly afterwards", "right after that", "right after",
         "immediately after that", "immediately after", "straight after that", "directly after that",
         "after that", "and after that"]
# Markers that put what follows *before* what came before ("he bows. before that, he waves").
_SWAP = ["before that", "before this", "prior to that", "but before that", "and before that"]
_CONNECTORS = sorted(
    [(tuple(p.split()), True, "seq") for p in _STRONG] + [(tuple(p.split()), False, "seq") for p in _WEAK]
    + [(tuple(p.split()), False, "swap") for p in _SWAP], key=lambda c: -len(c[0]))

_TIME_QUANT = {"a", "an", "one", "two", "three", "few", "several", "some", "couple", "of", "little", "short",
               "brief"}
_TIME_UNITS = {"second", "seconds", "moment", "moments", "minute", "minutes", "while", "beat", "beats", "bit"}
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
                "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20}
# Leading subordinate clauses: keyword -> how the clause relates to the main one.
_SUBORDINATE = [(("as", "soon", "as"), "after"), (("after",), "after"), (("once",), "after"),
                (("before",), "before"), (("while",), "sim"), (("whilst",), "sim"), (("as",), "sim"),
                (("when",), "when")]
# Time clauses inside a sentence: "bows after waving", "waves before he bows".
_TEMPORAL = [(("as", "soon", "as"), "after"), (("after",), "after"), (("once",), "after"), (("before",), "before")]

_TOKEN = re.compile(r"[a-z0-9]+(?:['\-][a-z0-9]+)*|[,:]")


@dataclass
class _Piece:
    """One future sub-action, still as tokens, with how it relates to the piece before it."""
    tokens: list[str]
    sep: list[str] = field(default_factory=list)   # the tokens that cut it from the previous piece
    rel: str = "seq"          # seq | swap (goes before the previous piece)
    strong: bool = False      # cut at an explicit sequence marker
    aux: str | None = None    # "is" carried from "is walking and waving"
    sentence_start: bool = False
    subject_hint: tuple[str, ...] | None = None
    nouns: bool = False       # "squats" names an exercise here (no finite verb in its sentence)


def rules_partition(text: str) -> tuple[list[str], list[str]]:
    """Split a description into sub-action sentences; returns (subactions, warnings)."""
    sentences = _sentences(text)
    if not sentences:
        raise ZomgError("the description is empty: describe the actions in the take")
    pieces: list[_Piece] = []
    for tokens in sentences:
        tokens = tokens[_heading_len(tokens, 0):]
        lead, rel = _leading_connectors(tokens, 0)
        sentence = _sentence_pieces(tokens[lead:])
        if sentence:
            sentence[0].sentence_start = True
            if rel == "swap":
                sentence[0].rel = "swap"
        nouns = any(_names_activity(p.tokens) for p in sentence) \
            or not any(_has_finite_verb(p.tokens) for p in sentence)
        for piece in sentence:
            piece.nouns = nouns
        pieces.extend(sentence)
    pieces = _merge_simultaneous(pieces)
    groups, warnings = _render_all(pieces)
    ordered: list[list[str]] = []
    for piece, texts in groups:
        if not texts:
            continue
        if piece.rel == "swap" and ordered:
            ordered.insert(len(ordered) - 1, texts)
        else:
            ordered.append(texts)
    subactions = [t for texts in ordered for t in texts]
    if not subactions:
        raise ZomgError("no action found in the description: describe what the person does")
    return subactions, warnings


# ---------------------------------------------------------------- text -> sentences of tokens

def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"[\u2018\u2019\u201a\u201b\u2032`\u00b4]", "'", text)
    text = re.sub(r"[\u201c\u201d\u201e\u201f\u00ab\u00bb\u2033\"]", " ", text)
    text = re.sub(r"\s*[\u2013\u2014\u2015]\s*|\s+-+\s+", " : ", text)  # dashes between phrases
    text = text.replace("\u2026", ".").replace("&", " and ")
    text = re.sub(r"(?<=[A-Za-z])/(?=[A-Za-z])", " or ", text)         # "run/jog": alternatives, one action
    text = re.sub(r"(?m)^\s*(?:\d+[.)]|[-*\u2022])\s+", "", text)     # list bullets and numbers
    text = re.sub(r"(?<=\s)\d+\)\s+", ". ", text)                       # inline "1) walk 2) wave"
    text = text.lower()
    return re.sub(r"(?<![a-z0-9])'|'(?![a-z0-9])", " ", text)           # quotes, not apostrophes


def _sentences(text: str) -> list[list[str]]:
    parts = re.split(r"[.!?]+(?=\s|$)|[.!?]{2,}|[\n;]+", _normalise(text or ""))
    return [tokens for part in parts if (tokens := _TOKEN.findall(part))
            and any(t not in (",", ":") for t in tokens)]


# ---------------------------------------------------------------- word classes

def _is_adverb(word: str) -> bool:
    return word in ADVERBS or (word.endswith("ly") and len(word) > 4 and not is_verb(word))


def _skip_adverbs(tokens: list[str], i: int) -> int:
    while i < len(tokens) and (_is_adverb(tokens[i]) or tokens[i] == ","):
        i += 1
    return i


def _connector_at(tokens: list[str], i: int, weak_ok: bool):
    """(length, strong, rel) of the sequence marker starting at i, or None."""
    for phrase, strong, rel in _CONNECTORS:
        if (strong or weak_ok) and tuple(tokens[i:i + len(phrase)]) == phrase:
            return len(phrase), strong, rel
    if weak_ok:
        length = _time_phrase(tokens, i)
        if length:
            return length, False, "seq"
    return None


def _time_phrase(tokens: list[str], i: int) -> int:
    """Length of "a few seconds later" / "moments later" / "after a while" at i, else 0."""
    j = i + (1 if i < len(tokens) and tokens[i] == "after" else 0)
    while j < len(tokens) and (tokens[j] in _TIME_QUANT or tokens[j].isdigit()):
        j += 1
    if j >= len(tokens) or tokens[j] not in _TIME_UNITS:
        return 0
    if tokens[i] == "after":
        return j + 1 - i
    if j + 1 < len(tokens) and tokens[j + 1] in ("later", "after", "afterwards"):
        return j + 2 - i
    return 0


def _leading_connectors(tokens: list[str], i: int) -> tuple[int, str]:
    """Skip separators and markers at i (a piece start); returns (new index, "swap" or "seq")."""
    rel = "seq"
    while i < len(tokens):
        if tokens[i] in SEPARATORS:
            i += 1
            continue
        hit = _connector_at(tokens, i, weak_ok=True)
        if not hit:
            break
        i += hit[0]
        rel = "swap" if hit[2] == "swap" else rel
    return i, rel


def _finite_at(tokens: list[str], i: int, plural: bool = False) -> bool:
    """A finite verb (after adverbs) at i: 'walks', 'walked', 'is' (and 'walk' after they/we)."""
    i = _skip_adverbs(tokens, i)
    while i < len(tokens) and tokens[i] in ("then", "first", "now"):
        i += 1
    if i >= len(tokens) or not is_verb(tokens[i]):
        return False
    wanted = {"3s", "past", "aux"} | ({"base"} if plural else set())
    return bool(verb_forms(tokens[i]) & wanted)


def _subject_len(tokens: list[str], i: int, allow_name: bool = False) -> int:
    """Number of tokens of an explicit subject starting at i ("he", "the tall man", "someone"), else 0."""
    if i >= len(tokens):
        return 0
    word = tokens[i]
    if word in PRONOUNS:
        if word in WEAK_PRONOUNS:
            return 1 if _finite_at(tokens, i + 1, plural=word == "you") else 0
        return 1 if i + 1 < len(tokens) else 0
    if word in SUBJECT_WORDS or word in SUBJECT_NOUNS:
        return 1 if _finite_at(tokens, i + 1) else 0
    if word in DETERMINERS:
        for m in range(i + 1, min(i + 6, len(tokens))):
            w = tokens[m]
            if w in SEPARATORS or w in ("then", "followed") or _connector_at(tokens, m, weak_ok=False):
                return 0
            plural = tokens[m - 1].endswith("s") and not is_verb(tokens[m - 1])     # "the woman's arms swing"
            if m > i + 1 and tokens[m - 1] not in PREPOSITIONS and (
                    _finite_at(tokens, m, plural) or (tokens[m - 1] in SUBJECT_NOUNS and not is_verb(w)
                                             and verb_forms(w) & {"3s", "past"} and w not in NON_VERBS)):
                return m - i
            if is_verb(w) and w not in SUBJECT_NOUNS and not (verb_forms(w) & {"ing", "past"} and m == i + 1):
                return 0
        return 0
    if allow_name and word.isalpha() and word not in NON_VERBS and not is_verb(word) and not _is_adverb(word) \
            and not activity_len(tokens, i):                                  # "knee raises" is no "knee"
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        return 1 if is_verb(nxt) and verb_forms(nxt) & {"3s", "past"} else 0
    return 0


def _activity_at(tokens: list[str], i: int) -> tuple[int, bool]:
    """(length, counted) of an activity noun phrase at i: "jumping jacks", "10 push-ups", "a run cycle"."""
    counted = i < len(tokens) and (tokens[i].isdigit() or tokens[i] in NUMBER_WORDS or tokens[i] in ("a", "an"))
    j = i + counted
    n = activity_len(tokens, j)
    return (j - i + n, j > i) if n else (0, False)


def _names_activity(tokens: list[str]) -> bool:
    """The piece names an activity that cannot be a verb ("jumping jacks", "10 squats")."""
    return any((n := _activity_at(tokens, j))[0] and (n[1] or not is_ambiguous_activity(tokens[j]))
               for j in range(len(tokens)))


def _has_finite_verb(tokens: list[str]) -> bool:
    """The piece's own verb is finite ("walks", "stood") and it names no activity noun."""
    if any(_activity_at(tokens, j)[0] for j in range(len(tokens))):
        return False
    i = _predicate_start(tokens, allow_name=True)
    return i < len(tokens) and is_verb(tokens[i]) and bool(verb_forms(tokens[i]) & {"3s", "past", "aux"})


def _heading_len(tokens: list[str], i: int) -> int:
    """'locomotion: walk forwards', 'playground - climb, hang': a short verbless label before a colon
    names a topic, not an action; returns how many tokens from i to skip (0 when there is none)."""
    c = next((c for c in range(i + 1, min(i + 4, len(tokens))) if tokens[c] == ":"), None)
    if c is None or not any(t not in SEPARATORS for t in tokens[c + 1:]):
        return 0
    head = tokens[i:c]
    if _is_bare_subject(head) or any(is_verb(w) or w in SEPARATORS for w in head) or _activity_at(head, 0)[0]:
        return 0
    return c + 1 - i


def _is_ing(word: str) -> bool:
    return "ing" in verb_forms(word) and word.endswith("ing") and word not in NON_VERBS


def _nominal_len(tokens: list[str], i: int) -> int:
    """'a bow', 'a deep bow', 'the same move': determiner + up to 2 words + a verb used as a noun."""
    if i >= len(tokens) or tokens[i] not in DETERMINERS:
        return 0
    for m in range(i + 1, min(i + 4, len(tokens))):
        if is_verb(tokens[m]) and "base" in verb_forms(tokens[m]):
            return m + 1 - i
        if tokens[m] in SEPARATORS:
            return 0
    return 0


def _is_nominal_only(tokens: list[str]) -> bool:
    """A piece that names its action with a noun and has no verb of its own ("a jump")."""
    i = _predicate_start(tokens)
    n = _nominal_len(tokens, i)
    return n > 0 and not any(is_verb(w) for w in tokens[i + n:])


def _predicate_start(tokens: list[str], allow_name: bool = False) -> int:
    """Index of the first word after markers, the subject and adverbs."""
    i, _ = _leading_connectors(tokens, 0)
    i += _subject_len(tokens, i, allow_name)
    i, _ = _leading_connectors(tokens, i)
    return _skip_adverbs(tokens, i)


def _reference(tokens: list[str]) -> tuple[frozenset[str] | None, str | None]:
    """Forms of the piece's own verb and its auxiliary: 'is walking' -> ({'ing'}, 'is')."""
    i = _predicate_start(tokens, allow_name=True)
    subjectless = i == _skip_adverbs(tokens, _leading_connectors(tokens, 0)[0])      # "squats", not "he squats"
    if _activity_at(tokens, i)[0] and (subjectless or not is_ambiguous_activity(tokens[i])):
        return frozenset({"base", "3s", "past", "ing"}), None      # "jumping jacks, jog", "squats, stretching"
    if i >= len(tokens) or tokens[i] in NON_VERBS:
        return None, None
    if tokens[i] in AUX:
        j = _skip_adverbs(tokens, i + 1)
        if j < len(tokens) and _is_ing(tokens[j]):
            return verb_forms(tokens[j]), tokens[i]
    return verb_forms(tokens[i]), None


def _has_content(tokens: list[str]) -> bool:
    return _predicate_start(tokens, allow_name=True) < len(tokens)


# ---------------------------------------------------------------- sentence -> pieces

def _sentence_pieces(tokens: list[str]) -> list[_Piece]:
    if not tokens:
        return []
    sub = _leading_subordinate(tokens)
    if sub is None:
        return _split(tokens)
    kind, keyword, clause, main = sub
    main_pieces = _sentence_pieces(main)
    if kind == "sim":
        if not main_pieces:
            return _split(tokens)
        main_pieces[0].tokens = main_pieces[0].tokens + list(keyword) + clause
        return main_pieces
    clause_pieces = _split(clause)
    if main_pieces:
        n = _subject_len(main_pieces[0].tokens, 0, allow_name=True)
        if n:
            subject = tuple(main_pieces[0].tokens[:n])
            hint = DEFAULT_SUBJECT if subject[0] in PRONOUNS else subject
            for piece in clause_pieces:
                piece.subject_hint = hint
    return clause_pieces + main_pieces if kind == "after" else main_pieces + clause_pieces


def _leading_subordinate(tokens: list[str]):
    """("after"|"before"|"sim", keyword, clause, main) for "after waving, he bows" and kin, else None."""
    for keyword, kind in _SUBORDINATE:
        k = len(keyword)
        if tuple(tokens[:k]) == keyword and k < len(tokens) and tokens[k] not in ("that", "this", "which"):
            break
    else:
        return None
    n = len(tokens)
    own_subject = _subject_len(tokens, k)
    if kind == "when":
        kind = "after" if own_subject else "sim"
    v = _skip_adverbs(tokens, k + own_subject)
    if v >= n:
        return None
    ref = verb_forms(tokens[v])

    def starts_main(i: int) -> bool:
        j = _skip_adverbs(tokens, _leading_connectors(tokens, i)[0])
        if _subject_len(tokens, j):
            return True
        return j < n and is_verb(tokens[j]) and bool(verb_forms(tokens[j]) & {"3s", "past", "base"}) \
            and not verb_forms(tokens[j]) & ref

    commas = [c for c in range(v + 1, n) if tokens[c] == ","]
    cut = next((c for c in commas if starts_main(c)), commas[0] if commas else None)
    if cut is None:
        cut = next((i for i in range(v + 1, n) if starts_main(i)), None)
    if cut is None:
        return None
    clause = tokens[k:cut]
    main = tokens[_leading_connectors(tokens, cut)[0]:]
    if not clause or not main:
        return None
    return kind, keyword, clause, main


def _gap(tokens: list[str], i: int) -> tuple[int, bool, str, bool]:
    """Separators and markers starting at i: (end, has_marker, rel, has_separator)."""
    j, marker, rel, sep = i, False, "seq", False
    while j < len(tokens):
        if tokens[j] in SEPARATORS:
            j, sep = j + 1, True
            continue
        hit = _connector_at(tokens, j, weak_ok=sep)
        heading = _heading_len(tokens, j) if (sep or marker) and not hit else 0
        if heading:                                                 # ", then locomotion: walk"
            j, sep = j + heading, True
            continue
        if not hit:
            break
        j, marker = j + hit[0], True
        rel = "swap" if hit[2] == "swap" else rel
    return j, marker, rel, sep


def _temporal_at(tokens: list[str], i: int) -> tuple[int, str] | None:
    """'after waving' / 'before he bows' / 'once he stops' used as a time clause at i."""
    for keyword, kind in _TEMPORAL:
        k = len(keyword)
        if tuple(tokens[i:i + k]) == keyword:
            j = _skip_adverbs(tokens, i + k)
            if j < len(tokens) and (_is_ing(tokens[j]) or _subject_len(tokens, j)):
                return k, kind
    return None


def _split(tokens: list[str]) -> list[_Piece]:
    """Cut one clause sequence at markers, and at separators followed by a new subject or a verb
    in the piece's own form."""
    pieces: list[_Piece] = []
    start, i, n = 0, 1, len(tokens)
    nxt = _Piece([])
    while i < n:
        j, marker, rel, sep = _gap(tokens, i)
        k = _skip_adverbs(tokens, j)
        temporal = _temporal_at(tokens, k) if (sep or j == i) and k < n else None
        current = tokens[start:i]
        cut, aux = False, None
        if temporal and _has_content(current):
            if sep and _leading_subordinate(tokens[k:]) is not None:   # "walks, and after waving, bows"
                nxt.tokens = current
                rest = _sentence_pieces(tokens[k:])
                rest[0].sep, rest[0].strong = tokens[i:k], marker
                return [p for p in pieces + [nxt] if p.tokens] + rest
            cut, j = True, k + temporal[0]
            rel = ("swap" if temporal[1] == "after" else "seq")        # "bows after waving" / "waves before bowing"
        elif marker and _has_content(current) and j < n and not (not sep and _directions_only(tokens, j)):
            cut = True                                                 # but "arms up then down" is one path
        elif sep and k < n:
            ref, ref_aux = _reference(current)
            word = tokens[k]
            if word in MANNER_PARTICIPLES:
                pass
            elif _subject_len(tokens, k) or _activity_at(tokens, k)[0]:
                cut = True
            elif is_verb(word) and word not in NON_VERBS and (
                    (ref is None and verb_forms(word) - {"ing"}) or (ref is not None and verb_forms(word) & ref)):
                cut = True
                aux = ref_aux if _is_ing(word) else None
            elif _nominal_len(tokens, k) and _is_nominal_only(current):    # "a jump, a spin"
                cut = True
        if cut:
            nxt.tokens = tokens[start:i]
            pieces.append(nxt)
            nxt = _Piece([], sep=tokens[i:j], rel=rel, strong=marker, aux=aux)
            start, i = j, j + 1
        else:
            i += 1
    nxt.tokens = tokens[start:]
    pieces.append(nxt)
    return [run for p in pieces if p.tokens for run in _split_verb_run(p)]


def _directions_only(tokens: list[str], j: int) -> bool:
    """Only direction words from j to the next separator or marker ("up then down")."""
    k = j
    while k < len(tokens) and tokens[k] in DIRECTIONS:
        k += 1
    return k > j and (k == len(tokens) or tokens[k] in SEPARATORS or bool(_connector_at(tokens, k, weak_ok=False)))


def _split_verb_run(piece: _Piece) -> list[_Piece]:
    """'start hop stop', 'run turn left': a piece of bare verbs one after another is a list of them."""
    tokens, m = piece.tokens, 0
    while m < len(tokens) and is_verb(tokens[m]) and "base" in verb_forms(tokens[m]) \
            and tokens[m] not in NON_VERBS and not _activity_at(tokens, m)[0]:
        m += 1
    if m < 2 or not all(t in FREE_DIRECTIONS for t in tokens[m:]):      # not "pick box up"
        return [piece]
    runs = [replace(piece, tokens=[tokens[0]])]
    runs += [_Piece([t], aux=piece.aux, subject_hint=piece.subject_hint) for t in tokens[1:m]]
    runs[-1].tokens = runs[-1].tokens + tokens[m:]
    return runs


def _has_simultaneous(tokens: list[str]) -> bool:
    return any(tuple(tokens[i:i + len(p)]) == p for p in SIMULTANEOUS for i in range(len(tokens)))


def _ends_simultaneous(tokens: list[str]) -> bool:
    while tokens and tokens[-1] in SEPARATORS:
        tokens = tokens[:-1]
    return any(tuple(tokens[-len(p):]) == p for p in SIMULTANEOUS)


def _merge_simultaneous(pieces: list[_Piece]) -> list[_Piece]:
    """'walks and waves at the same time' is one sub-action: merge such pieces into the previous one."""
    out: list[_Piece] = []
    for piece in pieces:
        if out and (_has_simultaneous(piece.tokens) or (_ends_simultaneous(out[-1].tokens) and not piece.strong)):
            out[-1].tokens = out[-1].tokens + (piece.sep or [","]) + piece.tokens
        else:
            out.append(piece)
    return out


# ---------------------------------------------------------------- pieces -> sentences

def _render_all(pieces: list[_Piece]) -> tuple[list[tuple[_Piece, list[str]]], list[str]]:
    carried: tuple[str, ...] = DEFAULT_SUBJECT
    previous_verb: str | None = None
    groups, warnings = [], []
    for piece in pieces:
        text, count, carried_next, verb, warning = _render(piece, carried, previous_verb)
        if warning:
            warnings.append(warning)
        carried, previous_verb = carried_next, verb or previous_verb
        groups.append((piece, [text] * count if text is not None else []))
    return groups, warnings


def _repetition(tokens: list[str]) -> tuple[list[str], int, str | None]:
    """Remove 'twice' / 'three times' / 'again' from a piece; returns (tokens, copies, warning)."""
    count, out, i, n = 1, [], 0, len(tokens)
    while i < n:
        word, after = tokens[i], tokens[i + 1] if i + 1 < n else ""
        if word in ("again", "once") and after == "and" and tokens[i + 2:i + 3] == [word]:
            out.extend(tokens[i:i + 3])         # "again and again": no number to expand
            i += 3
        elif word == "twice" or word == "thrice":
            count, i = (2 if word == "twice" else 3), i + 1
        elif (word.isdigit() or word in NUMBER_WORDS) and (
                after == "times" or (after == "more" and tokens[i + 2:i + 3] == ["times"])):
            count = int(word) if word.isdigit() else NUMBER_WORDS[word]
            i += 2 if after == "times" else 3
        elif word == "a" and tokens[i + 1:i + 3] == ["couple", "of"] and tokens[i + 3:i + 4] == ["times"]:
            count, i = 2, i + 4
        elif re.fullmatch(r"x\d+|\d+x", word):
            count, i = int(word.strip("x")), i + 1
        elif word == "again" or (word == "once" and after == "more") or (word == "once" and i == n - 1 and out):
            i += 2 if after == "more" and word == "once" else 1
        elif tokens[i:i + 3] == ["one", "more", "time"]:
            i += 3
        else:
            out.append(word)
            i += 1
    warning = None
    if count > MAX_REPEAT:
        warning = f"repetition capped at {MAX_REPEAT} copies ({count} asked)"
        count = MAX_REPEAT
    return out, max(count, 1), warning


def _render(piece: _Piece, carried: tuple[str, ...], previous_verb: str | None):
    """One piece -> (text or None, copies, subject to carry on, its verb, warning)."""
    tokens = piece.tokens[_leading_connectors(piece.tokens, 0)[0]:]
    while tokens and tokens[-1] in SEPARATORS:
        tokens = tokens[:-1]
    tokens, count, warning = _repetition(tokens)
    if not tokens:
        return None, 0, carried, None, warning
    if _is_bare_subject(tokens):                            # "a person: walks, waves" -> carry "a person"
        return None, 0, tuple(tokens), None, warning
    n_subject = _subject_len(tokens, 0, allow_name=piece.sentence_start)
    own = n_subject > 0
    if own:
        subject = tuple(tokens[:n_subject])
        plural = subject[0] in PLURAL_PRONOUNS
        subject = DEFAULT_SUBJECT if subject[0] in PRONOUNS else subject
        if not (subject[-1].endswith("s") and not subject[-1].endswith("ss")):   # not "the woman's arms"
            carried = subject
        pred = tokens[n_subject:]
    else:
        subject, plural = piece.subject_hint or carried, False
        pred = tokens
    pred = pred[_leading_connectors(pred, 0)[0]:]
    if not pred:
        return None, 0, carried, None, warning
    pred = _inflect(pred, own, plural, piece, previous_verb)
    pred = _resolve_pronouns(pred)
    verb = next((w for w in pred if is_verb(w) and w not in NON_VERBS), None)
    text = " ".join(subject + tuple(pred))
    text = re.sub(r" ([,:])", r"\1", text).strip(" ,:")
    return text, count, carried, verb, warning


def _is_bare_subject(tokens: list[str]) -> bool:
    """'a person', 'the tall man', 'someone', 'he': a subject with nothing else."""
    if len(tokens) == 1:
        return tokens[0] in PRONOUNS | SUBJECT_WORDS | SUBJECT_NOUNS
    return 2 <= len(tokens) <= 4 and tokens[0] in DETERMINERS and tokens[-1] in SUBJECT_NOUNS


def _inflect(pred: list[str], own_subject: bool, plural: bool, piece: _Piece, previous_verb: str | None):
    """Make the predicate agree with a third-person singular subject without changing its words."""
    i = _skip_adverbs(pred, 0)
    if i >= len(pred):
        return pred
    word = pred[i]
    if own_subject:
        if plural and word in ("are", "am", "were"):
            return pred[:i] + ["was" if word == "were" else "is"] + pred[i + 1:]
        if plural and is_verb(word) and verb_forms(word) == {"base"}:
            return pred[:i] + [third_person(lemma_of(word))] + pred[i + 1:]
        return pred
    length, counted = _activity_at(pred, i)
    if length and (counted or piece.nouns or not is_ambiguous_activity(pred[i])):
        article = [] if counted or pred[i + length - 1].endswith("s") else ["a"]
        return pred[:i] + ["does"] + article + pred[i:]              # "jumping jacks" -> "does jumping jacks"
    nominal = _nominal_len(pred, i)
    if nominal == 2:                                      # "a bow" -> "bows"
        return pred[:i] + [third_person(lemma_of(pred[i + 1]))] + pred[i + 2:]
    if nominal:                                           # "a deep bow" -> "does a deep bow"
        return pred[:i] + ["does"] + pred[i:]
    if piece.aux and _is_ing(word):
        return pred[:i] + [piece.aux] + pred[i:]
    if is_verb(word) and word not in NON_VERBS:
        forms = verb_forms(word)
        if _is_ing(word) and word not in ("being",):
            return pred[:i] + [third_person(lemma_of(word))] + _inflect_alternative(pred[i + 1:])
        if "base" in forms and "3s" not in forms and "aux" not in forms:
            keeps_past = "past" in forms and previous_verb is not None and "past" in verb_forms(previous_verb) \
                and "base" not in verb_forms(previous_verb)
            if not keeps_past:
                return pred[:i] + [third_person(lemma_of(word))] + _inflect_alternative(pred[i + 1:])
        return pred
    if not any(is_verb(w) and w not in NON_VERBS for w in pred):
        if piece.strong and previous_verb and word in NON_VERBS:   # "walks forward, then back" -> "walks back"
            return [previous_verb] + pred
        if word.isalpha() and word not in NON_VERBS and not _is_adverb(word) and not word.endswith(("ing", "s")):
            return pred[:i] + [third_person(word)] + pred[i + 1:]   # an imperative verb we do not know
    return pred


def _inflect_alternative(rest: list[str]) -> list[str]:
    """'run or jog' -> 'runs or jogs': the alternative right after the verb takes the same form."""
    if rest[:1] == ["or"] and len(rest) > 1 and is_verb(rest[1]) \
            and (_is_ing(rest[1]) or verb_forms(rest[1]) == {"base"}):
        return ["or", third_person(lemma_of(rest[1]))] + rest[2:]
    return rest


def _resolve_pronouns(pred: list[str]) -> list[str]:
    """'waves while he walks' -> 'waves while a person walks'."""
    pred, out, i = list(pred), [], 0
    while i < len(pred):
        word = pred[i]
        if word in ("he", "she", "they") and _finite_at(pred, i + 1, plural=word == "they"):
            out.extend(DEFAULT_SUBJECT)
            j = _skip_adverbs(pred, i + 1)
            if word == "they" and j < len(pred) and is_verb(pred[j]) and verb_forms(pred[j]) == {"base"}:
                pred[j] = third_person(lemma_of(pred[j]))
            elif word == "they" and j < len(pred) and pred[j] in ("are", "were"):
                pred[j] = "is" if pred[j] == "are" else "was"
        else:
            out.append(word)
        i += 1
    return out
