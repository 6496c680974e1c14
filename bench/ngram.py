"""N-gram language model: our modified Kneser-Ney vs NLTK's KneserNeyInterpolated.

    .venv/bin/python bench/ngram.py              # everything, ~2-4 minutes on 2 cores
    .venv/bin/python bench/ngram.py --big-mb 10  # a smaller "large corpus" run

Measures on tiny-shakespeare with the shared protocol (``../shared/tools/lm_protocol.py``: the
first 90% of characters train, the last 10% validate, one sentence per non-empty line):

* ours at word level (orders 3, 5) and character level (orders 5, 7): training time, peak
  memory, scoring speed, perplexity next to KenLM lmplz's;
* ours vs NLTK, word 3-gram side by side: training time, peak memory, scoring tokens/s. NLTK
  trains on the same full training set, but scoring is slow (about 100 tokens/s), so it scores
  only the first ``--nltk-tokens`` validation tokens (said in the table);
* peak memory and time to train a word 5-gram on a ~100 MB corpus made by repeating and
  shuffling the training sentences.

Every measurement runs in a fresh child process; peak memory is the child's peak resident set
(``ru_maxrss``) minus its resident set just before the measured step. Results go to
``bench/results/ngram.json``. This is a benchmark, not a test: it asserts nothing, and timings
from a busy machine are only indicative.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import random
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "ngram.json"
PROTOCOL = HERE.parents[1] / "shared" / "tools" / "lm_protocol.py"
KENLM_PPL = {("word", 3): 171.79, ("word", 5): 170.73, ("char", 5): 4.8578, ("char", 7): 4.6005}


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_child(fn: Any, *args: Any) -> Any:
    """Run ``fn(*args)`` in a fresh process so its peak memory is its own."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def read_sentences(path: str) -> list[list[str]]:
    with open(path, encoding="utf-8") as handle:
        return [line.split() for line in handle if line.strip()]


# --- measurements (each in a child process) ---------------------------------------------------


def ours(level: str, order: int, folder: str) -> dict[str, Any]:
    from aigc.models.text.ngram_lm import NGramConfig, NGramLM

    train = read_sentences(f"{folder}/{level}/train.txt")
    valid = read_sentences(f"{folder}/{level}/valid.txt")
    NGramLM.train(train[:200], NGramConfig(order=order))  # warm up imports and numpy
    base = rss_mb()
    started = time.perf_counter()
    model = NGramLM.train(train, NGramConfig(order=order))
    train_s = time.perf_counter() - started
    train_peak = peak_mb() - base
    ids = [model.ids(s) for s in valid]
    started = time.perf_counter()
    logprobs = model.token_logprobs(ids)
    batch_s = time.perf_counter() - started
    started = time.perf_counter()
    for sentence in valid:
        model.score(sentence)
    per_sentence_s = time.perf_counter() - started
    result = model.perplexity(valid)
    return {
        "level": level,
        "order": order,
        "train_tokens": model.report.tokens,
        "train_s": train_s,
        "train_peak_mb": train_peak,
        "ngrams": model.report.counts,
        "score_tokens": len(logprobs),
        "score_batch_tokens_per_s": len(logprobs) / batch_s,
        "score_per_sentence_tokens_per_s": len(logprobs) / per_sentence_s,
        "perplexity": result.perplexity,
        "perplexity_excluding_oovs": result.perplexity_excluding_oovs,
        "kenlm_perplexity": KENLM_PPL.get((level, order)),
    }


def nltk_side(order: int, folder: str, score_tokens: int) -> dict[str, Any]:
    from nltk.lm import KneserNeyInterpolated
    from nltk.lm.preprocessing import padded_everygram_pipeline

    train = read_sentences(f"{folder}/word/train.txt")
    valid = read_sentences(f"{folder}/word/valid.txt")
    base = rss_mb()
    started = time.perf_counter()
    model = KneserNeyInterpolated(order)
    grams, vocab = padded_everygram_pipeline(order, train)
    model.fit(grams, vocab)
    train_s = time.perf_counter() - started
    train_peak = peak_mb() - base
    scored = 0
    started = time.perf_counter()
    for sentence in valid:
        context = ["<s>"] * (order - 1)
        for word in [*sentence, "</s>"]:
            model.logscore(word, context[-(order - 1) :])
            context.append(word)
            scored += 1
        if scored >= score_tokens:
            break
    score_s = time.perf_counter() - started
    return {
        "order": order,
        "train_tokens": sum(len(s) + 1 for s in train),
        "train_s": train_s,
        "train_peak_mb": train_peak,
        "score_tokens": scored,
        "score_tokens_per_s": scored / score_s,
    }


def big_corpus(path: str, order: int) -> dict[str, Any]:
    from aigc.models.text.ngram_lm import NGramConfig, NGramLM, iter_words

    base = rss_mb()
    started = time.perf_counter()
    with open(path, encoding="utf-8") as handle:
        model = NGramLM.train(iter_words(handle), NGramConfig(order=order))
    return {
        "order": order,
        "bytes": os.path.getsize(path),
        "train_tokens": model.report.tokens,
        "sentences": model.report.sentences,
        "ngrams": model.report.counts,
        "train_s": time.perf_counter() - started,
        "peak_rss_mb": peak_mb(),
        "peak_over_start_mb": peak_mb() - base,
    }


# --- driver -------------------------------------------------------------------------------------


def make_protocol_files(folder: Path) -> None:
    spec = importlib.util.spec_from_file_location("lm_protocol", PROTOCOL)
    assert spec and spec.loader
    protocol = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(protocol)
    train, valid = protocol.split(protocol.DATA.read_text(encoding="utf-8"))
    for level in ("word", "char"):
        (folder / level).mkdir(parents=True, exist_ok=True)
        for name, part in (("train", train), ("valid", valid)):
            sentences = protocol.sentences(part, level)
            text = "".join(" ".join(s) + "\n" for s in sentences)
            (folder / level / f"{name}.txt").write_text(text, encoding="utf-8")


def make_big_corpus(source: Path, target: Path, megabytes: int, seed: int = 0) -> None:
    """Repeat the training sentences, shuffled each time, until ``megabytes`` are written."""
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    rng = random.Random(seed)
    written, goal = 0, megabytes * 1_000_000
    with open(target, "w", encoding="utf-8") as out:
        while written < goal:
            rng.shuffle(lines)
            chunk = "".join(lines)
            out.write(chunk)
            written += len(chunk.encode("utf-8"))


def machine() -> dict[str, Any]:
    import numpy

    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": numpy.__version__,
        "nltk": __import__("nltk").__version__,
        "load_average": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nltk-tokens", type=int, default=300, help="tokens NLTK scores")
    parser.add_argument("--big-mb", type=int, default=100, help="size of the large corpus")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not PROTOCOL.is_file():
        sys.exit(f"needs the shared protocol and data: {PROTOCOL}")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_protocol_files(folder)
        models = [in_child(ours, lvl, n, tmp) for lvl, n in KENLM_PPL]
        nltk = in_child(nltk_side, 3, tmp, args.nltk_tokens)
        big_path = folder / "big.txt"
        make_big_corpus(folder / "word" / "train.txt", big_path, args.big_mb)
        big = in_child(big_corpus, str(big_path), 5)

    ours3 = next(m for m in models if (m["level"], m["order"]) == ("word", 3))
    ours5 = next(m for m in models if (m["level"], m["order"]) == ("word", 5))
    train_ratio = nltk["train_s"] / ours3["train_s"]
    score_ratio = ours3["score_batch_tokens_per_s"] / nltk["score_tokens_per_s"]
    targets = {
        "word_5gram_train_s<=3": ours5["train_s"] <= 3.0,
        "scoring>=1000x_nltk": score_ratio >= 1000,
        "training>=10x_nltk": train_ratio >= 10,
        f"{args.big_mb}MB_trains_under_8GB": big["peak_rss_mb"] < 8 * 1024,
        "perplexity_within_0.5%_of_kenlm": all(
            abs(m["perplexity"] / m["kenlm_perplexity"] - 1) <= 0.005 for m in models
        ),
    }

    print("\nOur modified Kneser-Ney on tiny-shakespeare (protocol split)\n")
    print(
        "| model | train s | train peak MB | n-grams | score tok/s (batch) | "
        "score tok/s (per sentence) | perplexity | KenLM lmplz |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for m in models:
        print(
            f"| {m['level']} {m['order']}-gram | {m['train_s']:.2f} | {m['train_peak_mb']:.0f} | "
            f"{sum(m['ngrams']):,} | {m['score_batch_tokens_per_s']:,.0f} | "
            f"{m['score_per_sentence_tokens_per_s']:,.0f} | {m['perplexity']:.4f} | "
            f"{m['kenlm_perplexity']} |"
        )
    print("\nOurs vs NLTK KneserNeyInterpolated, word 3-gram\n")
    print("| | ours | NLTK | ours / NLTK |")
    print("|---|---:|---:|---:|")
    print(
        f"| train s ({ours3['train_tokens']:,} tokens; NLTK counts only, its probabilities are "
        f"lazy) | {ours3['train_s']:.2f} | {nltk['train_s']:.2f} | {train_ratio:.1f}x faster |"
    )
    print(
        f"| train peak MB | {ours3['train_peak_mb']:.0f} | {nltk['train_peak_mb']:.0f} | "
        f"{nltk['train_peak_mb'] / max(ours3['train_peak_mb'], 1):.1f}x less |"
    )
    print(
        f"| score tokens/s (ours: all {ours3['score_tokens']:,} validation tokens; NLTK: first "
        f"{nltk['score_tokens']}) | {ours3['score_batch_tokens_per_s']:,.0f} | "
        f"{nltk['score_tokens_per_s']:,.1f} | {score_ratio:,.0f}x faster |"
    )
    print(f"\nLarge corpus: word 5-gram on {big['bytes'] / 1e6:.0f} MB\n")
    print("| tokens | sentences | n-grams | train s | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|")
    print(
        f"| {big['train_tokens']:,} | {big['sentences']:,} | {sum(big['ngrams']):,} | "
        f"{big['train_s']:.1f} | {big['peak_rss_mb']:,.0f} |"
    )
    print(
        "\nTargets: " + ", ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in targets.items())
    )

    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "settings": {"nltk_tokens": args.nltk_tokens, "big_mb": args.big_mb},
        "ours": models,
        "nltk": nltk,
        "ratios": {"training": train_ratio, "scoring": score_ratio},
        "big_corpus": big,
        "targets": targets,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"results written to {args.out}")


if __name__ == "__main__":
    main()
