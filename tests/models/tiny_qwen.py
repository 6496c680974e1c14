"""A tiny randomly initialised Qwen2 chat model whose chat template renders tools, saved as a
Hugging Face checkpoint (no download): the local function-calling path's test model.

The tokenizer is byte-level (any text round-trips) plus ``<|endoftext|>`` and the chat
markers: ``<|im_start|>`` and ``<|im_end|>`` (special; the latter ends a turn) and
``<tool_call>`` / ``</tool_call>``
(ordinary added tokens, so decoding keeps them in the text, as Qwen2.5's tokenizer does). The
chat template, written here, speaks the Hermes/Qwen2.5 tool format: the tools as JSON lines
inside ``<tools>`` in the system turn, calls as ``<tool_call>`` JSON ``</tool_call>``, results
as ``<tool_response>`` user turns. Whatever the random weights prefer, decoding under the
tool-call grammar makes the calls valid. The checkpoint is made by ``tiny_chat.save_tiny_chat``.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import AddedToken
from transformers import PreTrainedTokenizerFast, Qwen2Config

from tests.models.tiny_chat import byte_level, save_tiny_chat

TEMPLATE = """\
{%- if tools %}<|im_start|>system
{% if messages[0].role == 'system' %}{{ messages[0].content }}

{% endif %}You may call one or more functions. Their signatures, inside <tools></tools>:
<tools>
{% for tool in tools %}{{ tool | tojson }}
{% endfor %}</tools>
For each call, answer <tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call><|im_end|>
{% elif messages[0].role == 'system' %}<|im_start|>system
{{ messages[0].content }}<|im_end|>
{% endif %}
{%- for m in messages %}
{%- if m.role == 'system' %}
{%- elif m.role == 'tool' %}<|im_start|>user
<tool_response>
{{ m.content }}
</tool_response><|im_end|>
{% elif m.role == 'assistant' %}<|im_start|>assistant
{{ m.content or '' }}
{%- for c in m.tool_calls or [] %}<tool_call>
{"name": "{{ c.function.name }}", "arguments": {{ c.function.arguments | tojson }}}
</tool_call>{% endfor %}<|im_end|>
{% else %}<|im_start|>{{ m.role }}
{{ m.content }}<|im_end|>
{% endif %}
{%- endfor %}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %}"""


def chat_tokenizer() -> PreTrainedTokenizerFast:
    tok = byte_level()
    tok.add_special_tokens(
        [
            AddedToken("<|endoftext|>", special=True),  # Qwen2's tokenizer class expects it
            AddedToken("<|im_start|>", special=True),
            AddedToken("<|im_end|>", special=True),
        ]
    )
    tok.add_tokens(
        [AddedToken("<tool_call>", special=False), AddedToken("</tool_call>", special=False)]
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>")
    fast.chat_template = TEMPLATE
    return fast


def save_tiny_qwen(out_dir: Path, *, seed: int = 0) -> Path:
    tokenizer = chat_tokenizer()
    end = tokenizer.eos_token_id
    return save_tiny_chat(
        out_dir, tokenizer, Qwen2Config, seed=seed, eos_token_id=end, bos_token_id=end
    )
