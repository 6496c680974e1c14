"""Every GB/T 2260 division code ever issued, for checking resident ID numbers.

A resident ID keeps the region code of the place that first issued it, so codes that were
retired since (崇文区 110103, gone in 2010) and codes created after the holder's birth (天河区
440106, created 1985, on the cards of people born before) are on living people's cards. The
check is therefore membership in the union of every revision 1980–2019 and the 2023 list, not
the code table of the birth year (python-stdnum's rule, which rejected such IDs).

The set ships as ``data/gb2260_codes.txt`` (one code a line, about 50 KB), and the divisions'
names as ``data/gb2260_places.txt`` (石家庄市 and, three characters or more, 石家庄: place
names are not person names), rebuilt from the official tables in ``../shared/data/pii`` by::

    python -m aigc.guard.cn_regions [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
from functools import cache
from pathlib import Path

CODES_FILE = Path(__file__).with_name("data") / "gb2260_codes.txt"
PLACES_FILE = Path(__file__).with_name("data") / "gb2260_places.txt"
_SUFFIXES = ("自治县", "自治州", "自治区", "地区", "县", "区", "市", "旗", "州", "省", "盟")
SOURCES = ("gb2260_division_codes.csv", "zh_admin_divisions_2023.csv")


@cache
def codes() -> frozenset[str]:
    """The six-digit codes of every division that ever had one."""
    lines = CODES_FILE.read_text(encoding="ascii").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


@cache
def places() -> frozenset[str]:
    """Division names with their suffix, and without it where three characters remain."""
    lines = PLACES_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def _place_names(name: str) -> set[str]:
    out = {name}
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 3:
            out.add(name[: -len(suffix)])
            break
    return out


def build(root: Path, out: Path = CODES_FILE, places_out: Path = PLACES_FILE) -> int:
    """Write the union of the code columns of both tables and the divisions' names; returns
    how many codes."""
    found: set[str] = set()
    names: set[str] = set()
    for name in SOURCES:
        with (root / "pii" / name).open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                found.add(row["code"].zfill(6))
                for value in [row["name"], *(row.get("other_names") or "").split("|")]:
                    if value and value not in ("市辖区", "县", "省直辖县级行政区划"):
                        names.update(_place_names(value))
    head = f"# {len(names)} GB/T 2260 division names: python -m aigc.guard.cn_regions"
    places_out.write_text(head + "\n" + "\n".join(sorted(names)) + "\n", encoding="utf-8")
    places.cache_clear()
    valid = sorted(c for c in found if len(c) == 6 and c.isdigit())
    header = f"# {len(valid)} GB/T 2260 codes, 1980-2019 and 2023: python -m aigc.guard.cn_regions"
    out.write_text(header + "\n" + "\n".join(valid) + "\n", encoding="ascii")
    codes.cache_clear()
    return len(valid)


def main() -> None:
    parser = argparse.ArgumentParser(description="Rebuild the GB/T 2260 code set.")
    default = Path(__file__).resolve().parents[3].parent / "shared" / "data"
    parser.add_argument("--data", type=Path, default=default)
    args = parser.parse_args()
    print(f"{build(args.data)} codes: {CODES_FILE}")


if __name__ == "__main__":
    main()
