"""The shared training loop: schedule, learning, and resume to the same end after a kill."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from aigc.models import trainer
from aigc.models.text import gpt, neural, rnn
from aigc.models.text.tokenizers import train_tokenizer

TEXT = "\n".join(neural.pydoc_texts()[:10])


class Interrupted(Exception):
    pass


def _data() -> tuple[torch.Tensor, torch.Tensor, int]:
    tokenizer = train_tokenizer("char", [TEXT])
    ids = neural.encode_documents(tokenizer, [TEXT])
    cut = int(len(ids) * 0.9)
    return ids[:cut], ids[cut:], tokenizer.vocab_size


def test_schedule_warms_up_then_decays_to_min_lr() -> None:
    cfg = trainer.TrainConfig(max_iters=2000, warmup_iters=100, learning_rate=1e-3, min_lr=1e-4)
    assert trainer.lr_at(0, cfg) < trainer.lr_at(50, cfg) < trainer.lr_at(99, cfg) <= 1e-3
    assert trainer.lr_at(100, cfg) == pytest.approx(1e-3)
    assert trainer.lr_at(1050, cfg) == pytest.approx(5.5e-4)  # cosine midpoint
    assert trainer.lr_at(2000, cfg) == pytest.approx(1e-4)


@pytest.mark.parametrize("family", ["gpt", "rnn"])
def test_resumed_run_ends_where_an_uninterrupted_run_ends(family: str, tmp_path: Path) -> None:
    train_ids, val_ids, vocab = _data()
    cfg = trainer.TrainConfig(
        max_iters=24, block_size=32, batch_size=4, eval_interval=8, warmup_iters=4
    )

    def fresh() -> torch.nn.Module:
        torch.manual_seed(0)
        if family == "gpt":
            return gpt.build(gpt.GPTConfig(vocab, 32, 2, 2, 32))
        return rnn.RNNLanguageModel(rnn.RNNConfig(vocab, n_embd=16, n_hidden=32, n_layer=1))

    straight = trainer.train(fresh(), train_ids, val_ids, cfg)

    def stop_at_13(progress: trainer.Progress) -> None:
        if progress.iteration == 13:
            raise Interrupted  # a cancel or shutdown: the loop checkpoints, then stops

    with pytest.raises(Interrupted):
        trainer.train(fresh(), train_ids, val_ids, cfg, tmp_path, stop_at_13)
    resumed = trainer.train(fresh(), train_ids, val_ids, cfg, tmp_path)
    assert resumed.resumed_from == 13
    assert resumed.val_loss == pytest.approx(straight.val_loss, abs=1e-4)
    assert straight.val_loss < trainer.evaluate(fresh(), val_ids, 32)  # it learned


def test_progress_reports_loss_rate_and_eta() -> None:
    train_ids, val_ids, vocab = _data()
    seen: list[trainer.Progress] = []
    cfg = trainer.TrainConfig(max_iters=5, block_size=16, batch_size=2, eval_interval=5)
    trainer.train(
        gpt.build(gpt.GPTConfig(vocab, 16, 1, 1, 16)), train_ids, val_ids, cfg, None, seen.append
    )
    assert [p.iteration for p in seen] == [1, 2, 3, 4, 5]
    assert seen[-1].val_loss is not None and seen[-1].tokens_per_s > 0
    assert "tok/s" in seen[0].message() and "ETA" in seen[0].message()
