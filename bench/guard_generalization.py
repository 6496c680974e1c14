"""Leave-one-source-out generalization of the guard's detectors.

For every detector (direct injection, indirect injection in documents, harmful requests in
English and Chinese, output moderation) and every source S of its data
(``aigc.guard.sources``): train the detector's classifier on the *trainable* sources outside S's
group (translations share a group), pick the threshold that keeps the false-positive rate at 1 %
on the other groups' benign data (held-out halves of trainable sets, all of evaluation-only
sets), and report S's rate at that threshold: TPR for an attack source, FPR for a benign one.
Scores are the product's: rules and classifier together (``injection.score_with``,
``moderation.harmful_score_with``). Evaluation-only sources (curated benchmarks, non-commercial
or unlicensed sets) are never trained on, so they are always held out.

    python bench/guard_generalization.py               # the shipped detectors' features (n-grams)
    python bench/guard_generalization.py --embeddings  # n-grams + MiniLM, ..._embeddings.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.metrics import roc_auc_score

from aigc.guard import datasets, injection, moderation, policy, sources, textclf

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "guard_generalization.json"
TUNE_FPR = 0.01


def half(text: str) -> str:
    """'fit' or 'tune': trainable sources lend one half to training, the other to thresholds."""
    return "tune" if zlib.crc32(text.encode()) % 2 else "fit"


def threshold_at(benign: np.ndarray, fpr: float = TUNE_FPR) -> float:
    """The lowest threshold whose false-positive rate on ``benign`` is at most ``fpr``."""
    ordered = np.sort(benign)[::-1]
    allowed = int(np.floor(fpr * len(ordered)))
    return float(ordered[allowed]) + 1e-9 if allowed < len(ordered) else 0.0


@dataclass
class Task:
    name: str
    attacks: list[sources.Source]
    benign: list[sources.Source]
    units: Callable[[str], list[str]]  # what the classifier is trained on, from one text
    score: Callable[[textclf.Scorer, list[str]], np.ndarray]
    prepare_attack: Callable[[str, int], str] = lambda text, i: text  # e.g. plant in a document
    embeddings: bool = False  # MiniLM embeddings beside the n-grams (requests, not documents)


def _shingles(texts: list[str]) -> sp.csr_matrix:
    """Each text's set of character 5-grams (case and spacing folded), as 0/1 rows."""
    folded = [" ".join(t.lower().split())[:4000] for t in texts]
    vectorizer = HashingVectorizer(
        analyzer="char", ngram_range=(5, 5), n_features=2**22, alternate_sign=False, norm=None
    )
    rows = vectorizer.transform(folded).tocsr()
    rows.data[:] = 1.0
    return rows


def near_copies(candidates: list[str], held_out: list[str], overlap: float = 0.5) -> set[int]:
    """Indexes of ``candidates`` whose 5-grams overlap some held-out text's by at least
    ``overlap`` (Jaccard): the same prompt passed on by another collection (most of Giskard's
    35 injections are GPTFuzz templates), which would otherwise be trained on while held out.
    A shared phrase inside a longer, different prompt is not a copy."""
    if not candidates or not held_out:
        return set()
    a, b = _shingles(candidates), _shingles(held_out)
    sizes_a = np.asarray(a.sum(axis=1)).ravel()
    sizes_b = np.asarray(b.sum(axis=1)).ravel()
    shared = (a @ b.T).tocoo()
    union = sizes_a[shared.row] + sizes_b[shared.col] - shared.data
    hit = shared.data >= overlap * union
    return set(shared.row[hit].tolist())


def train_without(task: Task, group: str | None) -> textclf.Scorer:
    """A classifier trained on the fit halves of the trainable sources outside ``group`` (None:
    the model that scores the evaluation-only sources), without near copies of any text it will
    be measured on."""
    everything = task.attacks + task.benign
    held = [
        t
        for src in everything
        if (src.group == group if group is not None else not src.trainable)
        for t in src.texts
    ]
    pool = [
        (t, src.label)
        for src in everything
        if src.trainable and src.group != group
        for t in src.texts
        if half(t) == "fit"
    ]
    copies = near_copies([t for t, _ in pool], held)
    if copies:
        print(
            f"  {task.name}: {len(copies)} near copies of held-out texts left out", file=sys.stderr
        )
    texts: list[str] = []
    labels: list[int] = []
    for i, (t, label) in enumerate(pool):
        if i in copies:
            continue
        units = task.units(t)
        texts += units
        labels += [label] * len(units)
    if task.embeddings:
        from guard_embedding import EmbeddingNgramClassifier

        return EmbeddingNgramClassifier(texts, labels)
    return textclf.train(texts, labels)


def evaluate(task: Task) -> list[dict[str, object]]:
    groups = sorted({s.group for s in task.attacks + task.benign if s.trainable})
    models: dict[str | None, textclf.Scorer] = {}
    # Each benign source's scores under each model, computed once: every held-out source of
    # one model draws its negatives from the same benign sources.
    benign_scores: dict[tuple[str | None, int], np.ndarray] = {}

    def negative_scores(key: str | None, i: int) -> np.ndarray:
        if (key, i) not in benign_scores:
            b = task.benign[i]
            texts = [t for t in b.texts if not b.trainable or b.group == key or half(t) == "tune"]
            benign_scores[key, i] = task.score(models[key], texts) if texts else np.zeros(0)
        return benign_scores[key, i]

    rows = []
    for src in task.attacks + task.benign:
        key = src.group if src.group in groups else None
        if key not in models:
            print(f"  {task.name}: training without {key}", file=sys.stderr)
            models[key] = train_without(task, key)
        model = models[key]
        negatives = [
            negative_scores(key, i) for i, b in enumerate(task.benign) if b.group != src.group
        ]
        threshold = threshold_at(np.concatenate(negatives))
        texts = [task.prepare_attack(t, i) for i, t in enumerate(src.texts)]
        scores = task.score(model, texts)
        rate = float((scores >= threshold).mean())
        rows.append(
            {
                "source": src.name,
                "kind": "attack" if src.label else "benign",
                "n": len(texts),
                "trainable": src.trainable,
                "threshold": round(threshold, 4),
                "tpr" if src.label else "fpr": round(rate, 4),
            }
        )
        print(f"  {task.name} {rows[-1]}", file=sys.stderr)
    return rows


def _hosts(root: Path) -> list[str]:
    # real documents only: the generated notices are training data, not hosts
    docs = [
        t
        for s in sources.benign_documents(root)
        if s.name not in ("zh_reviews", "generated_documents")
        for t in s.texts
    ]
    return [d for d in docs if len(d) > 200]


def company_documents(root: Path) -> list[sources.Source]:
    """Chunks of real company documents as the knowledge base makes them (the retrieval sets:
    SEC filings and releases, Chinese laws and manuals), the text a retrieval rule reads most:
    benign, evaluation only, for the document detector. Parsed and chunked by the product
    (``retrieval_docs.cached_units``, cached in bench/results/cache)."""
    from retrieval_docs import cached_units

    cache = ROOT / "bench" / "results" / "cache"
    out = []
    for name, folder in (
        ("financebench_chunks", "financebench/pdfs"),
        ("zh_docs_chunks", "zh_docs"),
    ):
        files = sorted((root / "retrieval" / folder).iterdir())
        skip = {"README.md", "questions.jsonl", "Apache-2.0.txt"}
        texts = [
            u.text for f in files if f.name not in skip for u in cached_units(f.name, f, cache)
        ]
        rng = random.Random(name)
        out.append(
            sources.Source(name, rng.sample(texts, min(sources.CAP, len(texts))), 0, False, name)
        )
    return out


def tasks(root: Path, embeddings: bool) -> list[Task]:
    benign = sources.benign_requests(root)
    hosts = _hosts(root)
    rng = random.Random(5)

    def plant(instruction: str, i: int) -> str:
        return datasets.insert(hosts[i % len(hosts)], instruction, rng)

    def request_score(model: textclf.Scorer, texts: list[str]) -> np.ndarray:
        # injection.score_with(t, model), batched: the larger of rules and classifier
        rules = np.array([injection.score_with(t, None) for t in texts])
        weights = np.array([injection.request_weight(t) for t in texts])
        return np.maximum(rules, model.scores([t[:4000] for t in texts]) * weights)

    def document_score(model: textclf.Scorer, texts: list[str]) -> np.ndarray:
        return np.array([injection.score_with(t, model, document=True) for t in texts])

    def harmful_score(model: textclf.Scorer, texts: list[str]) -> np.ndarray:
        # moderation.harmful_score_with(t, model), batched
        rules = np.array([moderation.harmful_score_with(t, None) for t in texts])
        return np.maximum(rules, model.scores([t[:4000] for t in texts]))

    return [
        Task(
            "direct_injection",
            sources.injection_attacks(root),
            benign,
            lambda t: [t],
            request_score,
            embeddings=embeddings,
        ),
        Task(
            "indirect_injection",
            sources.document_attacks(root),
            sources.benign_documents(root) + company_documents(root),
            injection.segments,
            document_score,
            plant,
        ),
        Task(
            "harmful_requests",
            sources.harmful_requests(root),
            benign,
            lambda t: [t],
            harmful_score,
            embeddings=embeddings,
        ),
    ]


_HAN = re.compile(r"[\u4e00-\u9fff]")


def in_traditional(found: list[sources.Source]) -> list[sources.Source]:
    """The Chinese sources of ``found`` written in traditional characters (OpenCC ``s2t``), as
    a Taiwan or Hong Kong user writes, or an attacker who knows the detectors learnt
    simplified text: rows "<source>_traditional"."""
    import opencc

    convert = opencc.OpenCC("s2t").convert
    chinese = [s for s in found if sum(bool(_HAN.search(t)) for t in s.texts) > len(s.texts) / 2]
    return [
        replace(s, name=f"{s.name}_traditional", texts=[convert(t) for t in s.texts])
        for s in chinese
    ]


def in_script(found: list[sources.Source]) -> list[sources.Source]:
    """``found`` and, after them, their traditional-character copies."""
    return found + in_traditional(found)


def shipped(root: Path) -> list[dict[str, object]]:
    """The shipped artifacts at the product's default thresholds, on the evaluation-only sources
    (the trainable ones were trained on, so they would measure fit): what a new install flags.
    Direct injection at the default input policy's threshold, injection planted in documents at
    its retrieval threshold, harmful requests at the moderation threshold; the retrieval sets'
    questions as further ordinary requests. Attack rows add the ROC-AUC against all of the
    detector's benign rows."""
    benign = [s for s in sources.benign_requests(root) if not s.trainable] + sources.questions(root)
    benign += in_traditional(benign)
    hosts = [t for s in sources.benign_documents(root) if not s.trainable for t in s.texts]
    hosts = [h for h in hosts if len(h) > 200]
    rng = random.Random(5)
    checks = (
        (
            "direct_injection",
            injection.score,
            policy.default_threshold("injection"),
            [s for s in sources.injection_attacks(root) if not s.trainable] + benign,
        ),
        (
            "indirect_injection",
            injection.score_document,
            policy.default_threshold("indirect-injection"),
            [
                s
                for s in sources.document_attacks(root) + sources.benign_documents(root)
                if not s.trainable
            ]
            + company_documents(root),
        ),
        (
            "harmful_requests",
            moderation.harmful_score,
            moderation.THRESHOLD,
            in_script([s for s in sources.harmful_requests(root) if not s.trainable]) + benign,
        ),
    )
    rows: list[dict[str, object]] = []
    for name, score, threshold, groups in checks:
        scored = []
        for src in groups:
            texts = src.texts
            if name == "indirect_injection" and src.label:
                texts = [
                    datasets.insert(hosts[i % len(hosts)], t, rng) for i, t in enumerate(texts)
                ]
            scored.append((src, np.array([score(t) for t in texts])))
        # each attack source against all of this detector's benign sources: the ranking at
        # every threshold, not only the default one
        # (the traditional-character copies are rows of their own, not part of that pool)
        benign_scores = np.concatenate(
            [s for src, s in scored if not src.label and not src.name.endswith("_traditional")]
        )
        for src, scores in scored:
            row: dict[str, object] = {
                "detector": name,
                "source": src.name,
                "kind": "attack" if src.label else "benign",
                "n": len(scores),
                "threshold": threshold,
                "tpr" if src.label else "fpr": round(float((scores >= threshold).mean()), 4),
            }
            if src.label:
                y = np.r_[np.ones(len(scores)), np.zeros(len(benign_scores))]
                row["roc_auc"] = round(float(roc_auc_score(y, np.r_[scores, benign_scores])), 4)
            rows.append(row)
            print(f"  shipped {row}", file=sys.stderr)
    return rows


# The request classifier's weight in a response's score, swept for information (the shipped
# value, moderation.RESPONSE_CLASSIFIER_WEIGHT, is a prior, not picked from this sweep).
CLASSIFIER_WEIGHTS = tuple(round(0.1 * k, 1) for k in range(11))


def responses(root: Path) -> list[dict[str, object]]:
    """Output moderation: the shipped response scorer (``moderation.response_score``, what an
    output-stage moderation rule runs) on each labelled set (none is trained on); ROC-AUC also
    at each request-classifier weight of ``CLASSIFIER_WEIGHTS``."""
    sets = sources.responses(root)
    scored = {name: np.array(moderation_scores(texts)) for name, texts, _ in sets}
    rows = []
    for name, texts, labels in sets:
        y = np.array(labels)
        scores = scored[name]
        others = [
            s
            for n, _, s_labels in sets
            if n != name
            for s, lab in zip(scored[n], s_labels, strict=True)
            if not lab
        ]
        threshold = threshold_at(np.array(others), 0.05)
        rows.append(
            {
                "source": name,
                "n": len(texts),
                "roc_auc": round(float(roc_auc_score(y, scores)), 4),
                "threshold": round(threshold, 4),
                "tpr": round(float((scores[y == 1] >= threshold).mean()), 4),
                "fpr": round(float((scores[y == 0] >= threshold).mean()), 4),
                "classifier_weight": moderation.RESPONSE_CLASSIFIER_WEIGHT,
                "roc_auc_by_classifier_weight": {
                    str(w): round(float(roc_auc_score(y, moderation_scores(texts, w))), 4)
                    for w in CLASSIFIER_WEIGHTS
                },
            }
        )
    return rows


def moderation_scores(
    texts: list[str], weight: float = moderation.RESPONSE_CLASSIFIER_WEIGHT
) -> list[float]:
    return [moderation.response_score(t, weight) for t in texts]


def tables(result: dict[str, object]) -> str:
    """Markdown tables of one result file, per detector and per source (for the docs)."""
    lines: list[str] = []
    for name in ("direct_injection", "indirect_injection", "harmful_requests"):
        rows = result.get(name)
        if not isinstance(rows, list):
            continue
        lines += [f"**{name}** ({result['features']})", ""]
        lines += ["| held-out source | kind | trained on? | n | threshold | TPR | FPR |"]
        lines += ["|---|---|---|---|---|---|---|"]
        for r in rows:
            trained = "other sources" if r["trainable"] else "never (evaluation only)"
            tpr, fpr = r.get("tpr", ""), r.get("fpr", "")
            lines.append(
                f"| {r['source']} | {r['kind']} | {trained} | {r['n']} | {r['threshold']:.3f} "
                f"| {tpr} | {fpr} |"
            )
        lines.append("")
    rows = result.get("shipped")
    if isinstance(rows, list):
        lines += ["**shipped detectors at the default thresholds** (evaluation-only sources)", ""]
        lines += ["| detector | source | kind | n | threshold | TPR | FPR | ROC-AUC |"]
        lines += ["|---|---|---|---|---|---|---|---|"]
        for r in rows:
            tpr, fpr, auc = r.get("tpr", ""), r.get("fpr", ""), r.get("roc_auc", "")
            lines.append(
                f"| {r['detector']} | {r['source']} | {r['kind']} | {r['n']} "
                f"| {r['threshold']} | {tpr} | {fpr} | {auc} |"
            )
        lines.append("")
    rows = result.get("responses")
    if isinstance(rows, list):
        lines += ["**output moderation** (`moderation.response_score`)", ""]
        lines += [
            "| held-out set | n | ROC-AUC | threshold (5 % FPR on the other set) | TPR | FPR |"
        ]
        lines += ["|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(
                f"| {r['source']} | {r['n']} | {r['roc_auc']} | {r['threshold']:.3f} "
                f"| {r['tpr']} | {r['fpr']} |"
            )
        swept = [r for r in rows if "roc_auc_by_classifier_weight" in r]
        if swept:
            weights = list(swept[0]["roc_auc_by_classifier_weight"])
            lines += ["", "ROC-AUC by the request classifier's weight in a response's score", ""]
            lines += ["| set | " + " | ".join(weights) + " |"]
            lines += ["|---|" + "---|" * len(weights)]
            for r in swept:
                aucs = r["roc_auc_by_classifier_weight"]
                lines.append(
                    f"| {r['source']} | " + " | ".join(str(aucs[w]) for w in weights) + " |"
                )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="one task name")
    parser.add_argument("--tables", type=Path, help="print the markdown tables of a result file")
    parser.add_argument(
        "--embeddings", action="store_true", help="MiniLM embeddings beside the n-grams"
    )
    args = parser.parse_args()
    if args.tables:
        print(tables(json.loads(args.tables.read_text())))
        return
    if not DATA.exists():
        print(f"{DATA} not found: nothing to measure", file=sys.stderr)
        return
    out: dict[str, object] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tune_fpr": TUNE_FPR,
        "cap_per_source": sources.CAP,
    }
    out["features"] = "char n-grams + MiniLM" if args.embeddings else "char n-grams"
    for task in tasks(DATA, embeddings=args.embeddings):
        if args.only and task.name != args.only:
            continue
        out[task.name] = evaluate(task)
    if not args.only or args.only == "shipped":
        out["shipped"] = shipped(DATA)
    if not args.only or args.only == "responses":
        out["responses"] = responses(DATA)
    suffix = ("_embeddings" if args.embeddings else "") + (f"_{args.only}" if args.only else "")
    RESULTS.with_name(f"{RESULTS.stem}{suffix}.json").write_text(
        json.dumps(out, indent=2, ensure_ascii=False) + "\n"
    )
    print(json.dumps(out, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
