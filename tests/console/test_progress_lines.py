"""A training job's progress line is said in Chinese on a Chinese page, from the code and
values the trainer reports beside its English ("iter 40/200 loss 2.3010 …" before)."""

from __future__ import annotations

import json
from typing import Any

from aigc.console import i18n
from aigc.console.i18n import Translator
from aigc.console.pages.training import progress_line
from aigc.models import progress_lines, trainer

ZH, EN = Translator("zh-CN"), Translator("en")


def _job(message: str, code: str, values: dict[str, Any]) -> dict[str, Any]:
    """The job as GET /api/jobs/{id} returns it (through JSON)."""
    job = {"message": message, "message_code": code, "message_values": values}
    return dict(json.loads(json.dumps(job)))


def test_a_training_step_is_said_in_chinese() -> None:
    step = trainer.Progress(
        iteration=40,
        max_iters=200,
        loss=2.30104,
        val_loss=None,
        tokens_per_s=12345.6,
        eta_s=200,
        lr=1e-3,
    )
    job = _job(step.message(), progress_lines.TRAIN_STEP, step.values())
    assert progress_line(ZH, job) == (
        "第 40/200 轮，损失 2.3010，每秒 12,346 个词元，预计还需 3 分 20 秒"
    )
    assert progress_line(EN, job) == step.message()  # English pages: the API's own line
    step.val_loss, step.eta_s = 2.5, 7300
    job = _job(step.message(), progress_lines.TRAIN_STEP, step.values())
    assert progress_line(ZH, job) == (
        "第 40/200 轮，损失 2.3010，验证损失 2.5000，每秒 12,346 个词元，预计还需 2 小时 1 分"
    )


def test_every_line_a_trainer_reports_has_words_in_every_language() -> None:
    for code in progress_lines.CODES:
        for lang in i18n.LANGUAGES:
            assert f"training.line.{code}" in i18n.TABLE[lang], (code, lang)


def test_a_line_without_a_known_code_is_shown_as_written() -> None:
    assert progress_line(ZH, {"message": "document 1 of 3"}) == "document 1 of 3"
    assert progress_line(ZH, _job("x", "no_such_code", {})) == "x"
