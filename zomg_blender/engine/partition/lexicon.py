"""A small English verb lexicon for motion descriptions, and a cheap lemmatiser.

The rules backend needs to know whether a word is a verb and in which form ("walk", "walks",
"walked", "walking") to decide where a description splits and to turn "wave" or "waving" into
"waves"; the LLM backend needs the same lemmas to check that an answer only uses the input's words.
"""
from __future__ import annotations

import re
from functools import lru_cache

# Base forms of verbs that appear in motion descriptions. Regular forms are generated.
_VERBS = """
accept act adjust advance aim applaud approach arch arrive attack attempt balance bat beckon begin bend block
bolt bounce bound bow box brace brandish breathe bring brush button carry cartwheel catch celebrate
charge chase check cheer chop circle clap clean climb close clutch collapse comb come conduct continue cook
cough count cover crawl creep cross crouch crumple cry curl curtsy cycle dance dart dash dive dismount dodge
drag draw dribble drink drive drop duck eat embrace enter escape examine exercise exit extend fall fasten
feed fight finish fire flail flap flee flex flinch flip float flutter fly fold follow freeze gallop gasp
gaze gesture get give glance glide go grab grapple grasp greet grip guard halt hammer hang haul heave hide
hike hit hobble hoist hold hop hover hug hunch hurdle hurry inch inspect jab jiggle jog juggle jump kick
kiss kneel knock land laugh launch lay lead lean leap lie lift limp look lounge lower lunge lurch lurk march
meditate mime mimic mop mount move nod nudge open orbit pace paddle paint pant parry pass pat pause peek
peer pedal perch perform pet pick pinch pirouette pitch pivot place play plunge point poke pose pounce pour
pray press prod pull pump punch push put putt race raise rake reach read recline recover relax release
reload remove repeat rest retreat return rise rock roll rotate row rub run rush salute saunter scan scoot
scramble scratch scream search serve set shake shift shiver shoot shout shove shovel show shrug shuffle
shudder sidestep sigh sing sink sip sit skate skid skip slap slash slide slip slither slouch slump sneak
sneeze snap somersault spar spin splash spring sprint squat squeeze squirm stab stagger stamp stand stare
start steer step stir stomp stoop stop straighten stretch stride strike stroll strum struggle strut stumble
swat sway sweep swim swing swipe swivel tackle take talk tap teeter tense throw thrust tie tilt tiptoe toss
touch trace train tremble trip trot tuck tumble turn twirl twist type unfold vault wade wag waggle wait
walk wander warm wash watch wave wobble wrestle wriggle write writhe yawn yell zigzag
do make be have keep stay wipe wiggle skateboard swirl dip shoo face leave smile frown blink wink spread clench
moonwalk backflip handspring shimmy drum grin bump sniff hum clear
hesitate weave shamble skulk prowl swagger fidget trudge plod amble waddle canter prance scale descend
ascend hurl fling lob uppercut headbutt feint massage tickle listen think ponder wonder call answer dial observe
linger loiter sleep wake die resume fetch vacuum cast reel surf ski snowboard smack whack bash smash tread trample
twitch jerk convulse topple slam bang lock unlock shield protect defend brawl choke sob weep
groan hiccup giggle chuckle scurry scamper stalk seek
veer dangle scoop mope navigate whirl screw unscrew proceed feign explain comfort resist
"""

# Irregular past / past-participle forms.
_IRREGULAR_PAST = {
    "be": ["was", "were", "been"], "begin": ["began", "begun"], "bend": ["bent"], "bring": ["brought"],
    "catch": ["caught"], "come": ["came"], "creep": ["crept"], "dive": ["dove"], "do": ["did", "done"],
    "draw": ["drew", "drawn"], "drink": ["drank", "drunk"], "drive": ["drove", "driven"], "eat": ["ate", "eaten"],
    "fall": ["fell", "fallen"], "fight": ["fought"], "flee": ["fled"], "fly": ["flew", "flown"], "fling": ["flung"], "think": ["thought"], "tread": ["trod", "trodden"],
    "wake": ["woke", "woken"], "seek": ["sought"], "weep": ["wept"], "cast": ["cast"], "weave": ["wove", "woven"],
    "freeze": ["froze", "frozen"], "get": ["got", "gotten"], "give": ["gave", "given"], "go": ["went", "gone"],
    "hang": ["hung"], "have": ["had"], "hide": ["hid", "hidden"], "hit": ["hit"], "hold": ["held"],
    "keep": ["kept"], "leave": ["left"], "kneel": ["knelt"], "lay": ["laid"], "lead": ["led"], "leap": ["leapt"], "lie": ["lay", "lain"],
    "make": ["made"], "put": ["put"], "read": ["read"], "rise": ["rose", "risen"], "run": ["ran"],
    "set": ["set"], "shake": ["shook", "shaken"], "shoot": ["shot"], "sing": ["sang", "sung"], "sink": ["sank", "sunk"],
    "sit": ["sat"], "slide": ["slid"], "sneak": ["snuck"], "spin": ["spun"], "spring": ["sprang", "sprung"],
    "stand": ["stood"], "stride": ["strode"], "strike": ["struck"], "sweep": ["swept"], "swim": ["swam", "swum"],
    "swing": ["swung"], "take": ["took", "taken"], "throw": ["threw", "thrown"], "write": ["wrote", "written"],
    "show": ["shown"],
}
_IRREGULAR_3S = {"be": ["is", "are", "am"], "have": ["has"], "do": ["does"], "go": ["goes"]}
_IRREGULAR_ING = {"lie": "lying", "tie": "tying", "die": "dying", "be": "being"}
# Surface forms that are far more often something else in a description ("turns left", "a hand").
_NOT_VERBS = {"left", "right", "back", "hand", "hands", "arm", "arms", "head", "heads", "forward", "down", "up",
              "well", "ground", "floor", "times", "time", "second", "seconds"}
AUX = {"is", "are", "am", "was", "were"}

_VOWELS = set("aeiou")

# Exercises and moves named by a noun ("jumping jacks", "push-ups", "a run cycle"): a sub-action says
# "a person does jumping jacks", never "a person jumps jacks". Hyphens and spaces are both accepted.
_ACTIVITIES = """
jumping-jacks star-jumps push-ups sit-ups pull-ups chin-ups pushups situps pullups crunches burpees
side-twists knee-raises leg-raises toe-touches arm-circles arm-swings leg-swings high-knees butt-kicks
mountain-climbers spin-kicks jump-kicks handstands backflips lunges squats cartwheels somersaults stretches
flips box-jumps run-cycle walk-cycle spin-kick jump-kick box-jump jump-rope
"""
# Activities that are also a verb form ("squats"): nouns only where nothing around them is a finite verb.
_ACTIVITY_VERB_FORMS = {"lunges", "squats", "cartwheels", "somersaults", "stretches", "flips", "backflips"}


@lru_cache(maxsize=1)
def _activities() -> frozenset[tuple[str, ...]]:
    out = set()
    for phrase in _ACTIVITIES.split():
        words = tuple(phrase.split("-"))
        out.update({words, (phrase,)})
    return frozenset(out)


def activity_len(tokens: list[str], i: int) -> int:
    """Number of tokens of an activity noun phrase ("jumping jacks", "push-ups") starting at i, else 0."""
    for n in (2, 1):
        if i + n <= len(tokens) and tuple(tokens[i:i + n]) in _activities():
            return n
    return 0


def is_ambiguous_activity(word: str) -> bool:
    """An activity that reads as a verb next to finite verbs ("walks, squats, stands")."""
    return word in _ACTIVITY_VERB_FORMS


def third_person(lemma: str) -> str:
    """'walk' -> 'walks', 'punch' -> 'punches', 'cry' -> 'cries', 'go' -> 'goes'."""
    if lemma in _IRREGULAR_3S:
        return _IRREGULAR_3S[lemma][0]
    if re.search(r"(s|sh|ch|x|z|o)$", lemma):
        return lemma + "es"
    if len(lemma) > 1 and lemma.endswith("y") and lemma[-2] not in _VOWELS:
        return lemma[:-1] + "ies"
    return lemma + "s"


def _cvc(lemma: str) -> bool:
    """Ends consonant-vowel-consonant (candidate for doubling: 'stop' -> 'stopping')."""
    return (len(lemma) >= 3 and lemma[-1] not in _VOWELS | {"w", "x", "y"} and lemma[-2] in _VOWELS
            and lemma[-3] not in _VOWELS)


def _regular_forms(lemma: str) -> dict[str, list[str]]:
    if lemma.endswith("e") and not lemma.endswith(("ee", "ye", "oe")):
        ing, past = [lemma[:-1] + "ing"], [lemma + "d"]
    elif len(lemma) > 1 and lemma.endswith("y") and lemma[-2] not in _VOWELS:
        ing, past = [lemma + "ing"], [lemma[:-1] + "ied"]
    else:
        ing, past = [lemma + "ing"], [lemma + "ed"]
        if _cvc(lemma):  # recognition only: both spellings are accepted
            ing.append(lemma + lemma[-1] + "ing")
            past.append(lemma + lemma[-1] + "ed")
    if lemma in _IRREGULAR_ING:
        ing = [_IRREGULAR_ING[lemma]]
    return {"base": [lemma], "3s": _IRREGULAR_3S.get(lemma, [third_person(lemma)]),
            "past": _IRREGULAR_PAST.get(lemma, []) + ([] if lemma in _IRREGULAR_PAST else past), "ing": ing}


@lru_cache(maxsize=1)
def _table() -> dict[str, frozenset[tuple[str, str]]]:
    table: dict[str, set[tuple[str, str]]] = {}
    for lemma in _VERBS.split():
        for form, words in _regular_forms(lemma).items():
            for word in words:
                if word not in _NOT_VERBS:
                    table.setdefault(word, set()).add((lemma, form))
    for word in AUX:
        table[word] = {("be", "aux")}
    return {word: frozenset(entries) for word, entries in table.items()}


def is_verb(word: str) -> bool:
    return word in _table()


def verb_forms(word: str) -> frozenset[str]:
    """Forms of a known verb ('base', '3s', 'past', 'ing', 'aux'); a guess from the suffix otherwise."""
    entries = _table().get(word)
    if entries:
        return frozenset(form for _, form in entries)
    if word.endswith("ing") and len(word) > 4:
        return frozenset({"ing"})
    if word.endswith("ed") and len(word) > 3:
        return frozenset({"past"})
    if word.endswith("s") and not word.endswith("ss") and len(word) > 2:
        return frozenset({"3s"})
    return frozenset({"base"})


def lemma_of(word: str) -> str | None:
    """The verb lemma of a known verb form ('ran' -> 'run'), preferring a lemma that is the word itself."""
    entries = _table().get(word)
    if not entries:
        return None
    lemmas = sorted({lemma for lemma, _ in entries}, key=lambda lemma: (lemma != word, lemma))
    return lemmas[0]


def stems(word: str) -> set[str]:
    """Cheap lemmas of a word: the lexicon's verb lemmas, else the word with s/es/ed/ing stripped.

    'waves', 'waving', 'waved' and 'wave' share a stem; 'ran' and 'runs' share 'run'."""
    word = word.lower().strip("'")
    out = {lemma for lemma, _ in _table().get(word, ())}
    stem = word
    for suffix in ("ing", "ed", "es", "s"):
        if stem.endswith(suffix) and len(stem) - len(suffix) >= 3 and not stem.endswith("ss"):
            stem = stem[: -len(suffix)]
            break
    if stem.endswith("e") and len(stem) > 3:
        stem = stem[:-1]
    if len(stem) > 3 and stem[-1] == stem[-2] and stem[-1] not in _VOWELS | {"l", "s"}:
        stem = stem[:-1]
    out.add(stem)
    out.update(_plain_stem(lemma) for lemma in list(out))
    return out


def _plain_stem(lemma: str) -> str:
    """Bring verb lemmas to the same shape as suffix-stripped words ('wave' -> 'wav')."""
    return lemma[:-1] if lemma.endswith("e") and len(lemma) > 3 else lemma
