"""The gguf family on a tiny random-weight Llama written as GGUF by the tests (tiny_gguf).

First the file itself: llama.cpp's next-token logits on it equal transformers' forward on the
same weights (f32 and f16), so the writer's tensor names, rotary permutation and metadata are
what llama.cpp expects. Then the family: streaming equals plain, stop sequences, seeds,
logprobs, max_tokens, structured output and forced tool calls valid whatever the weights,
Chinese round trips."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from jsonschema import Draft202012Validator

from aigc.guard import structured
from aigc.models.protocols import ChatMessage, TextRequest, ToolSet
from aigc.models.stopping import BoundedText
from aigc.models.text import gguf as gguf_family
from tests.models.tiny_gguf import save_tiny_gguf
from tests.models.tool_fixtures import WEATHER, check_forced_call

llama_cpp = pytest.importorskip("llama_cpp")

PROMPTS = ["The quick brown fox", "今天天气很好", "Call the function with a JSON object: {"]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("gguf")
    made = {d: save_tiny_gguf(root / d, dtype=d) for d in ("f32", "f16")}
    made["qwen2"] = save_tiny_gguf(root / "qwen2", dtype="f32", arch="qwen2")
    return made


@pytest.fixture(scope="module")
def model(files: dict[str, tuple[Path, Path]]) -> gguf_family.GGUFTextModel:
    return gguf_family.load({"path": str(files["f16"][0]), "n_threads": 1})


# llama.cpp keeps its key/value cache in f16, so even f32 weights differ in the third decimal
# (measured: 0.002 f32, 0.004 f16); without the q/k reordering the logits are off by 1.8.
# Qwen2 (biases, tied output, llama.cpp's NEOX rotary: no reordering) as the bench converts it.
@pytest.mark.parametrize(("dtype", "tolerance"), [("f32", 0.01), ("f16", 0.02), ("qwen2", 0.01)])
def test_llama_cpp_logits_equal_the_checkpoints_forward(
    files: dict[str, tuple[Path, Path]], dtype: str, tolerance: float
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, hf_dir = files[dtype]
    reference = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    llm = llama_cpp.Llama(str(path), n_ctx=128, n_threads=1, logits_all=True, verbose=False)
    try:
        for prompt in PROMPTS:
            ids = tokenizer.encode(prompt, add_special_tokens=False)
            assert llm.tokenize(prompt.encode(), add_bos=False, special=False) == ids
            with torch.no_grad():
                expected = reference(torch.tensor([ids])).logits[0]
            llm.reset()
            llm.eval(ids)
            got = torch.from_numpy(llm.scores[: len(ids)].copy())
            assert got.shape == expected.shape
            assert (
                float(expected.std()) > 0.5
            )  # the weights make the logits differ: the check can fail
            assert float((got - expected).abs().max()) < tolerance
            assert torch.equal(got.argmax(-1), expected.argmax(-1))
    finally:
        llm.close()


def run(model: gguf_family.GGUFTextModel, request: TextRequest) -> BoundedText:
    bounded = BoundedText(
        model.generate(request),
        stop=request.stop,
        max_tokens=request.max_tokens or 10_000,
        count_tokens=model.count_tokens,
    )
    bounded.text = "".join(bounded)  # type: ignore[attr-defined]
    return bounded


def test_the_file_describes_the_model(model: gguf_family.GGUFTextModel) -> None:
    assert model.context_length == 512  # from the file's llama.context_length
    assert model.tool_format == "hermes"  # the file's tokenizer.chat_template renders tools
    assert "num_beams" not in model.decoding_fields and "tools" in model.decoding_fields
    assert (
        model.tokenizer.hf.decode(model.tokenizer.encode("北京 <tool_call>")) == "北京 <tool_call>"
    )


def test_streaming_equals_plain_and_seeds_reproduce(model: gguf_family.GGUFTextModel) -> None:
    greedy = TextRequest(prompt="The quick brown", max_tokens=24, temperature=0)
    pieces = list(model.generate(greedy))
    assert len([p for p in pieces if p]) > 1  # streamed in pieces
    assert "".join(pieces) == "".join(model.generate(greedy))
    sampled = replace(greedy, temperature=1.0, seed=7)
    first = "".join(model.generate(sampled))
    assert first == "".join(model.generate(sampled))
    others = {"".join(model.generate(replace(sampled, seed=s))) for s in range(8, 12)}
    assert others - {first}  # another seed, another text


def test_max_tokens_and_stop(model: gguf_family.GGUFTextModel) -> None:
    request = TextRequest(prompt="Hello", max_tokens=10, temperature=1.0, seed=3, min_tokens=10)
    limited = run(model, request)
    assert limited.tokens == 10 and limited.finish_reason == "length"
    whole = limited.text  # type: ignore[attr-defined]
    stop = whole[len(whole) // 2 : len(whole) // 2 + 2]
    stopped = run(model, replace(request, stop=[stop]))
    assert stopped.finish_reason == "stop"
    assert stopped.text == whole[: whole.index(stop)]  # type: ignore[attr-defined]


def test_logprobs_shape(model: gguf_family.GGUFTextModel) -> None:
    request = TextRequest(
        prompt="Hello", max_tokens=6, temperature=0, logprobs=True, top_logprobs=3
    )
    entries = [e for p in model.generate(request) for e in getattr(p, "tokens", [])]
    assert len(entries) == 6
    for entry in entries:
        assert entry["logprob"] <= 0 and len(entry["top_logprobs"]) == 3
        top = [t["logprob"] for t in entry["top_logprobs"]]
        assert top == sorted(top, reverse=True) and entry["logprob"] <= top[0] + 1e-6
        assert sum(math.exp(t) for t in top) <= 1 + 1e-6  # log-probabilities of one distribution


def test_json_schema_output_is_valid_whatever_the_weights(
    model: gguf_family.GGUFTextModel,
) -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string", "enum": ["Paris", "北京"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
            "note": {"type": "string", "maxLength": 12},
        },
        "required": ["city", "days", "note"],
        "additionalProperties": False,
    }
    constraint = structured.parse_constraint(
        {"response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": schema}}}
    )
    assert constraint is not None
    for seed in range(3):
        request = TextRequest(
            messages=[ChatMessage("user", "天气？")], max_tokens=200, temperature=1.0, seed=seed
        )
        processor = structured.processor_for(model, constraint)
        text = "".join(model.generate(replace(request, logits_processors=(processor,))))
        Draft202012Validator(schema).validate(json.loads(text))


def test_a_forced_tool_call_is_valid(model: gguf_family.GGUFTextModel) -> None:
    tools = ToolSet((WEATHER,), choice="named", name="get_weather")
    request = TextRequest(
        messages=[ChatMessage("user", "北京的天气怎么样？")],
        max_tokens=120,
        temperature=0,
        tools=tools,
    )
    processor = structured.tool_processor(model, tools)
    pieces = list(model.generate(replace(request, logits_processors=(processor,))))
    name, arguments = check_forced_call(pieces, tools)
    assert name == "get_weather" and arguments["city"] in ("Paris", "Beijing", "北京")


def test_chinese_round_trips(model: gguf_family.GGUFTextModel) -> None:
    text = "北京是中国的首都。"
    assert model.tokenizer.hf.decode(model.tokenizer.encode(text)) == text
    # Limits count the tokens llama.cpp itself reads.
    assert model.count_tokens(text) == len(model.lm.llm.tokenize(text.encode(), add_bos=False))
    out = "".join(model.generate(TextRequest(prompt=text, max_tokens=40, temperature=2.0, seed=1)))
    assert "\ufffd" not in out  # never half a character, even at temperature 2


def test_registration_checks_the_file(files: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    from aigc.errors import InvalidRequest

    path, hf_dir = files["f16"]
    gguf_family.validate({"path": str(path)})
    assert "tools" in gguf_family.capabilities_of({"path": str(path)})
    fake = tmp_path / "fake.gguf"
    fake.write_text("not a model")
    for bad in ({"path": str(fake)}, {"path": str(hf_dir)}, {"path": str(path), "n_ctx": 0}):
        with pytest.raises(InvalidRequest):
            gguf_family.validate(bad)


def test_models_add_names_a_gguf_file_by_its_family(
    files: dict[str, tuple[Path, Path]],
) -> None:
    import typer

    from aigc.cli.models import model_id_for

    path, hf_dir = files["f16"]
    assert model_id_for(path, None) == "gguf-tiny-f16"
    assert model_id_for(path, "gguf-mine") == "gguf-mine"
    assert model_id_for(hf_dir, None) == "hf-hf"
    with pytest.raises(typer.Exit):
        model_id_for(path, "hf-mine")  # a GGUF file cannot be registered as an hf model


def test_a_tokenizer_that_cannot_be_rebuilt_is_refused_at_registration(tmp_path: Path) -> None:
    """A GGUF whose merge names a token it lacks: a 400 that says so, not a 500 at load."""
    import gguf

    from aigc.errors import InvalidRequest

    path = tmp_path / "broken.gguf"
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(["\u0100", "\u0101", "a"])
    writer.add_token_types([1, 1, 1])
    writer.add_token_merges(["\u0100 \u0101"])  # "Āā" is not in the vocabulary
    writer.add_eos_token_id(2)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(InvalidRequest, match="tokenizer cannot be rebuilt"):
        gguf_family.validate({"path": str(path)})


def test_registering_then_loading_rebuilds_the_tokenizer_once(
    files: dict[str, tuple[Path, Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Registration checks the tokenizer, loading uses it: one rebuild from the metadata (a
    real vocabulary takes seconds); a file replaced in place is read again."""
    import shutil

    from transformers import AutoTokenizer

    path = tmp_path / "copy.gguf"
    shutil.copyfile(files["f16"][0], path)
    built: list[str] = []
    original = AutoTokenizer.from_pretrained

    def counting(*args: object, **kwargs: object) -> object:
        built.append(str(kwargs.get("gguf_file")))
        return original(*args, **kwargs)

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", counting)
    gguf_family.validate({"path": str(path)})
    first = gguf_family.load_tokenizer(path)
    assert gguf_family.load_tokenizer(path) is first
    assert built == ["copy.gguf"]
    shutil.copyfile(files["f32"][0], path)  # another file under the same name
    assert gguf_family.load_tokenizer(path) is not first
    assert built == ["copy.gguf", "copy.gguf"]
