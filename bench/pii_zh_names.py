"""Chinese person names (CN_PERSON) on MSRA news sentences the detector never saw.

``../shared/data/pii/msra_ner_zh_sample.jsonl`` (4,997 People's Daily sentences with gold PER
spans; licence not stated, so evaluation only) is split in halves by a hash of the text: the
*tune* half was looked at while the features and templates were written, the table reports the
*report* half. Nothing of MSRA trains the model (``aigc/guard/zh_names_train.py``).

Scoring is by exact span, and by character as ``bench/pii.py`` scores English tokens (a
predicted character is right inside any gold PER span). Recall counts the gold names of Chinese
shape: two to four Han characters starting with a surname the detector knows
(``zh_lexicon.surnames``: recorded frequency ≥ 10 per 100k, or a double surname). That leaves
out one-character mentions (江, 李) and transliterated names starting with a rare surname
character (克林顿, 布拉特), but keeps those starting with a common one (马克思, 罗纳尔多); recall
over every gold PER span is printed too. Precision counts every predicted span: right when it
equals a gold PER span (a transliterated name found whole is right). "Not in jieba" is the
recall over names absent from jieba's dictionary: jieba's sources are newspapers of the same
years, so that subset says best how the detector does on private people's names.

Also: false names on role nouns and ordinary words that start with a surname (written here);
names found in informal user reviews (``../shared/data/guard/benign/zh_reviews.jsonl``: 5,999
takeaway and hotel reviews, no licence stated, evaluation only), where nearly every name found
is a dish, a hotel or a word (a few are real: staff thanked by name), by halves of the file:
every span found on the *even* lines was read while the rules of 2026-12-06 were written, the
*odd* lines were not read then; neither half is unseen (the 80 most frequent spans over the
whole file were read on 2026-12-05, docs/guard.md); and the p50 latency of ``pii.detect`` on
1 KB of Chinese office text.

    python bench/pii_zh_names.py [--split tune|report] [--rounds 200]

Writes ``bench/results/pii_zh_names.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import time
import zlib
from pathlib import Path

from aigc.guard import pii, zh_lexicon

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "pii" / "msra_ner_zh_sample.jsonl"
REVIEWS = ROOT.parent / "shared" / "data" / "guard" / "benign" / "zh_reviews.jsonl"
RESULTS = ROOT / "bench" / "results" / "pii_zh_names.json"
TARGET = 0.85

# Role nouns and ordinary words that start with a surname character: none is a name.
NOT_NAMES = (
    "我是程序员。",
    "我是高级工程师。",
    "今天我值班。",
    "我是值班员，有事找我。",
    "联系人：值班经理",
    "我是一名律师。",
    "他是我们的项目经理。",
    "这是一个古老的王国。",
    "他张开双臂欢迎我们。",
    "周末一起去爬山吧。",
    "黄金价格又上涨了。",
    "我们热爱和平。",
    "明天上午开会。",
    "高级会员可以免费退货。",
    "请把报告发给全体员工。",
    "这个方案的成本太高了。",
    "公司今年的利润增长很快。",
    "我明白你的意思了。",
    "文明施工，安全第一。",
    "欢迎光临本店。",
    "服务器的内存不够用了。",
    "会议纪要已经上传到共享盘。",
    "请在周五之前提交报销单。",
    "系统管理员会处理这个问题。",
    "客户服务热线全天开放。",
    "请向前台领取门禁卡。",
    "这次培训由人力资源部组织。",
    "年终奖金下个月发放。",
    "项目进度比计划晚了一周。",
    "石家庄和秦皇岛都在河北。",
)
OFFICE_ZH = (
    "请把这份报告翻译成英文，并在周五之前发给张经理。",
    "客户反馈物流太慢，我们需要和供应商重新谈交货时间。",
    "有问题请联系王伟，手机13912345678。",
    "陈晓明明天去上海出差，会议改到下周三。",
    "新员工入职培训由人力资源部的赵丽颖负责。",
    "服务器的磁盘快满了，运维组正在清理日志。",
    "报销单需要部门负责人签字后交给财务。",
    "孙悦说项目预算已经批下来了。",
)


def split_of(text: str) -> str:
    return "tune" if zlib.crc32(text.encode()) % 2 == 0 else "report"


def chinese_shape(name: str) -> bool:
    if not 2 <= len(name) <= 4 or not all("\u4e00" <= ch <= "\u9fff" for ch in name):
        return False
    surnames = zh_lexicon.surnames()
    return (len(name) >= 3 and name[:2] in surnames) or name[0] in surnames


def in_jieba(name: str) -> bool:
    import jieba

    jieba.initialize()
    return bool(jieba.dt.FREQ.get(name))


def predicted(text: str) -> set[tuple[int, int]]:
    return {(f.start, f.end) for f in pii.detect(text, ["CN_PERSON"])}


def score_msra(rows: list[dict]) -> dict[str, float]:
    tp_shape = n_shape = tp_all = n_all = tp_unseen = n_unseen = 0
    correct = n_pred = 0
    chars = {"predicted": 0, "right": 0, "gold": 0, "found": 0}
    for row in rows:
        text = row["text"]
        gold = {(s["start"], s["end"]) for s in row["spans"] if s["entity_type"] == "PER"}
        found = predicted(text)
        n_pred += len(found)
        correct += len(found & gold)
        # Character level, as bench/pii.py scores English tokens.
        in_gold = {i for s, e in gold for i in range(s, e)}
        in_found = {i for s, e in found for i in range(s, e)}
        in_shape = {i for s, e in gold if chinese_shape(text[s:e]) for i in range(s, e)}
        chars["predicted"] += len(in_found)
        chars["right"] += len(in_found & in_gold)
        chars["gold"] += len(in_shape)
        chars["found"] += len(in_shape & in_found)
        for start, end in gold:
            hit = (start, end) in found
            n_all += 1
            tp_all += hit
            if chinese_shape(text[start:end]):
                n_shape += 1
                tp_shape += hit
                if not in_jieba(text[start:end]):
                    n_unseen += 1
                    tp_unseen += hit
    precision = correct / max(n_pred, 1)
    recall = tp_shape / max(n_shape, 1)
    return {
        "sentences": len(rows),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / max(precision + recall, 1e-9),
        "names": n_shape,
        "predicted": n_pred,
        "recall_all_per": tp_all / max(n_all, 1),
        "all_per": n_all,
        "recall_not_in_jieba": tp_unseen / max(n_unseen, 1),
        "not_in_jieba": n_unseen,
        "char_precision": chars["right"] / max(chars["predicted"], 1),
        "char_recall": chars["found"] / max(chars["gold"], 1),
    }


def false_names() -> list[str]:
    return [f"{text}: {f.value}" for text in NOT_NAMES for f in pii.detect(text, ["CN_PERSON"])]


def reviews() -> dict[str, dict[str, float]]:
    """Share of reviews in which a name is found, and names found, by half of the file."""
    raw = REVIEWS.read_text(encoding="utf-8").splitlines()
    lines = [json.loads(line)["text"] for line in raw if line]
    out = {}
    for half, parity in (("even_lines", 0), ("odd_lines", 1)):
        texts = lines[parity::2]
        found = [len(pii.detect(t, ["CN_PERSON"])) for t in texts]
        out[half] = {
            "texts": len(texts),
            "with_a_name": sum(n > 0 for n in found) / len(texts),
            "names": sum(found),
        }
    return out


def latency(rounds: int) -> dict[str, float]:
    rng = random.Random(1024)
    text = ""
    while len(text.encode()) < 1024:
        text += rng.choice(OFFICE_ZH)
    out = {}
    for label, entities in (("all_entities", None), ("cn_person", ["CN_PERSON"])):
        for _ in range(3):
            pii.detect(text, entities)
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            pii.detect(text, entities)
            times.append((time.perf_counter() - start) * 1000)
        out[f"p50_ms_{label}"] = statistics.median(times)
    out["bytes"] = len(text.encode())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=["tune", "report"], default="report")
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    out: dict = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    if DATA.exists():
        rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").split("\n") if line]
        rows = [r for r in rows if split_of(r["text"]) == args.split]
        m = score_msra(rows)
        out["msra"] = {"split": args.split, **m}
        verdict = "met" if m["precision"] >= TARGET and m["recall"] >= TARGET else "NOT met"
        print(f"MSRA person names, {args.split} half ({m['sentences']} sentences)")
        print(f"{'':<34} {'value':>6} {'n':>6}")
        print(f"{'precision (every predicted span)':<34} {m['precision']:6.3f} {m['predicted']:6d}")
        print(f"{'recall (Chinese-shaped names)':<34} {m['recall']:6.3f} {m['names']:6d}")
        print(f"{'F1':<34} {m['f1']:6.3f}")
        print(f"{'recall, names not in jieba':<34} {m['recall_not_in_jieba']:6.3f}", end="")
        print(f" {m['not_in_jieba']:6d}")
        print(f"{'recall, every PER span':<34} {m['recall_all_per']:6.3f} {m['all_per']:6d}")
        print(f"{'character level: precision':<34} {m['char_precision']:6.3f}")
        print(f"{'character level: recall':<34} {m['char_recall']:6.3f}")
        print(f"target P ≥ {TARGET} and R ≥ {TARGET} (exact spans): {verdict}")
    else:
        print(f"{DATA} not found: MSRA part skipped", file=sys.stderr)
    wrong = false_names()
    out["false_names"] = {"sentences": len(NOT_NAMES), "found": wrong}
    print(f"\nrole nouns and ordinary words: {len(wrong)} false names in {len(NOT_NAMES)} texts")
    for line in wrong:
        print("  " + line)
    if REVIEWS.exists():
        out["reviews"] = reviews()
        print("\ninformal reviews (zh_reviews): share with a name found (nearly all false)")
        for half, r in out["reviews"].items():
            print(f"  {half}: {r['with_a_name']:.4f} of {r['texts']} ({r['names']} names)")
    out["latency"] = latency(args.rounds)
    lat = out["latency"]
    print(
        f"\npii.detect on {lat['bytes']} bytes of Chinese: p50 {lat['p50_ms_all_entities']:.2f} ms"
        f" (all entities), {lat['p50_ms_cn_person']:.2f} ms (CN_PERSON only)"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
