"""Every GB/T 2260 division code ever issued, for checking resident ID numbers.

A resident ID keeps the region code of the place that first issued it, so codes that were
retired since (崇文区 110103, gone in 2010) and codes created after the holder's birth (天河区
440106, created 1985, on the cards of people born before) are on living people's cards. The
check is therefore membership in the union of every revision 1980–2019 and the 2023 list, not
the code table of the birth year (python-stdnum's rule, which rejected such IDs).

The set ships as ``data/gb2260_codes.txt`` (one code a line, about 50 KB), rebuilt from the
official tables in ``../shared/data/pii`` by::

    python -m aigc.guard.cn_regions [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
from functools import cache
from pathlib import Path

CODES_FILE = Path(__file__).with_name("data") / "gb2260_codes.txt"
SOURCES = ("gb2260_division_codes.csv", "zh_admin_divisions_2023.csv")


@cache
def codes() -> frozenset[str]:
    """The six-digit codes of every division that ever had one."""
    lines = CODES_FILE.read_text(encoding="ascii").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def build(root: Path, out: Path = CODES_FILE) -> int:
    """Write the union of the code columns of both tables; returns how many codes."""
    found: set[str] = set()
    for name in SOURCES:
        with (root / "pii" / name).open(encoding="utf-8", newline="") as f:
            found.update(row["code"].zfill(6) for row in csv.DictReader(f))
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
