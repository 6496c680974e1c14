"""The names of a training job's progress lines, passed beside their English.

A job's ``message`` is English for API clients ("iter 40/200 loss 2.3010 …"); the code and
values that come with it (``JobContext.progress``) let the console say the line in its
reader's language. Every code a trainer reports is listed here, and the console has words for
each (tests/console/test_i18n.py checks it).
"""

from __future__ import annotations

from typing import Any, Protocol

READING_DATA = "reading_data"
LEARNING_TOKENIZER = "learning_tokenizer"
COUNTING_NGRAMS = "counting_ngrams"
VALIDATING = "validating"
# iteration, max_iters, loss, val_loss (None before the first evaluation), tokens_per_s, eta_s
TRAIN_STEP = "train_step"
IMAGE_STEP = "image_step"  # step, steps, detail (the losses, as "name value"), seconds
DONE_VAL_LOSS = "done_val_loss"  # val_loss
DONE_PERPLEXITY = "done_perplexity"  # perplexity (None without held-out text)

CODES = frozenset(
    {
        READING_DATA,
        LEARNING_TOKENIZER,
        COUNTING_NGRAMS,
        VALIDATING,
        TRAIN_STEP,
        IMAGE_STEP,
        DONE_VAL_LOSS,
        DONE_PERPLEXITY,
    }
)


class Report(Protocol):
    """``JobContext.progress`` as a job hands it to the code that trains."""

    def __call__(
        self,
        fraction: float,
        message: str = "",
        code: str | None = None,
        values: dict[str, Any] | None = None,
    ) -> None: ...


def no_report(
    fraction: float,
    message: str = "",
    code: str | None = None,
    values: dict[str, Any] | None = None,
) -> None:
    """A ``Report`` for training outside a job: nothing to tell."""
