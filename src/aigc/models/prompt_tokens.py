"""The tokens of a request's prompt, as usage reports them and the limiter reserves them.

Kept beside the models (not in the gateway) because a model served on Ray counts its prompts
in its replica with this same function (``models.ray_serving``).
"""

from __future__ import annotations

import json

from aigc.models.base import TextModelBase
from aigc.models.protocols import TextModel, TextRequest
from aigc.models.tokens import image_tokens


def count_prompt_tokens(model: TextModel, request: TextRequest) -> int:
    """The prompt's tokens. A model that builds its prompt here (a neural one: its chat
    template, or the default Role: lines) counts exactly what it is fed, as OpenAI and vLLM
    do; for others the texts it reads: messages, the calls they carry and the tools offered,
    each image as OpenAI bills it (``tokens.image_tokens``)."""
    if isinstance(model, TextModelBase):
        fed = model.count_prompt(request)
        if fed is not None:
            return fed
    if request.messages is None:
        return model.count_tokens(request.prompt or "")
    texts = [m.content for m in request.messages]
    texts += [c.name + c.arguments for m in request.messages for c in m.tool_calls]
    if request.tools is not None:
        texts += [json.dumps(t.openai(), ensure_ascii=False) for t in request.tools.callable]
    images = sum(
        image_tokens(i.width, i.height, i.detail) for m in request.messages for i in m.images
    )
    return sum(model.count_tokens(t) for t in texts if t) + images
