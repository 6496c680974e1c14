"""Per-token cost of a structured-output constraint (xgrammar logits processor).

A GPT-2 the size of the default ``gpt-pydoc`` (4 layers, 4 heads, 128 wide, BPE vocabulary of
2048 trained here on CPython's pydoc text), randomly initialised, generates through the shared
decoding path with and without a JSON-schema constraint; the table shows milliseconds per token
and the overhead. Also reported: the grammar's compile time (once per schema and tokenizer,
cached afterwards). A random model makes the constrained run a worst case for the mask (it would
wander everywhere without it).

    python bench/structured.py [--tokens 128] [--runs 5]   # writes bench/results/structured.json
    python bench/structured.py --checkpoint DATA_DIR/models/gpt-pydoc/...  # a trained gpt-pydoc:
        # also 200 completions for 5 bounded schemas (max_tokens 512): how many parse and validate

Timings on a shared 2-core machine are noisy: re-measure on a quiet machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from aigc.guard import structured
from aigc.models.protocols import ChatMessage, TextRequest
from aigc.models.text import neural
from aigc.models.text.tokenizers import train_tokenizer

RESULTS = Path(__file__).resolve().parent / "results" / "structured.json"
SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 200},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 20},
        "count": {"type": "integer"},
    },
    "required": ["title", "tags", "count"],
    "additionalProperties": False,
}


SCHEMAS = [
    {"type": "object", "properties": {"title": {"type": "string", "maxLength": 40}},
     "required": ["title"], "additionalProperties": False},
    {"type": "object", "properties": {"items": {"type": "array", "maxItems": 4,
     "items": {"type": "string", "maxLength": 12}}}, "required": ["items"],
     "additionalProperties": False},
    {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 999},
     "ok": {"type": "boolean"}}, "required": ["n", "ok"], "additionalProperties": False},
    {"type": "object", "properties": {"level": {"enum": ["low", "medium", "high"]},
     "why": {"type": "string", "maxLength": 60}}, "required": ["level", "why"],
     "additionalProperties": False},
    {"type": "object", "properties": {"user": {"type": "object", "properties": {
     "name": {"type": "string", "maxLength": 20}, "age": {"type": "integer", "minimum": 0,
     "maximum": 120}}, "required": ["name", "age"], "additionalProperties": False},
     "tags": {"type": "array", "maxItems": 3, "items": {"type": "string", "maxLength": 8}}},
     "required": ["user", "tags"], "additionalProperties": False},
]  # fmt: skip


def acceptance(model: neural.NeuralTextModel, count: int = 200) -> dict[str, int]:
    """``count`` completions over the five schemas: how many parse and validate."""
    valid = 0
    for i in range(count):
        schema = SCHEMAS[i % len(SCHEMAS)]
        body = {"response_format": {"type": "json_schema", "json_schema": {"schema": schema}}}
        constraint = structured.parse_constraint(body)
        assert constraint is not None
        request = TextRequest(
            messages=[ChatMessage("user", "Describe a Python list as JSON.")],
            max_tokens=512,
            seed=i,
            logits_processors=(structured.processor_for(model, constraint),),
        )
        text = "".join(model.generate(request))
        valid += structured.validate(constraint, text) is None
    return {"completions": count, "parse_and_validate": valid}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--checkpoint", type=Path, help="a trained gpt-pydoc directory")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.checkpoint:
        from aigc.models.text import gpt

        model = gpt.load({"path": str(args.checkpoint)})
    else:
        with tempfile.TemporaryDirectory() as directory:
            train_tokenizer("bpe", neural.pydoc_texts(), vocab_size=2048).save(Path(directory))
            tokenizer = neural.load_text_tokenizer(Path(directory))
        torch.manual_seed(0)
        config = GPT2Config(
            vocab_size=len(tokenizer.hf), n_positions=512, n_embd=128, n_layer=4, n_head=4
        )
        model = neural.NeuralTextModel(neural.HFCausalLM(GPT2LMHeadModel(config)), tokenizer)
    constraint = structured.parse_constraint(
        {"response_format": {"type": "json_schema", "json_schema": {"schema": SCHEMA}}}
    )
    assert constraint is not None
    started = time.perf_counter()
    structured.processor_for(model, constraint)
    compile_ms = (time.perf_counter() - started) * 1000

    def run(constrained: bool, seed: int) -> float:
        processors = (structured.processor_for(model, constraint),) if constrained else ()
        request = TextRequest(
            messages=[ChatMessage("user", "A record as JSON")],
            max_tokens=args.tokens,
            min_tokens=0 if constrained else args.tokens,
            seed=seed,
            logits_processors=processors,
        )
        start = time.perf_counter()
        count = sum(1 for _ in model.tokenizer.encode("".join(model.generate(request))))
        return (time.perf_counter() - start) * 1000 / max(1, count)

    rows = {}
    for constrained in (False, True):
        times = [run(constrained, seed) for seed in range(args.runs)]
        rows["constrained" if constrained else "free"] = statistics.median(times)
    overhead = rows["constrained"] - rows["free"]
    print(f"{'run':<12} {'ms/token':>9}")
    for name, value in rows.items():
        print(f"{name:<12} {value:9.2f}")
    print(f"overhead     {overhead:9.2f} ms/token; grammar compile {compile_ms:.0f} ms (first use)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    out = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "note": "shared 2-core machine; re-measure on a quiet machine",
        "ms_per_token": rows,
        "overhead_ms_per_token": overhead,
        "compile_ms": compile_ms,
        "model": str(args.checkpoint) if args.checkpoint else "random gpt-pydoc-sized GPT-2",
    }
    if args.checkpoint:
        out["acceptance"] = acceptance(model)
        print(out["acceptance"])
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
