"""The green-list watermark on a small randomly initialised GPT-2: watermarked samples score
z >= 4, unwatermarked ones never do, and the processor plugs into the shared decoding path."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LogitsProcessor, LogitsProcessorList

from aigc.guard import watermark
from aigc.models.decoding import process_logits
from aigc.models.protocols import TextRequest

KEY = watermark.tenant_key(b"server-secret", "org_a")
VOCAB, TOKENS, SAMPLES = 512, 200, 200


class _PerRow(LogitsProcessor):
    """Transformers' batched processor interface → our per-row (generated, logits) one."""

    def __init__(self, processor: watermark.WatermarkProcessor, prompt_len: int) -> None:
        self.processor, self.prompt_len = processor, prompt_len

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for row in range(scores.shape[0]):
            generated = input_ids[row, self.prompt_len :].tolist()
            scores[row] = self.processor(generated, scores[row])
        return scores


def _sample(model: GPT2LMHeadModel, marked: bool, seed: int) -> list[list[int]]:
    torch.manual_seed(seed)
    prompt = torch.randint(0, VOCAB, (SAMPLES, 4))
    processors = LogitsProcessorList()
    if marked:
        processors.append(_PerRow(watermark.WatermarkProcessor(KEY), prompt.shape[1]))
    out = model.generate(
        prompt,
        attention_mask=torch.ones_like(prompt),
        do_sample=True,
        top_k=0,
        max_new_tokens=TOKENS,
        min_new_tokens=TOKENS,
        logits_processor=processors,
        pad_token_id=0,
    )
    return out[:, prompt.shape[1] :].tolist()


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny matrices: one thread avoids oversubscribing a shared machine (seen: 8 s vs 140 s)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_watermark_detected_and_unmarked_text_never_flagged(one_thread: None) -> None:
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=VOCAB, n_positions=256, n_embd=32, n_layer=1, n_head=2, initializer_range=0.3
    )
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        marked_ids = _sample(model, True, 1)
        marked = [watermark.detect(ids, KEY, VOCAB) for ids in marked_ids]
        plain = [watermark.detect(ids, KEY, VOCAB) for ids in _sample(model, False, 2)]
    assert sum(d.z >= 4 for d in marked) >= 0.95 * SAMPLES
    assert all(d.z < 4 for d in plain)
    # another tenant's key does not see the mark
    other = watermark.tenant_key(b"server-secret", "org_b")
    assert all(watermark.detect(ids, other, VOCAB).z < 4 for ids in marked_ids)


def test_processor_in_the_shared_decoding_path() -> None:
    processor = watermark.WatermarkProcessor(KEY, gamma=0.25, delta=2.0)
    request = TextRequest(prompt="x", logits_processors=(processor,))
    logits = torch.zeros(VOCAB)
    out = process_logits(logits.clone(), [5, 7], [7], request, eos_ids=[])
    green = watermark.GreenLists(KEY, VOCAB).mask(7)
    assert torch.all(out[green] == 2.0) and torch.all(out[~green] == 0.0)
    assert int(green.sum()) == VOCAB // 4
    # the first generated token (previous token in the prompt) is left alone
    assert torch.equal(processor([], logits), logits)
