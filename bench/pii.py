"""PII detection quality: per-entity precision / recall / F1, English and Chinese.

English: ``../shared/data/pii/presidio_synth_dev.json`` (Presidio's synthetic sentences with
labelled spans). The sentences are split into two halves by a hash of their text: the
recognizers were tuned on the *tune* half, and the table reports the *report* half. (The data is
generated from templates, and a template's sentences fall on both sides.) Scoring is token
level, as presidio-evaluator does: each word or punctuation token gets the gold entity covering
it and the predicted one, and per entity TP/FP/FN are counted over tokens.
Gold GPE counts as our LOCATION; our CN_* entities map to the English ones they extend.

Chinese: a generated set (seeded) of sentences holding resident IDs, bank cards, unified social
credit codes and mobiles, half with valid checksums/prefixes and half with the check character
(or prefix) broken. Valid values must be found (recall), invalid ones must not (precision).
Hard cases (issue 17): resident IDs whose region code was created after the birth or retired
since (all valid: recall), and Chinese EAN-13 barcodes that also pass Luhn (none is a card).
Chinese person names are scored on MSRA by ``bench/pii_zh_names.py``.

Benign code: the 1,500 Python source chunks of ``../shared/data/guard/benign`` (mypy, MIT),
which hold no personal data: the share with a PERSON, LOCATION or STREET_ADDRESS found
(class names and constants the model takes for names and streets; docs/guard.md).

    python bench/pii.py [--split tune|report] [--zh-cases 2000]

Writes ``bench/results/pii.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import sys
import zlib
from collections import Counter
from pathlib import Path

from stdnum import ean, luhn
from stdnum.cn import ric, uscc

from aigc.guard import pii, pii_zh

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "pii" / "presidio_synth_dev.json"
CODE = ROOT.parent / "shared" / "data" / "guard" / "benign" / "python_code_chunks.jsonl"
RESULTS = ROOT / "bench" / "results" / "pii.json"
FLOORS = {
    "EMAIL_ADDRESS": 0.95,
    "PHONE_NUMBER": 0.95,
    "CREDIT_CARD": 0.95,
    "IBAN_CODE": 0.95,
    "IP_ADDRESS": 0.95,
    "US_SSN": 0.95,
    "PERSON": 0.80,
    "STREET_ADDRESS": 0.60,
    "LOCATION": 0.60,
}
GOLD_MAP = {"GPE": "LOCATION"}
PRED_MAP = {
    "CN_MOBILE": "PHONE_NUMBER",
    "CN_BANK_CARD": "CREDIT_CARD",
    "CN_PERSON": "PERSON",
    "CN_ADDRESS": "STREET_ADDRESS",
}
_TOKEN = re.compile(r"\w+|[^\w\s]")


def split_of(sample: dict) -> str:
    """A fixed pseudo-random half of the sentences (by a hash of the text). Splitting by
    template instead would put every IBAN and SSN sentence on one side."""
    return "tune" if zlib.crc32(sample["full_text"].encode()) % 2 == 0 else "report"


def label_tokens(text: str, spans: list[tuple[str, int, int]]) -> list[str]:
    labels = []
    for m in _TOKEN.finditer(text):
        label = "O"
        for entity, start, end in spans:
            if start <= m.start() < end:
                label = entity
                break
        labels.append(label)
    return labels


def score_english(samples: list[dict]) -> dict[str, dict[str, float]]:
    counts: dict[str, Counter] = {e: Counter() for e in FLOORS}
    for sample in samples:
        text = sample["full_text"]
        gold = [
            (
                GOLD_MAP.get(s["entity_type"], s["entity_type"]),
                s["start_position"],
                s["end_position"],
            )
            for s in sample["spans"]
        ]
        predicted = [(PRED_MAP.get(f.entity, f.entity), f.start, f.end) for f in pii.detect(text)]
        for g, p in zip(label_tokens(text, gold), label_tokens(text, predicted), strict=True):
            for entity in FLOORS:
                if g == entity and p == entity:
                    counts[entity]["tp"] += 1
                elif p == entity:
                    counts[entity]["fp"] += 1
                elif g == entity:
                    counts[entity]["fn"] += 1
    return {e: prf(c["tp"], c["fp"], c["fn"]) for e, c in counts.items()}


def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}


# --- the generated Chinese set -------------------------------------------------------------

REGIONS = ["110101", "310104", "440305", "330106", "510107", "420106", "320102", "370102"]
TEMPLATES = {
    "CN_RESIDENT_ID": [
        "我的身份证号是{v}，请帮我查询。",
        "申请人身份证：{v}",
        "证件号码 {v} 已登记",
    ],
    "CN_BANK_CARD": ["工资请打到这张卡 {v}。", "银行卡号：{v}，开户行招商银行", "退款账户{v}"],
    "CN_USCC": ["公司统一社会信用代码为{v}。", "信用代码：{v}", "请核对企业代码 {v} 是否正确"],
    "CN_MOBILE": ["有事请打我手机{v}。", "联系电话：{v}", "客户留的号码是 {v}，请回访"],
}


def _break(value: str, alphabet: str) -> str:
    return value[:-1] + random.choice([c for c in alphabet if c != value[-1]])


def make_value(entity: str, valid: bool) -> str:
    if entity == "CN_RESIDENT_ID":
        value = ""
        while not pii_zh.resident_id_valid(value):  # a region code that existed in the birth year
            birth = dt.date(1950, 1, 1) + dt.timedelta(days=random.randrange(0, 365 * 55))
            body = (
                random.choice(REGIONS) + birth.strftime("%Y%m%d") + f"{random.randrange(1000):03d}"
            )
            value = body + ric.calc_check_digit(body + "0")
        return value if valid else _break(value, "0123456789X")
    if entity == "CN_BANK_CARD":
        body = "62" + "".join(random.choices("0123456789", k=random.choice([13, 14, 15, 16])))
        value = body + luhn.calc_check_digit(body)
        return value if valid else _break(value, "0123456789")
    if entity == "CN_USCC":
        alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        body = random.choice(["91", "92", "93", "11", "51"]) + random.choice(REGIONS)
        body += "".join(random.choices(alphabet, k=9))
        value = body + uscc.calc_check_digit(body + "0")
        return value if valid else _break(value, alphabet)
    mobile = "1" + random.choice("3456789") + "".join(random.choices("0123456789", k=9))
    if not valid:  # a prefix no Chinese mobile has, or one digit short
        mobile = (
            random.choice(["12", "10", "11"]) + mobile[2:] if random.random() < 0.5 else mobile[:-1]
        )
    if random.random() < 0.3:
        mobile = f"{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}" if len(mobile) == 11 else mobile
    return mobile


def score_chinese(cases: int, seed: int = 0) -> dict[str, dict[str, float]]:
    random.seed(seed)
    results = {}
    for entity, templates in TEMPLATES.items():
        tp = fp = fn = 0
        for i in range(cases):
            valid = i % 2 == 0
            value = make_value(entity, valid)
            text = random.choice(templates).format(v=value)
            start = text.index(value)
            found = [
                f
                for f in pii.detect(text)
                if f.entity == entity and f.start < start + len(value) and f.end > start
            ]
            if valid and found:
                tp += 1
            elif valid:
                fn += 1
            elif found:
                fp += 1
        results[entity] = prf(tp, fp, fn)
    return results


# Region codes created after 1980 (with the year) and codes retired since (with the last year
# they were issued), from the GB/T 2260 revisions: IDs carry them whatever the birth year.
NEWER_CODES = {"440106": 1985, "110112": 1997, "310115": 1992, "320115": 2000, "440308": 1997}
RETIRED_CODES = {"110103": 2009, "110104": 2009, "110221": 1998, "110222": 1997, "132202": 1992}
BARCODE_TEMPLATES = ["商品条码：{v}", "扫码枪读到 {v}，库存减一", "EAN {v} 的货品已上架"]


def _resident_id(region: str, first: int, last: int) -> str:
    birth = dt.date(first, 1, 1) + dt.timedelta(days=random.randrange(0, 365 * (last - first)))
    body = region + birth.strftime("%Y%m%d") + f"{random.randrange(1000):03d}"
    return body + ric.calc_check_digit(body + "0")


def _barcode() -> str:
    """A Chinese (690–699) EAN-13 that passes Luhn too: the kind that was taken for a card."""
    while True:
        body = str(random.randrange(690, 700)) + f"{random.randrange(10**9):09d}"
        value = body + ean.calc_check_digit(body)
        if luhn.is_valid(value):
            return value


def score_hard_cases(cases: int, seed: int = 1) -> dict[str, dict[str, float]]:
    """Recall of IDs whose region code is newer than the birth or retired; false cards among
    EAN-13 barcodes (all of them negatives)."""
    random.seed(seed)
    rows = {}
    for label, codes in (("ID, newer code", NEWER_CODES), ("ID, retired code", RETIRED_CODES)):
        found = 0
        for _ in range(cases):
            region, year = random.choice(sorted(codes.items()))
            first, last = (1940, year) if codes is NEWER_CODES else (1940, year + 1)
            value = _resident_id(region, first, last)
            text = random.choice(TEMPLATES["CN_RESIDENT_ID"]).format(v=value)
            found += any(f.entity == "CN_RESIDENT_ID" for f in pii.detect(text))
        rows[label] = prf(found, 0, cases - found)
    false_cards = 0
    for _ in range(cases):
        text = random.choice(BARCODE_TEMPLATES).format(v=_barcode())
        false_cards += any(f.entity in ("CREDIT_CARD", "CN_BANK_CARD") for f in pii.detect(text))
    rows["EAN-13 as a card"] = {
        "precision": 1.0 - false_cards / cases,
        "recall": 1.0,
        "f1": 1.0,
        "support": cases,
        "false_cards": false_cards,
    }
    return rows


def table(title: str, rows: dict[str, dict[str, float]], floors: dict[str, float]) -> str:
    lines = [title, f"{'entity':<16} {'prec':>6} {'recall':>6} {'F1':>6} {'n':>5}  floor"]
    for entity, r in rows.items():
        floor = floors.get(entity)
        mark = "" if floor is None else ("ok" if r["f1"] >= floor else "BELOW") + f" {floor:.2f}"
        lines.append(
            f"{entity:<16} {r['precision']:6.3f} {r['recall']:6.3f} {r['f1']:6.3f}"
            f" {r['support']:5d}  {mark}"
        )
    return "\n".join(lines)


def score_code() -> dict[str, float]:
    """Share of code chunks with a name, place or street found, and what was found most."""
    chunks = [json.loads(line)["text"] for line in CODE.read_text().splitlines() if line]
    found = [pii.detect(c, ["PERSON", "LOCATION", "STREET_ADDRESS"]) for c in chunks]
    spans = Counter(f.value for fs in found for f in fs)
    return {
        "chunks": len(chunks),
        "with_a_finding": sum(bool(fs) for fs in found) / len(chunks),
        "findings": sum(spans.values()),
        "most_found": [value for value, _ in spans.most_common(5)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=["tune", "report"], default="report")
    parser.add_argument("--zh-cases", type=int, default=2000)
    args = parser.parse_args()
    out: dict = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    if DATA.exists():
        samples = [s for s in json.loads(DATA.read_text()) if split_of(s) == args.split]
        english = score_english(samples)
        print(table(f"English, {args.split} half ({len(samples)} sentences)", english, FLOORS))
        out["english"] = {"split": args.split, "sentences": len(samples), "entities": english}
    else:
        print(f"{DATA} not found: English part skipped", file=sys.stderr)
    chinese = score_chinese(args.zh_cases)
    print()
    print(table(f"Chinese, generated ({args.zh_cases} per entity, half invalid)", chinese, {}))
    out["chinese"] = chinese
    hard = score_hard_cases(args.zh_cases // 4)
    print()
    print(table(f"Chinese, hard cases ({args.zh_cases // 4} each)", hard, {}))
    print("(EAN-13 row: precision = share of barcodes not reported as a card)")
    out["chinese_hard_cases"] = hard
    if CODE.exists():
        code = score_code()
        out["benign_code"] = code
        print(
            f"\nPython code chunks with a PERSON, LOCATION or STREET_ADDRESS found: "
            f"{code['with_a_finding']:.3f} of {code['chunks']} ({code['findings']} spans)"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
