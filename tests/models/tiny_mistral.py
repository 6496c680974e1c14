"""A tiny randomly initialised Mistral chat model whose chat template renders tools, saved as a
Hugging Face checkpoint (no download): the Mistral tool-call formats' test model.

The tokenizer is byte-level BPE as Mistral-Nemo's and Ministral's (tekken), or with
``sentencepiece=True`` SentencePiece-style as Mistral-7B-v0.3's (``▁`` for blanks, ASCII
pieces, byte fallback for the rest); either way any text round-trips. Both carry Mistral's
control tokens, all special as in Mistral's own tokenizers: ``<s>``, ``</s>`` (end of a
turn), ``[INST]``/``[/INST]``, ``[AVAILABLE_TOOLS]``/``[/AVAILABLE_TOOLS]``,
``[TOOL_CALLS]``, ``[TOOL_RESULTS]``/``[/TOOL_RESULTS]`` and (v11+) ``[ARGS]``. So decoding
with ``skip_special_tokens`` drops ``[TOOL_CALLS]``, as it does for the real models.

Chat templates, written here in the shape of Mistral's:

* ``TEMPLATE_V3`` (Mistral-7B-Instruct-v0.3): the tools as a JSON array in
  ``[AVAILABLE_TOOLS] [...][/AVAILABLE_TOOLS]`` before the last user turn, calls as
  ``[TOOL_CALLS] [{"name": ..., "arguments": {...}, "id": ...}]``, results as
  ``[TOOL_RESULTS] {"content": ..., "call_id": ...}[/TOOL_RESULTS]``; like the real one it
  raises unless every call id in the history is 9 characters long.
* ``TEMPLATE_NEMO`` (Mistral-Nemo, Ministral-8B): the same without the blank before ``[``.
* ``TEMPLATE_V11`` (Mistral Small 3.1 and later): calls as ``[TOOL_CALLS]name[ARGS]{...}``.

The checkpoint is made by ``tiny_chat.save_tiny_chat``.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers
from transformers import MistralConfig, PreTrainedTokenizerFast

from tests.models.tiny_chat import byte_level, save_tiny_chat

_IDS = """{%- if c.id is not defined or c.id | length != 9 %}
{{- raise_exception('Tool call IDs should be alphanumeric strings with length 9!') }}
{%- endif %}"""

_HEAD = """{%- if messages[0].role == 'system' %}
{%- set system_message = messages[0].content %}
{%- set loop_messages = messages[1:] %}
{%- else %}
{%- set loop_messages = messages %}
{%- endif %}
{%- set user_messages = loop_messages | selectattr('role', 'equalto', 'user') | list %}
{{- bos_token }}
{%- for m in loop_messages %}
{%- if m.role == 'user' %}
{%- if tools and m == user_messages[-1] %}"""

TEMPLATE_V3 = (
    _HEAD
    + """[AVAILABLE_TOOLS] [
{%- for tool in tools %}{{ tool | tojson }}{{ ', ' if not loop.last }}{% endfor -%}
][/AVAILABLE_TOOLS]
{%- endif %}
{%- if system_message is defined and m == user_messages[-1] %}[INST] {{ system_message }}

{{ m.content }}[/INST]
{%- else %}[INST] {{ m.content }}[/INST]
{%- endif %}
{%- elif m.role == 'assistant' and m.tool_calls %}[TOOL_CALLS] [
{%- for c in m.tool_calls %}"""
    + _IDS
    + """{%- set call = c.function | tojson %}{{ call[:-1] }}, "id": "{{ c.id }}"}
{{- ', ' if not loop.last }}
{%- endfor %}]{{ eos_token }}
{%- elif m.role == 'assistant' %} {{ m.content | trim }}{{ eos_token }}
{%- elif m.role == 'tool' %}
{%- set c = {'id': m.tool_call_id} %}"""
    + _IDS
    + """[TOOL_RESULTS] {"content": {{ m.content | tojson }}, "call_id": "
{{- m.tool_call_id }}"}[/TOOL_RESULTS]
{%- else %}{{ raise_exception('Only user, assistant and tool roles are supported') }}
{%- endif %}
{%- endfor %}"""
)

TEMPLATE_V11 = (
    _HEAD
    + """[AVAILABLE_TOOLS]{{ tools | tojson }}[/AVAILABLE_TOOLS]
{%- endif %}[INST]{{ m.content }}[/INST]
{%- elif m.role == 'assistant' and m.tool_calls %}
{%- for c in m.tool_calls %}"""
    + _IDS
    + """[TOOL_CALLS]{{ c.function.name }}[ARGS]{{ c.function.arguments | tojson }}
{%- endfor %}{{ eos_token }}
{%- elif m.role == 'assistant' %}{{ m.content }}{{ eos_token }}
{%- elif m.role == 'tool' %}[TOOL_RESULTS]{{ m.content }}[/TOOL_RESULTS]
{%- else %}{{ raise_exception('Only user, assistant and tool roles are supported') }}
{%- endif %}
{%- endfor %}"""
)

# Mistral-Nemo / Ministral-8B (tekken): the same, without the blank before each array.
TEMPLATE_NEMO = TEMPLATE_V3.replace("[AVAILABLE_TOOLS] [", "[AVAILABLE_TOOLS][").replace(
    "[TOOL_CALLS] [", "[TOOL_CALLS]["
)

CONTROL = [
    "<s>",
    "</s>",
    "[INST]",
    "[/INST]",
    "[AVAILABLE_TOOLS]",
    "[/AVAILABLE_TOOLS]",
    "[TOOL_CALLS]",
    "[TOOL_RESULTS]",
    "[/TOOL_RESULTS]",
    "[ARGS]",
]


def _sentencepiece() -> Tokenizer:
    """Mistral-7B-v0.3's kind: ``<unk>``, 256 byte pieces, then ``▁`` and printable ASCII."""
    vocab = {"<unk>": 0} | {f"<0x{b:02X}>": 1 + b for b in range(256)}
    for piece in ["▁", *(chr(c) for c in range(33, 127)), "▁["]:
        vocab[piece] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[("▁", "[")], byte_fallback=True))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
    )
    return tok


def chat_tokenizer(template: str, sentencepiece: bool = False) -> PreTrainedTokenizerFast:
    tok = _sentencepiece() if sentencepiece else byte_level()
    tok.add_special_tokens([AddedToken(t, special=True) for t in CONTROL])
    unknown = {"unk_token": "<unk>"} if sentencepiece else {}
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", **unknown
    )
    fast.chat_template = template
    return fast


def save_tiny_mistral(
    out_dir: Path, template: str = TEMPLATE_V3, *, sentencepiece: bool = False, seed: int = 0
) -> Path:
    tokenizer = chat_tokenizer(template, sentencepiece)
    return save_tiny_chat(
        out_dir,
        tokenizer,
        MistralConfig,
        seed=seed,
        head_dim=16,
        sliding_window=None,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
