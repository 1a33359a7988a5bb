"""The offline rules partition: hand-written descriptions and the sub-actions an animator expects."""
from __future__ import annotations

import pytest

from zomg_blender.engine.errors import ZomgError
from zomg_blender.engine.partition import Partition, partition
from zomg_blender.engine.partition.rules import MAX_REPEAT

P = "a person "

CASES = [
    # the brief's example, and sequence markers
    ("a person walks in, waves with the left hand, bows, then runs off",
     [P + "walks in", P + "waves with the left hand", P + "bows", P + "runs off"]),
    ("he walks then turns", [P + "walks", P + "turns"]),
    ("he walks and then turns around", [P + "walks", P + "turns around"]),
    ("he sits down. next, he stands up", [P + "sits down", P + "stands up"]),
    ("she jumps, after that she lands", [P + "jumps", P + "lands"]),
    ("he crouches. Afterwards he stands", [P + "crouches", P + "stands"]),
    ("he kneels, prays and finally stands up", [P + "kneels", P + "prays", P + "stands up"]),
    ("he waves, followed by a bow", [P + "waves", P + "bows"]),
    ("the person performs a cartwheel followed by a forward roll",
     ["the person performs a cartwheel", "the person does a forward roll"]),
    ("he stops; subsequently he turns back", [P + "stops", P + "turns back"]),
    ("he walks. Later, he runs", [P + "walks", P + "runs"]),
    ("he stumbles and eventually falls", [P + "stumbles", P + "falls"]),
    ("first, he walks. second, he waves. lastly, he bows.", [P + "walks", P + "waves", P + "bows"]),
    ("first walk forward, then turn around, and finally sit down",
     [P + "walks forward", P + "turns around", P + "sits down"]),
    ("a few seconds later, he runs", [P + "runs"]),
    ("after a while, he sits down", [P + "sits down"]),
    ("he walks in and then out", [P + "walks in", P + "walks out"]),
    ("walks forward, then back", [P + "walks forward", P + "walks back"]),
    ("turns left, then right", [P + "turns left", P + "turns right"]),
    # before / after / once, with reordering
    ("before bowing, he waves", [P + "waves", P + "bows"]),
    ("after waving she bows", [P + "waves", P + "bows"]),
    ("he bows after waving", [P + "waves", P + "bows"]),
    ("he bows, after waving", [P + "waves", P + "bows"]),
    ("he waves before bowing", [P + "waves", P + "bows"]),
    ("he bows after waving, then runs off", [P + "waves", P + "bows", P + "runs off"]),
    ("after he waves he bows", [P + "waves", P + "bows"]),
    ("after sitting down, the man drinks from a cup", ["the man sits down", "the man drinks from a cup"]),
    ("he walks, and after waving, bows", [P + "walks", P + "waves", P + "bows"]),
    ("once he stops, he waves", [P + "stops", P + "waves"]),
    ("he waves once he stops", [P + "stops", P + "waves"]),
    ("when he reaches the wall, he turns around", [P + "reaches the wall", P + "turns around"]),
    ("he bows. before that, he waves.", [P + "waves", P + "bows"]),
    ("he runs after the ball", [P + "runs after the ball"]),
    ("he stands before the mirror", [P + "stands before the mirror"]),
    # several sentences, pronouns, carried subjects
    ("The man walks in. He waves. Then he bows.", ["the man walks in", P + "waves", P + "bows"]),
    ("The man walks in. Waves.", ["the man walks in", "the man waves"]),
    ("the man walks then turns", ["the man walks", "the man turns"]),
    ("they walk and wave", [P + "walks", P + "waves"]),
    ("it walks forward then stops", [P + "walks forward", P + "stops"]),
    ("someone jumps over an obstacle and then falls", ["someone jumps over an obstacle", "someone falls"]),
    ("John waves then sits", ["john waves", "john sits"]),
    ("A person: walks, waves, bows", [P + "walks", P + "waves", P + "bows"]),
    ("the music starts, then he dances", ["the music starts", P + "dances"]),
    ("he waves as he walks, then stops", [P + "waves as a person walks", P + "stops"]),
    # commas and "and" between verb phrases, not inside noun phrases
    ("walks forward and kicks", [P + "walks forward", P + "kicks"]),
    ("waves with both hands", [P + "waves with both hands"]),
    ("raises the left and right arms", [P + "raises the left and right arms"]),
    ("he waves his arms up and down", [P + "waves his arms up and down"]),
    ("he moves back and forth", [P + "moves back and forth"]),
    ("crawls on hands and knees", [P + "crawls on hands and knees"]),
    ("the man waves hello and goodbye", ["the man waves hello and goodbye"]),
    ("A woman picks up a box and puts it on the table.", ["a woman picks up a box", "a woman puts it on the table"]),
    ("the person crouches, jumps up and lands softly",
     ["the person crouches", "the person jumps up", "the person lands softly"]),
    ("he runs forward, stops, looks around, and walks back slowly",
     [P + "runs forward", P + "stops", P + "looks around", P + "walks back slowly"]),
    ("he raises his arms, palms up, and then lowers them", [P + "raises his arms, palms up", P + "lowers them"]),
    ("the man walks in, looks left and right, and leaves",
     ["the man walks in", "the man looks left and right", "the man leaves"]),
    ("he walks in, waving", [P + "walks in, waving"]),
    ("takes three steps and stops", [P + "takes three steps", P + "stops"]),
    ("he is walking and waving", [P + "is walking", P + "is waving"]),
    ("he starts to walk and then runs", [P + "starts to walk", P + "runs"]),
    ("a jump, a spin, then a bow", [P + "jumps", P + "spins", P + "bows"]),
    ("he sashays, then twirls", [P + "sashays", P + "twirls"]),
    # imperative and gerund input
    ("walk, wave, bow", [P + "walks", P + "waves", P + "bows"]),
    ("walking, waving and bowing", [P + "walks", P + "waves", P + "bows"]),
    ("Walking forward. Turning around. Sitting down.", [P + "walks forward", P + "turns around", P + "sits down"]),
    ("punch, kick, then crouch", [P + "punches", P + "kicks", P + "crouches"]),
    ("sashay, then twirl", [P + "sashays", P + "twirls"]),
    # repetition
    ("jumps 3 times", [P + "jumps"] * 3),
    ("he waves twice with the right hand", [P + "waves with the right hand"] * 2),
    ("she sits down and stands up three times", [P + "sits down"] + [P + "stands up"] * 3),
    ("swing the golf club two times", [P + "swings the golf club"] * 2),
    ("jump x3", [P + "jumps"] * 3),
    ("the boxer jabs twice, then ducks", ["the boxer jabs", "the boxer jabs", "the boxer ducks"]),
    ("jumps, then jumps again", [P + "jumps", P + "jumps"]),
    ("kick, punch, kick again", [P + "kicks", P + "punches", P + "kicks"]),
    ("he jumps once", [P + "jumps"]),
    ("he spins again and again", [P + "spins again and again"]),
    ("he claps a couple of times", [P + "claps"] * 2),
    # simultaneous actions stay together
    ("waves while walking", [P + "waves while walking"]),
    ("while walking, he waves", [P + "waves while walking"]),
    ("as he walks, he waves", [P + "waves as a person walks"]),
    ("whilst running he looks back", [P + "looks back whilst running"]),
    ("walks and waves at the same time, then bows", [P + "walks and waves at the same time", P + "bows"]),
    ("the man walks forward and simultaneously swings his arms",
     ["the man walks forward and simultaneously swings his arms"]),
    ("the man walks in a circle while waving, then claps his hands",
     ["the man walks in a circle while waving", "the man claps his hands"]),
    # punctuation, case, unicode, layout
    ("He walks in \u2014 then waves.", [P + "walks in", P + "waves"]),
    ("\u201cwalk in, then wave\u201d", [P + "walks in", P + "waves"]),
    ("the woman\u2019s arms swing as she walks, then she stops",
     ["the woman's arms swing as a person walks", P + "stops"]),
    ("  A PERSON WALKS!!  ", [P + "walks"]),
    ("walk forward, wave. bow!", [P + "walks forward", P + "waves", P + "bows"]),
    ("he kneels down; prays; stands up", [P + "kneels down", P + "prays", P + "stands up"]),
    ("1. walk in\n2. wave\n3. sit down", [P + "walks in", P + "waves", P + "sits down"]),
    ("- jump\n- land", [P + "jumps", P + "lands"]),
    # exercise nouns are done, not re-inflected; "squats" is a verb only next to finite verbs
    ("jumping jacks", [P + "does jumping jacks"]),
    ("push-ups, sit ups and lunges", [P + "does push-ups", P + "does sit ups", P + "does lunges"]),
    ("knee raises, toe touches, arm circles", [P + "does knee raises", P + "does toe touches", P + "does arm circles"]),
    ("high knees then burpees", [P + "does high knees", P + "does burpees"]),
    ("he does jumping jacks, then squats", [P + "does jumping jacks", P + "does squats"]),
    ("10 push-ups, 20 squats", [P + "does 10 push-ups", P + "does 20 squats"]),
    ("star jumps, cartwheels and somersaults", [P + "does star jumps", P + "does cartwheels", P + "does somersaults"]),
    ("walks, squats, and stands up", [P + "walks", P + "squats", P + "stands up"]),
    ("the man squats then stands", ["the man squats", "the man stands"]),
    ("he squats, rising slowly", [P + "squats, rising slowly"]),
    ("walking, then jumping jacks", [P + "walks", P + "does jumping jacks"]),
    # motion-capture index lines (CMU), verbatim
    ("jumping jacks, side twists, bend over, squats",
     [P + "does jumping jacks", P + "does side twists", P + "bends over", P + "does squats"]),
    ("jumping jacks, side twists, squats, jog",
     [P + "does jumping jacks", P + "does side twists", P + "does squats", P + "jogs"]),
    ("jumping jacks, jog, squats, side twists, stretches",
     [P + "does jumping jacks", P + "jogs", P + "does squats", P + "does side twists", P + "does stretches"]),
    ("jumping jacks, side twists, reach up, bend over",
     [P + "does jumping jacks", P + "does side twists", P + "reaches up", P + "bends over"]),
    ("walking, squats, stretching, kicking, and punching",
     [P + "walks", P + "does squats", P + "stretches", P + "kicks", P + "punches"]),
    ("Cartwheels", [P + "does cartwheels"]),
    ("Start Hop Stop", [P + "starts", P + "hops", P + "stops"]),
    ("Start Walk Stop", [P + "starts", P + "walks", P + "stops"]),
    ("Run Jump Stop Run", [P + "runs", P + "jumps", P + "stops", P + "runs"]),
    ("Run Turn Left", [P + "runs", P + "turns left"]),
    ("Pick box up, bend from waist", [P + "picks box up", P + "bends from waist"]),
    ("playground - climb, hang, swing", [P + "climbs", P + "hangs", P + "swings"]),
    ("basketball - dribble, shoot", [P + "dribbles", P + "shoots"]),
    ("bend over, scoop up, rise, lift arm", [P + "bends over", P + "scoops up", P + "rises", P + "lifts arm"]),
    ("unscrew bottlecap, drink soda, screw on bottlecap",
     [P + "unscrews bottlecap", P + "drinks soda", P + "screws on bottlecap"]),
    ("walk backwards, feign a few attacks, then attack",
     [P + "walks backwards", P + "feigns a few attacks", P + "attacks"]),
    ("walk/hobble", [P + "walks or hobbles"]),
    ("run/jog, veer left", [P + "runs or jogs", P + "veers left"]),
    ("start, walk, stop", [P + "starts", P + "walks", P + "stops"]),
    # benchmark-style wordings: labels, one-path "then", joined with ", then "
    ("locomotion: walk forwards, then right arm goes up", [P + "walks forwards", P + "right arm goes up"]),
    ("moving forward at a jog, then locomotion: walk forwards",
     [P + "moves forward at a jog", P + "walks forwards"]),
    ("lifting two arms up then down, then run cycle", [P + "lifts two arms up then down", P + "does a run cycle"]),
    ("turns left then right", [P + "turns left then right"]),
    # a participle of manner after a comma describes the same action
    ("retreating steps, facing front", [P + "retreats steps, facing front"]),
    ("walks backward, facing the camera, then bows", [P + "walks backward, facing the camera", P + "bows"]),
    # single actions
    ("she dances", [P + "dances"]),
    ("a person walks.", [P + "walks"]),
    ("dance", [P + "dances"]),
]


@pytest.mark.parametrize("text,expected", CASES, ids=[c[0][:48] for c in CASES])
def test_rules_case(text, expected):
    result = partition(text)
    assert isinstance(result, Partition)
    assert result.subactions == expected
    assert result.backend == "rules" and result.model is None


def test_case_count_covers_the_brief():
    assert len(CASES) >= 60


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "...", "!!!", "?!", ", ; :", "\u201c \u201d"])
def test_empty_or_punctuation_only_is_a_user_error(text):
    with pytest.raises(ZomgError):
        partition(text)


def test_repetition_is_capped_with_a_warning():
    result = partition("he jumps 50 times")
    assert result.subactions == [P + "jumps"] * MAX_REPEAT
    assert len(result.warnings) == 1 and "50" in result.warnings[0]


def test_very_long_list_keeps_every_action_in_order():
    verbs = ["walk", "run", "jump", "kick", "punch", "wave", "bow", "turn", "sit", "stand", "crouch", "crawl",
             "roll", "spin", "clap", "nod", "point", "reach", "stretch", "squat", "hop", "skip", "march",
             "dance", "throw", "catch", "push", "pull", "lift", "stomp"]
    result = partition(", ".join(verbs[:-1]) + " and then " + verbs[-1])
    assert result.subactions == [P + v + ("es" if v.endswith(("sh", "ch")) else "s") for v in verbs]


def test_deterministic_and_no_words_invented():
    text = "The dancer spins around, sways from side to side and bows to the audience twice."
    first = partition(text)
    assert first == partition(text)
    words = set(text.lower().replace(".", "").replace(",", "").split()) | {"a", "person"}
    for sub in first.subactions:
        for word in sub.split():
            assert word in words or word.rstrip("s") in words or word + "s" in words, word


def test_unknown_backend_and_option_are_user_errors():
    with pytest.raises(ZomgError):
        partition("walk", backend="gpt")
    with pytest.raises(ZomgError):
        partition("walk", base_ulr="http://x")


def test_rules_accepts_and_ignores_llm_options():
    result = partition("walk then wave", "rules", base_url="http://127.0.0.1:1", online=False, timeout=1)
    assert result.subactions == [P + "walks", P + "waves"] and result.warnings == []
