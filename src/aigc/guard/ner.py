"""A small token classifier for names, places and street addresses, trained here.

The word-list recognizers in ``gazetteer.py`` propose PERSON, LOCATION and STREET_ADDRESS
spans; this model decides token by token, from features that do not memorise names: the
rules' proposal for the token and its neighbours, capitalisation and shape, membership in the
name/place/street lists, and the neighbouring words (lower-cased, hashed) that carry context
("my name is", "lives at"). A multinomial logistic regression over hashed features; the artifact
``ner.npz`` (float16 weights) is rebuilt by ``python -m aigc.guard.ner --data ../shared/data``
from the *tune* half of Presidio's synthetic sentences (``bench/pii.py`` reports the other
half). Without the artifact the rules' spans are used as they are.
"""

from __future__ import annotations

import argparse
import bisect
import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sklearn.feature_extraction import FeatureHasher

from aigc.guard import gazetteer

if TYPE_CHECKING:
    from aigc.guard.pii import Finding

ARTIFACT = Path(__file__).with_name("ner.npz")
LABELS = ("O", "PERSON", "LOCATION", "STREET_ADDRESS")
N_FEATURES = 2**16
_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokens(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]


def _shape(word: str) -> str:
    if word.isdigit():
        return f"d{min(len(word), 6)}"
    if not word[0].isalnum():
        return "p" + word
    if word.isupper():
        return "U" if len(word) > 1 else "I"
    return "C" if word[0].isupper() else "l"


def _word_features(word: str, lst: gazetteer.Lists) -> list[str]:
    lower = word.lower()
    out = [f"shape={_shape(word)}"]
    if word in lst.first or word.title() in lst.first:
        out.append("first")
    if word in lst.last or word.title() in lst.last:
        out.append("last")
    if lower in lst.places:
        out.append("place")
    if lower in lst.common:
        out.append("common")
    if lower in lst.street_words:
        out.append("street")
    return out


def features(text: str) -> tuple[list[tuple[int, int, str]], list[list[str]]]:
    """Tokens and each token's feature strings."""
    lst = gazetteer.lists()
    toks = tokens(text)
    proposed = ["O"] * len(toks)
    finders = (
        ("PERSON", gazetteer.find_persons),
        ("LOCATION", gazetteer.find_locations),
        ("STREET_ADDRESS", gazetteer.find_addresses),
    )
    starts = [s for s, _, _ in toks]  # in order: a finding's tokens are found by bisection
    for label, finder in finders:
        for f in finder(text):
            for i in range(bisect.bisect_left(starts, f.start), bisect.bisect_left(starts, f.end)):
                proposed[i] = label if proposed[i] == "O" else proposed[i] + "+" + label
    base = [_word_features(w, lst) for _, _, w in toks]
    rows = []
    for i in range(len(toks)):
        feats = ["bias", f"rule={proposed[i]}", *base[i]]
        for d in (-2, -1, 1, 2):
            j = i + d
            if 0 <= j < len(toks):
                feats.append(f"w{d}={toks[j][2].lower()}")
                feats.append(f"rule{d}={proposed[j]}")
                feats.extend(f"{d}:{b}" for b in base[j])
            else:
                feats.append(f"w{d}=<edge>")
        if i == 0 or toks[i - 1][2] in ".!?\n":
            feats.append("sentence_start")
        rows.append(feats)
    return toks, rows


def _hasher() -> FeatureHasher:
    return FeatureHasher(n_features=N_FEATURES, input_type="string", alternate_sign=False)


@cache
def _model() -> tuple[np.ndarray, np.ndarray] | None:
    if not ARTIFACT.exists():
        return None
    with np.load(ARTIFACT, allow_pickle=False) as data:
        return data["weights"].astype(np.float32), data["intercepts"].astype(np.float32)


def predict(text: str) -> list[Finding] | None:
    """PERSON/LOCATION/STREET_ADDRESS spans by the model, or None without the artifact."""
    from aigc.guard.pii import Finding

    model = _model()
    if model is None:
        return None
    toks, rows = features(text)
    if not toks:
        return []
    weights, intercepts = model
    scores = _hasher().transform(rows) @ weights.T + intercepts
    labels = [LABELS[k] for k in scores.argmax(axis=1)]
    found: list[Finding] = []
    i = 0
    while i < len(toks):
        label = labels[i]
        j = i
        while j + 1 < len(toks) and labels[j + 1] == label and label != "O":
            gap = text[toks[j][1] : toks[j + 1][0]]
            if "\n\n" in gap or (label == "PERSON" and "\n" in gap):
                break
            j += 1
        if label == "PERSON":
            i = _without_opening_word(text, toks, i, j)
            place = _place_around(text, toks, i, j)
            if place is not None:
                label, (i, j) = "LOCATION", place
            elif _is_place(toks, i, j) or _coordinated_place(text, toks, i, j, found):
                label = "LOCATION"
            elif _is_command(text, toks, i, j) or _ordinary_word(toks, i, j):
                label = "O"
        if label in ("PERSON", "LOCATION") and _is_date(toks, i, j):
            label = "O"
        if label != "O":
            start, end = toks[i][0], toks[j][1]
            # A phone number found by its format wins over an overlapping address guess.
            priority = 40 if label == "PERSON" else 27
            found.append(Finding(label, start, end, text[start:end], priority))
        i = j + 1
    return found


# Places the token model called people: it learnt from sentences whose place names were
# Faker's, so a real city ("He lives in Paris", "I flew to London") or a place that is a first
# name too ("our office in Austin") read as a person.
_LOCATIVE = frozenset({"in", "near", "around", "across", "outside", "inside", "throughout"})
_DIRECTION = frozenset({"to", "from", "via"})
_OF_PEOPLE = frozenset({"mr", "mrs", "ms", "dr", "prof", "says", "said", "asked", "told", "dear"})


def _word_before(toks: list[tuple[int, int, str]], i: int) -> str:
    """The lower-cased word before token ``i``, past an abbreviation's full stop ("Mr.")."""
    k = i - 1
    if k >= 0 and toks[k][2] == ".":
        k -= 1
    return toks[k][2].lower() if k >= 0 else ""


def _is_place(toks: list[tuple[int, int, str]], i: int, j: int) -> bool:
    """A span the token model called a person that names a place: any known place after
    "in"/"near" ("in Jordan", "in Austin": first names too), one of the world's places that is
    nobody's first name ("Tokyo"; "London" after to/from/via, as it is a surname too)."""
    words = [tok[2] for tok in toks[i : j + 1]]
    name = " ".join(words).lower()
    lists = gazetteer.lists()
    before = _word_before(toks, i)
    world = name in gazetteer.world_places()
    if not (world or name in lists.places) or before in _OF_PEOPLE:
        return False  # "says Izumi", "Mr. London": a person (Izumi is a Japanese city too)
    if before in _LOCATIVE:
        return True
    if not world:
        return False
    if len(words) > 1:
        return True  # Los Angeles, Buenos Aires: no one's name, whatever its words are
    word = words[0]
    if _after_travel(toks, i):
        return True  # "a trip to Paris", "fly into Austin", "flew to London"
    if word in lists.first or word.title() in lists.first:
        return False  # "Paris", "Austin", "Florence": as often someone's first name
    # a surname that is also a city ("London", "Houston") is the city after to/from/via
    return before in _DIRECTION or word not in lists.last


# Words of going somewhere that take a place, not a person: the place after them, directly or
# after to/into/from, is where one goes ("a trip to London", "fly into Austin", "the flight
# from Paris to London"). Words that take people as well ("visit", "go", "returned to") are
# left out: "returned to Elizabeth" is a person.
_TRAVEL = frozenset(
    {
        "arrive", "arrived", "arriving", "commute", "drive", "driving", "drove", "flew",
        "flight", "flights", "fly", "flying", "journey", "move", "moved", "moving", "relocate",
        "relocated", "relocating", "ticket", "tickets", "train", "travel", "traveled",
        "traveling", "travelled", "travelling", "trip", "trips",
    }
)  # fmt: skip
_TRAVEL_LINKS = frozenset({"to", "into", "from", "via", "for"})


def _after_travel(toks: list[tuple[int, int, str]], i: int) -> bool:
    """Whether token ``i`` names where someone goes: after a travel word, directly or after
    to/into/from/via/for, or after "from <a known place> to"."""
    words = [tok[2].lower() for tok in toks[max(0, i - 3) : i]]
    if words[-1:] and words[-1] in _TRAVEL:
        return True
    if not words or words[-1] not in _TRAVEL_LINKS:
        return False
    if words[-2:-1] and words[-2] in _TRAVEL:
        return True
    return (
        words[-1] == "to"
        and len(words) == 3
        and words[0] == "from"
        and _known_place(toks[i - 2][2])
    )


def _known_place(word: str) -> bool:
    return word.lower() in gazetteer.world_places() or word.lower() in gazetteer.lists().places


def _coordinated_place(
    text: str, toks: list[tuple[int, int, str]], i: int, j: int, found: list[Finding]
) -> bool:
    """A world place joined by "and"/"or"/a comma to a place just found ("in Paris and
    London"), or by a comma to a street address just found (an address's city: "221B Baker
    Street, London"): a list of places, not a place and a person."""
    if not found or i != j or found[-1].entity not in ("LOCATION", "STREET_ADDRESS"):
        return False
    name = toks[i][2].lower()
    joint = text[found[-1].end : toks[i][0]].strip().lower()
    joints = ("and", "or", ",", ", and", ", or") if found[-1].entity == "LOCATION" else (",",)
    return joint in joints and name in gazetteer.world_places()


_MONTHS = frozenset(
    "january february march april may june july august september october november december".split()  # noqa: SIM905
)
_WEEKDAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday".split())  # noqa: SIM905
_DAY = re.compile(r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?|(?:19|20)\d\d", re.I)


def _is_date(toks: list[tuple[int, int, str]], i: int, j: int) -> bool:
    """A weekday, or a month beside a day or a year ("June 10th", "5 April", "the 1st of
    January", "May 2024"): a date, though April, June and May are first names too."""
    if i != j:
        return False
    word = toks[i][2].lower()
    if word in _WEEKDAYS:
        return True
    if word not in _MONTHS:
        return False
    after = toks[i + 1][2] if i + 1 < len(toks) else ""
    before = _word_before(toks, i)
    if before == "of" and i >= 2:
        before = toks[i - 2][2]
    return bool(_DAY.fullmatch(after) or _DAY.fullmatch(before))


def _ordinary_word(toks: list[tuple[int, int, str]], i: int, j: int) -> bool:
    """A one-word span that is an ordinary English word and no first or last name of Faker's
    English locales ("Slack", "Coffee", "Team", "She"; a log line's "Server" or "Room", which
    other locales' lists hold): capitalised by its place or as a product, not a person. A name
    no list knows stays (Bingley, Wickham); Grace, Mark and Press stay names."""
    if i != j:
        return False
    word = toks[i][2]
    first, last = gazetteer.english_first_names(), gazetteer.english_last_names()
    if any(form in first or form in last for form in (word, word.title())):
        return False
    return word.lower() in gazetteer.english_words()


# Words that follow a verb, never a name opening a sentence: "Edit the following sentence",
# "Sort this list", "Book a table" (Edit and Sort are names in some languages).
_DETERMINERS = frozenset(
    {"the", "this", "that", "these", "those", "a", "an", "my", "your", "our", "their", "its"}
)


def _is_command(text: str, toks: list[tuple[int, int, str]], i: int, j: int) -> bool:
    """A one-word span opening a sentence, followed by a determiner and no English first name
    ("Edit the…", not "Charlotte the wife of…"): a verb of command."""
    if i != j or i + 1 >= len(toks) or toks[i + 1][2].lower() not in _DETERMINERS:
        return False
    if toks[i][2].title() in gazetteer.english_first_names() or _word_before(toks, i) in _OF_PEOPLE:
        return False  # "Mrs. Bennet this morning": the full stop is the title's
    before = text[: toks[i][0]].rstrip()
    return not before or before[-1] in ".!?:;\n\"'“(-*•"


def _place_around(
    text: str, toks: list[tuple[int, int, str]], i: int, j: int
) -> tuple[int, int] | None:
    """The tokens of a place of several words that the span is part of ("Hong" of "Hong
    Kong", "Angeles" of "Los Angeles"), or None."""
    for first, last in ((i, j + 1), (i, j + 2), (i - 1, j), (i - 2, j)):
        if first < 0 or last >= len(toks):
            continue
        if any(text[toks[k][1] : toks[k + 1][0]] != " " for k in range(first, last)):
            continue
        name = " ".join(tok[2] for tok in toks[first : last + 1]).lower()
        if name in gazetteer.world_places() or name in gazetteer.lists().places:
            return first, last
    return None


# Words that open a sentence addressed to or about someone ("Contact John Smith", "Dear Anna
# Schmidt", "Thank Maria"): capitalised by their place, so the token model took them into the
# name. Written from how such sentences open, not read off a data set.
_OPENING_WORDS = frozenset(
    {
        "ask",
        "call",
        "cc",
        "contact",
        "congratulate",
        "congratulations",
        "dear",
        "email",
        "hello",
        "hey",
        "hi",
        "inform",
        "invite",
        "meet",
        "message",
        "notify",
        "ping",
        "please",
        "remind",
        "tell",
        "text",
        "thank",
        "thanks",
        "welcome",
    }
)


_OPENING_OR_TRAVEL = _OPENING_WORDS | _TRAVEL


def _without_opening_word(text: str, toks: list[tuple[int, int, str]], i: int, j: int) -> int:
    """The span's first token, past a sentence's opening word of address or of travel that
    is no name ("Contact John Smith" → John Smith, "Travel London …" → London)."""
    if i >= j or toks[i][2].lower() not in _OPENING_OR_TRAVEL:
        return i
    before = text[: toks[i][0]].rstrip()
    if before and before[-1] not in ".!?:;\n\"'“(":
        return i  # not the sentence's first word
    lists = gazetteer.lists()
    word = toks[i][2]
    if word in lists.first or word in lists.last:
        return i
    return i + 1


_cached: dict[str, list[Finding] | None] = {}


def find(label: str, text: str) -> Iterable[Finding]:
    """The model's spans of one label (computed once per text for the three labels), falling
    back to the word-list recognizer without the artifact."""
    if len(_cached) > 64:
        _cached.clear()
    if text not in _cached:
        _cached[text] = predict(text)
    spans = _cached[text]
    if spans is None:
        fallback = {
            "PERSON": gazetteer.find_persons,
            "LOCATION": gazetteer.find_locations,
            "STREET_ADDRESS": gazetteer.find_addresses,
        }[label]
        yield from fallback(text)
        return
    yield from (f for f in spans if f.entity == label)


def train(samples: list[dict], c: float = 1.0) -> None:
    from sklearn.linear_model import LogisticRegression

    gold_map = {"GPE": "LOCATION"}
    rows, ys = [], []
    for sample in samples:
        toks, feats = features(sample["full_text"])
        for (s, _, _), f in zip(toks, feats, strict=True):
            label = "O"
            for span in sample["spans"]:
                entity = gold_map.get(span["entity_type"], span["entity_type"])
                if entity in LABELS and span["start_position"] <= s < span["end_position"]:
                    label = entity
            rows.append(f)
            ys.append(LABELS.index(label))
    x = _hasher().transform(rows)
    model = LogisticRegression(C=c, max_iter=3000)
    model.fit(x, ys)
    weights = np.zeros((len(LABELS), N_FEATURES), dtype=np.float32)
    intercepts = np.zeros(len(LABELS), dtype=np.float32)
    for row, k in enumerate(model.classes_):
        weights[k] = model.coef_[row]
        intercepts[k] = model.intercept_[row]
    missing = set(range(len(LABELS))) - set(model.classes_)
    intercepts[list(missing)] = -1e4
    np.savez_compressed(ARTIFACT, weights=weights.astype(np.float16), intercepts=intercepts)
    _model.cache_clear()


def main() -> None:
    import zlib

    parser = argparse.ArgumentParser(description="Train the name/place/address token model.")
    default = Path(__file__).resolve().parents[3].parent / "shared" / "data"
    parser.add_argument("--data", type=Path, default=default)
    args = parser.parse_args()
    samples = json.loads((args.data / "pii" / "presidio_synth_dev.json").read_text())
    tune = [s for s in samples if zlib.crc32(s["full_text"].encode()) % 2 == 0]
    train(tune)
    print(f"trained on {len(tune)} sentences: {ARTIFACT} ({ARTIFACT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
