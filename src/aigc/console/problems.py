"""A validator's problem in the reader's language, from its stable type and values.

The API sends each problem beside its English message as pydantic names it: ``type``
("string_too_short", "literal_error", …) and ``ctx`` (``min_length``, ``expected``, …), see
``aigc.errors.problem_detail``. The common types are said here in every console language from
those; a type not listed keeps the API's English words, with the page's lead-in around them.
"""

from __future__ import annotations

from typing import Any

from aigc.console import i18n
from aigc.console.i18n import Translator

_TEXTS = {
    "en": {
        "problem.missing": "required",
        "problem.extra_forbidden": "not a known field",
        "problem.string_too_short": "must have at least {min_length} characters",
        "problem.string_too_long": "must have at most {max_length} characters",
        "problem.too_short": "must have at least {min_length} items",
        "problem.too_long": "must have at most {max_length} items",
        "problem.greater_than": "must be greater than {gt}",
        "problem.greater_than_equal": "must be at least {ge}",
        "problem.less_than": "must be less than {lt}",
        "problem.less_than_equal": "must be at most {le}",
        "problem.multiple_of": "must be a multiple of {multiple_of}",
        "problem.int": "must be a whole number",
        "problem.float": "must be a number",
        "problem.bool": "must be true or false",
        "problem.string_type": "must be text",
        "problem.list_type": "must be a list",
        "problem.dict": "must be a mapping of names to values",
        "problem.literal_error": "must be one of: {expected}",
        "problem.string_pattern_mismatch": "does not have the expected form",
        "problem.url": "must be a valid URL",
        "problem.value_error": "{error}",
        "problem.yaml_syntax": "not valid YAML near line {line}, column {column}",
        "problem.yaml_syntax.nowhere": "not valid YAML",
        "problem.policy_not_mapping": "a policy is a YAML mapping with 'name' and 'rules'",
        # this project's own validators (aigc.errors.value_problem), as their English says
        "problem.policy_rule_id_twice": "rule id '{id}' is used twice",
        "problem.policy_pattern_not_linear": "{reason}",
        "problem.policy_unknown_entities": "unknown PII entities {unknown}; known: {known}",
        "problem.policy_unknown_categories": "unknown categories {unknown}; known: {known}",
        "problem.policy_action_needs_detector": "action '{action}' needs detector 'pii' or 'regex'",
        "problem.policy_pseudonymize_input_only": "pseudonymize works on the input stage only",
        "problem.policy_drop_retrieval_only": "drop works on the retrieval stage only (chunks, "
        "tool results)",
        "problem.policy_regex_needs_pattern": "detector 'regex' needs 'pattern'",
        "problem.policy_keywords_needs_words": "detector 'keywords' needs 'words'",
        "problem.param_int_range": "must be an integer from {low} to {high}",
        "problem.param_number": "must be a number",
        "problem.param_number_range": "must be from {low} to {high}",
        "problem.param_choice": "must be one of {choices}",
        "problem.param_bool": "must be true or false",
        "problem.param_scalar": "must be a number, a string or a boolean",
        "problem.param_whole_heads": "n_embd must be a multiple of n_head",
        "problem.null_not_allowed": "null is not allowed here; leave the field out to keep it "
        "as it is",
        "problem.stop_too_many": "at most {max} stop sequences are allowed",
        "problem.input_empty": "'input' is empty",
    },
    "zh-CN": {
        "problem.missing": "必须填写",
        "problem.extra_forbidden": "不是可用的字段",
        "problem.string_too_short": "至少需要 {min_length} 个字符",
        "problem.string_too_long": "最多 {max_length} 个字符",
        "problem.too_short": "至少需要 {min_length} 项",
        "problem.too_long": "最多 {max_length} 项",
        "problem.greater_than": "必须大于 {gt}",
        "problem.greater_than_equal": "不能小于 {ge}",
        "problem.less_than": "必须小于 {lt}",
        "problem.less_than_equal": "不能大于 {le}",
        "problem.multiple_of": "必须是 {multiple_of} 的倍数",
        "problem.int": "必须是整数",
        "problem.float": "必须是数字",
        "problem.bool": "必须是 true 或 false",
        "problem.string_type": "必须是文本",
        "problem.list_type": "必须是列表",
        "problem.dict": "必须是“名称: 值”形式的映射",
        "problem.literal_error": "必须是以下之一：{expected}",
        "problem.string_pattern_mismatch": "格式不符合要求",
        "problem.url": "必须是有效的网址",
        "problem.value_error": "{error}",
        "problem.yaml_syntax": "YAML 格式错误（第 {line} 行第 {column} 列附近）",
        "problem.yaml_syntax.nowhere": "YAML 格式错误",
        "problem.policy_not_mapping": "策略必须是包含 name 和 rules 的 YAML 映射",
        "problem.policy_rule_id_twice": "规则 ID「{id}」重复使用",
        "problem.policy_pattern_not_linear": "正则表达式不受支持：只能使用 RE2 语法（不支持环视和"
        "反向引用），以保证匹配时间与文本长度成线性。RE2 的说明：{reason}",
        "problem.policy_unknown_entities": "未知的个人信息类型 {unknown}；可用：{known}",
        "problem.policy_unknown_categories": "未知的类别 {unknown}；可用：{known}",
        "problem.policy_action_needs_detector": "动作「{action}」需要使用 pii 或 regex 检测器",
        "problem.policy_pseudonymize_input_only": "pseudonymize（假名化）只能用于 input 阶段",
        "problem.policy_drop_retrieval_only": "drop（丢弃）只能用于 retrieval 阶段（检索片段、"
        "工具结果）",
        "problem.policy_regex_needs_pattern": "regex 检测器需要填写 pattern",
        "problem.policy_keywords_needs_words": "keywords 检测器需要填写 words",
        "problem.param_int_range": "必须是 {low} 到 {high} 之间的整数",
        "problem.param_number": "必须是数字",
        "problem.param_number_range": "必须在 {low} 到 {high} 之间",
        "problem.param_choice": "必须是以下之一：{choices}",
        "problem.param_bool": "必须是 true 或 false",
        "problem.param_scalar": "必须是数字、文本或布尔值",
        "problem.param_whole_heads": "n_embd 必须是 n_head 的整数倍",
        "problem.null_not_allowed": "不能为 null；不修改此项时请不要发送该字段",
        "problem.stop_too_many": "最多只能有 {max} 个停止序列",
        "problem.input_empty": "input 不能为空",
    },
}
i18n.add(_TEXTS)


# A request value refused by the gateway's own code (``errors.refused_value``), by its kind.
_REFUSALS = {
    "en": {
        "problem.tools_not_combined": "on this model, tools cannot be combined with "
        "response_format, guided decoding, beam search or logprobs",
        "problem.model_makes_embeddings": "the model '{model}' makes embeddings and does not write "
        "text; use it on /v1/embeddings",
        "problem.model_writes_no_text": "the model '{model}' does not write text; use it on its "
        "own routes (/v1/images/..., /api/images/...)",
        "problem.input_item_not_object": "each input item is an object",
        "problem.input_item_type_unsupported": "input items of type '{type}' are not supported by "
        "this server",
        "problem.content_text_or_parts": "'content' is a string or a list of parts",
        "problem.content_part_type_unsupported": "content parts of type '{type}' are not supported "
        "by this server",
        "problem.content_part_type_not_read": "content parts of type '{type}' are not supported by "
        "this model",
        "problem.tool_type_unsupported": "tools of type '{type}' are not supported by this server; "
        "only 'function' tools are",
        "problem.tool_choice_form": "'tool_choice' is {choices} or {named} (other tool types are "
        "not supported)",
        "problem.not_supported_yet": "'{name}' is not supported by this server yet; remove it from "
        "the request",
        "problem.include_logprobs_unsupported": "'include' value '{value}' is not supported by "
        "this server yet: log probabilities are not returned on /v1/responses; remove it from the "
        "request",
        "problem.chat_field": "'{name}' is a chat field; use /v1/chat/completions",
        "problem.text_modality_only": "only the text modality is supported",
        "problem.only_when_true": "'{name}' is only allowed when '{flag}' is true",
        "problem.message_content_not_null": "a {role} message needs its 'content', which cannot be "
        "null",
        "problem.message_content_required": "a {role} message needs its 'content'",
        "problem.function_name_form": "a name of 1 to 64 letters, digits, '_' or '-'",
        "problem.upstream_only": "'{name}' is not supported by the model '{model}': only "
        "upstream models (served by an OpenAI-compatible server such as vLLM or OpenAI) take "
        "it; remove it from the request or choose such a model",
        "problem.not_supported_by_model": "'{name}' is not supported by the model '{model}'; "
        "remove it from the request",
        "problem.history_not_read_by_model": "'{name}' is not supported by the model '{model}'",
        "problem.no_tokenizer_for_ids": "the model '{model}' has no tokenizer here to read token "
        "ids; send '{name}' as text",
        "problem.token_id_outside_vocabulary": "token id {id} is outside the model's vocabulary (0 "
        "to {last_id})",
        "problem.foreign_token_ids": "these are not token ids of the tokenizer of '{model}'; send "
        "the text instead (LangChain's OpenAIEmbeddings: check_embedding_ctx_length=False)",
        "problem.images_in_user_messages_only": "images are taken in user messages only, not in a "
        "{role} message",
        "problem.model_reads_no_images": "the model '{model}' does not read images; remove the "
        "image_url part at {place}, or choose a model whose capabilities include 'vision'",
        "problem.file_expiry_unsupported": "'expires_after' is not supported by this server yet: "
        "files are kept until deleted; remove it from the request",
        "problem.moderation_text_only": "images cannot be moderated here: the built-in guard "
        "judges text only. Send the text parts alone, and moderate the image with a service that "
        "reads images",
        "problem.watermark_local_models_only": "only local neural models (gpt-, rnn-, hf-) carry "
        "the watermark",
        "problem.images_not_streamed": "'{name}' is not supported by {path} (images are not "
        "streamed); remove it from the request",
        "problem.image_background_opaque": "background '{value}' is not supported: every image "
        "here is opaque; use 'auto' or 'opaque', or leave it out",
        "problem.output_compression_not_png": "'output_compression' applies to output_format jpeg "
        "or webp, not png",
        "problem.format_not_enforced": "this model cannot enforce {name} while decoding; use a "
        "local neural model (gpt-, rnn-, hf-)",
        "problem.vocabulary_lacks_character": "this model's vocabulary cannot write the requested "
        "format (it has no token for {char}); use a model with a byte-level or byte-fallback "
        "tokenizer (tokenizer=bpe)",
        "problem.vocabulary_cannot_begin_format": "this model's vocabulary cannot write the "
        "requested format (no token of it can begin it); use a model with a byte-level or "
        "byte-fallback tokenizer (tokenizer=bpe)",
        "problem.vocabulary_dead_end": "this model's vocabulary cannot write the requested format: "
        "after {tokens} token(s) the format allows none of its tokens; use a model with a "
        "byte-level or byte-fallback tokenizer (tokenizer=bpe)",
        "problem.name_empty": "a name is needed",
        "problem.own_organization_disabled": "you cannot disable your own organization",
        "problem.own_organization_deleted": "you cannot delete your own organization",
        "problem.time_not_in_future": "must be in the future",
        "problem.json_too_large": "must be at most {max_bytes} bytes of JSON",
        "problem.rating_assistant_only": "only an assistant's answer can be rated",
        "problem.rating_value": "a rating is 1 (good) or -1 (bad)",
        "problem.issuer_not_https": "the issuer must be an https:// URL",
        "problem.url_with_credentials_query_or_fragment": "the URL may not carry credentials, a "
        "query or a fragment",
        "problem.scope_invalid": "scopes[{index}] is not a valid scope",
        "problem.domain_invalid": "allowed_domains[{index}] is not a domain name such as "
        "example.com",
        "problem.rule_role_or_group": "rules[{index}] must grant either a role or a group",
        "problem.access_entry_not_object": "each access entry is an object",
        "problem.access_entry_subject": "each access entry names exactly one of 'role', 'group' "
        "or 'user' (an id of at most {max_length} characters)",
        "problem.name_length": "a name of {min_length} to {max_length} characters is needed",
        "problem.filter_unknown": "unknown filter(s) {unknown}; filters are {expected}",
        "problem.filter_not_strings": "filters.{name} must be a list of strings",
        "problem.query_empty": "the query is empty",
        "problem.missing_filename": "the document needs a file name",
        "problem.unsafe_filename": "the file name '{name}' contains a path; send a plain file name",
        "problem.invalid_filename": "the file name has control characters or is longer than "
        "{max_length} characters",
        "problem.tools_or_functions": "use either 'tools' or the legacy 'functions', not both",
        "problem.only_with_tools": "'{name}' is only allowed when tools are given",
        "problem.function_names_unique": "function names must be unique",
        "problem.tool_choice_mode": "'{name}' is one of {choices} or a named function",
        "problem.tool_choice_names_function": "'{name}' names a function: {form}",
        "problem.tool_choice_not_among_tools": "'{name}' names '{function}', which is not among "
        "the tools",
        "problem.tool_calls_assistant_only": "only assistant messages carry tool calls",
        "problem.function_message_unasked": "a 'function' message must follow an assistant "
        "message calling that function",
        "problem.tool_message_unasked": "a 'tool' message must answer a call of the preceding "
        "assistant message with 'tool_calls'",
        "problem.data_url_invalid": "the image at {place} is not a valid data URL "
        "(data:image/png;base64,...)",
        "problem.data_url_not_image": "the image at {place} is a data URL of type '{type}', not "
        "an image",
        "problem.data_url_not_base64": "the image at {place} must be base64-encoded "
        "(data:image/...;base64,...)",
        "problem.image_bytes_over": "the image at {place} is larger than {max_bytes} bytes",
        "problem.base64_invalid": "the image at {place} does not hold valid base64 data",
        "problem.image_pixels_over": "the image at {place} has more than {max_pixels} pixels",
        "problem.image_format_unread": "the image at {place} is not a PNG, JPEG, WebP or GIF image",
        "problem.image_animated": "the image at {place} is animated; send a single frame",
        "problem.image_damaged": "the image at {place} is damaged",
        "problem.image_not_square": "the image '{place}' is {width}x{height}; it must be square",
        "problem.mask_needed": "give a 'mask' (a PNG whose transparent pixels mark the area to "
        "edit), or an image with fully transparent pixels there",
        "problem.mask_not_png_with_alpha": "the mask must be a PNG with an alpha channel "
        "(transparent where to edit)",
        "problem.mask_size_differs": "the mask is {width}x{height} and the image "
        "{image_width}x{image_height}; they must be the same size",
        "problem.mask_nothing_to_edit": "the mask has no fully transparent pixel: there is "
        "nothing to edit",
        "problem.image_size_not_offered": "size '{size}' is not offered by this model; use one "
        "of: {expected}",
        "problem.image_not_base64_image": "the image is not valid base64 PNG, JPEG, WebP or GIF",
        "problem.model_cannot": "the model '{model}' does not do this",
        "problem.model_makes_no_images": "the model '{model}' does not generate images",
        "problem.one_image_at_a_time": "the model '{model}' edits one image at a time; {count} "
        "were sent",
        "problem.template_needs_slot": "the template must contain {{}} where the label goes",
        "problem.form_file_needed": "'{name}' must be a file part (a form field with a filename)",
        "problem.form_too_many_files": "at most {max_length} file(s) in '{name}'",
        "problem.form_text_needed": "'{name}' must be a text field, not a file",
        "problem.form_field_twice": "'{name}' is given more than once",
        "problem.embedding_token_inputs": "input must hold 1 to {max_inputs} inputs of at most "
        "{max_ids} token ids",
        "problem.text_or_token_ids": "input is text, or token ids, not both",
        "problem.embedding_inputs": "input must hold 1 to {max_inputs} strings",
        "problem.embedding_input_length": "each input must be non-empty and at most "
        "{max_length} characters",
        "problem.dimensions_fixed": "this model has {dimensions} dimensions",
        "problem.knowledge_bases_list": "knowledge_bases must be a list of 1 to {max_length} "
        "knowledge base ids",
        "problem.knowledge_bases_chat_only": "knowledge_bases works with chat completions and "
        "responses only",
        "problem.grounding_needs_question": "a grounded chat needs a user message to search for",
        "problem.grounding_context_full": "the conversation and the grounding instructions take "
        "{tokens} tokens; the model '{model}' reads at most {context}",
        "problem.moderation_inputs": "'input' takes 1 to {max_length} items",
        "problem.cursor_unknown": "'after' names no item of this list: {after}",
        "problem.no_token_ids": "'{name}' holds no token ids",
        "problem.group_by_unknown": "group_by takes day, key_id and model; not {unknown}",
        "problem.format_with_beam_search": "response_format cannot be combined with beam search",
        "problem.text_too_long_in_all": "too long: at most {max_length} characters in all, but "
        "got {length}",
        "problem.array_too_long": "too many items: at most {max_length}, but got {count}",
        "problem.too_many_images": "too many images: at most {max_length} in all, but got {count}",
        "problem.image_url_scheme": "the image at {place} must be a base64 data URL or an "
        "http(s) URL",
        "problem.image_fetch_timeout": "the image at {place} was not fetched: fetching the "
        "images took longer than {seconds} s in all",
        "problem.image_fetch_failed": "the image at {place} could not be fetched: {reason}",
        "problem.fetch_http_status": "the server answered HTTP {status}",
        "problem.fetch_not_allowed": "fetching {url} is not allowed here",
        "problem.fetch_timeout": "fetching took longer than {seconds} s",
        "problem.fetch_timed_out": "fetching took longer than the time limit",
        "problem.fetch_failed": "could not fetch {url}",
        "problem.fetch_redirects": "more than {max} redirects",
        "problem.fetch_too_large": "the page is larger than the limit of {max_bytes} bytes",
        "problem.fetch_content_type": "pages of content type '{type}' are not read here",
        "problem.one_output_constraint": "use one of response_format, guided_json, guided_regex "
        "and guided_choice",
        "problem.list_of_strings": "must be a list of strings",
        "problem.choice_with_nul": "the choices cannot hold a NUL character",
        "problem.schema_not_object": "must be a JSON schema object",
        "problem.schema_text_not_json": "the JSON schema's text is not JSON ({reason})",
        "problem.schema_invalid": "invalid JSON schema: {reason}",
        "problem.schema_too_deep": "the JSON schema nests more than {max} levels of objects and "
        "arrays",
        "problem.constraint_not_enforced": "'{name}' cannot be enforced while decoding: {reason}",
        "problem.empty_file": "the file is empty",
        "problem.params_not_json": "job parameters must be JSON: {reason}",
        "problem.upstream_needs_url": "an upstream needs base_url (or base_urls)",
        "problem.url_not_http": "not an http(s) URL: {url}",
        "problem.url_with_credentials": "put credentials in api_key, not in the URL",
        "problem.upstream_refused": "the upstream refused the request (HTTP {status})",
        "problem.pattern_empty": "a pattern is a non-empty string",
        "problem.pattern_form": "a pattern has no spaces and at most {max_length} characters",
        "problem.pattern_not_url": "{pattern}: not a URL pattern",
        "problem.pattern_not_http": "{pattern}: only http and https upstreams",
        "problem.pattern_host": "{pattern}: the host is not a name or address pattern",
        "problem.pattern_port": "{pattern}: the port is not a number",
        "problem.family_not_installed": "no model family '{family}' is installed",
        "problem.deployment_invalid": "deployment: {problems}",
        "problem.model_id_prefix": "model ids start with their family and a dash ({prefixes})",
        "problem.family_not_registrable": "models of the '{family}' family cannot be registered "
        "yet",
        "problem.storage_set_by_training": "config.storage is where training keeps a model; it "
        "is not set by hand",
        "problem.family_without_params": "the {family} family has no training parameters",
        "problem.param_unknown": "unknown parameter '{name}' for a {family} model; known: {known}",
        "problem.model_id_family": "a {family} model's id must start with '{family}-'",
        "problem.device_unavailable": "the device {device} is not available here",
        "problem.beam_search_not_batched": "beam search is not served by the batching engine",
        "problem.prompt_empty": "the prompt is empty",
        "problem.prompt_too_long": "the prompt has {tokens} tokens; this model reads at most "
        "{context}",
        "problem.request_too_long": "the request is too long: {reason}",
        "problem.engine_settings_known": "config.engine takes {known}",
        "problem.engine_setting_invalid": "config.engine: {reason}",
        "problem.data_not_found": "no such file or folder: {name}",
        "problem.data_unreadable": "cannot read {name}: {reason}",
        "problem.data_not_text": "{name} is not a text file",
        "problem.data_json_invalid": "{name}: {reason}",
        "problem.data_kind_unknown": "unknown kind of file: {name} (use .txt, .md, .jsonl or "
        ".json)",
        "problem.fraction_range": "must be at least 0 and less than 1",
        "problem.files_need_tenant": "uploaded files belong to a tenant: train through the API",
        "problem.template_invalid": "invalid template configuration: {reason}",
        "problem.tokenizer_lacks_token": "the tokenizer has no {token} token",
        "problem.model_folder_lacks": "no {file} in {folder}",
        "problem.clip_not_ready": "the CLIP model '{model}' is not ready",
        "problem.model_file_not_json": "{folder}: {file} is not JSON",
        "problem.training_data_empty": "the training data holds no text",
        "problem.ngram_path": "an n-gram model needs config.path: an ARPA file or a folder with "
        "model.arpa",
        "problem.corpus_too_large": "the corpus is too large: over 2 billion tokens",
        "problem.scoring_needs_bos": "scoring without <s> is not supported",
        "problem.discounts_not_estimated": "modified Kneser-Ney cannot estimate discounts: "
        "{reason}; train with a discount fallback",
        "problem.arpa_not_arpa": "not an ARPA file: no \\data\\ section with n-gram counts",
        "problem.arpa_malformed": "ARPA file: {reason}",
        "problem.gguf_tokenizer": "{name}: its tokenizer cannot be rebuilt from the GGUF "
        "metadata ({reason})",
        "problem.gguf_needs_llama_cpp": "GGUF models need llama-cpp-python: pip install "
        "'aigc[gguf]'",
        "problem.gguf_not_loaded": "{name}: llama.cpp cannot load it ({reason})",
        "problem.gguf_not_gguf": "{name}: not a GGUF file",
        # refusals of other classes (errors.refused): not found, name taken, not allowed
        "problem.user_not_found": "no user with id '{id}'",
        "problem.username_not_found": "no one in this organization has the username '{username}'",
        "problem.key_not_found": "no API key with id '{id}'",
        "problem.organization_not_found": "no organization with id '{id}'",
        "problem.group_not_found": "no group with id '{id}'",
        "problem.not_group_member": "user '{user}' is not in group '{group}'",
        "problem.conversation_not_found": "no conversation with id '{id}'",
        "problem.message_not_found": "no message '{id}' in this conversation",
        "problem.kb_not_found": "no knowledge base with id '{id}'",
        "problem.document_not_found": "no document with id '{id}' in this knowledge base",
        "problem.file_not_found": "no file with id '{id}'",
        "problem.job_not_found": "no job with id '{id}'",
        "problem.policy_not_found": "no policy named '{name}'",
        "problem.sso_provider_not_found": "no SSO provider with id '{id}'",
        "problem.response_not_found": "no response with id '{id}'",
        "problem.image_link_expired": "this image link is invalid or has expired",
        "problem.organization_name_taken": "an organization named '{name}' already exists",
        "problem.group_name_taken": "a group named '{name}' already exists",
        "problem.kb_name_taken": "a knowledge base named '{name}' already exists",
        "problem.sso_provider_name_taken": "a provider named '{name}' already exists here",
        "problem.model_name_taken": "a model named '{name}' already exists",
        "problem.model_name_taken_now": "a model named '{name}' already exists ({status}); pick "
        "another name or delete it first",
        "problem.other_organization": "only the platform administrator may act on another "
        "organization",
        "problem.grant_platform_only": "only the platform administrator may grant that",
        "problem.grant_above_own_role": "you cannot grant the '{role}' role: it is above your "
        "own ('{own}')",
        "problem.disable_own_account": "you cannot disable your own account",
        "problem.delete_own_account": "you cannot delete your own account",
        "problem.change_user_needs_admin": "changing another user needs the 'admin' role; your "
        "role is '{own}'",
        "problem.platform_admin_account": "only the platform administrator may change a platform "
        "administrator's account",
        "problem.user_above_own_role": "you cannot change a user whose role ('{role}') is above "
        "your own ('{own}')",
        "problem.platform_admin_is_owner": "a platform administrator is always an owner",
        "problem.revoke_key_needs_admin": "revoking another user's key needs the 'admin' role; "
        "your role is '{own}'",
        "problem.platform_key": "only the platform administrator may revoke a platform key",
        "problem.key_above_own_role": "you cannot revoke a key whose role ('{role}') is above "
        "your own ('{own}')",
        "problem.key_models_wider": "this API key may not give a key models it may not use "
        "itself: {models}",
        "problem.key_outlives_creator": "a key cannot outlive the API key that creates it",
        "problem.key_limit_above_own": "this API key may not give a key a {field} above its own "
        "({own})",
        "problem.demote_last_owner": "you cannot demote the organization's last owner; make "
        "another owner first",
        "problem.disable_last_owner": "you cannot disable the organization's last owner; make "
        "another owner first",
        "problem.delete_last_owner": "you cannot delete the organization's last owner; make "
        "another owner first",
        "problem.key_above_user_role": "a key cannot have a higher role than its user ('{role}')",
        "problem.role_needed": "this action needs the '{role}' role; your role is '{own}'",
        "problem.model_not_allowed": "this API key may not use the model '{model}'",
        "problem.platform_admin_only": "this action is for the platform administrator only",
        "problem.kb_read_only": "you may read this knowledge base but not change its documents",
        "problem.kb_managers_only": "only its managers and tenant admins may rename this "
        "knowledge base, change its access or delete it",
        "problem.job_not_cancellable": "you may see this job but not cancel it",
        "problem.model_shared_by_platform": "the model '{model}' is shared by the platform",
        "problem.upstream_not_allowed": "{url} is not on the platform's upstream allow-list",
        "problem.upstream_url_refused": "refused upstream URL: {reason}",
        "problem.outside_import_roots": "the path '{path}' is outside the import roots ({allowed})",
        "problem.link_leaves_folder": "'{name}' is a link that leads outside the folder",
        "problem.not_regular_file": "'{name}' is not a regular file",
        "problem.server_path_platform_only": "only the platform admin may train on a server "
        "path; upload the data instead",
        # refusals of authentication, limits and load (401, 405, 413, 429, 503): what the
        # English says, no more (an unknown key is not told apart from any other)
        "problem.api_key_missing": "you didn't provide an API key; send it as 'Authorization: "
        "Bearer sk-aigc-...'",
        "problem.authorization_not_bearer": "the Authorization header must be 'Bearer <API key>'",
        "problem.api_key_incorrect": "incorrect API key provided",
        "problem.api_key_revoked": "this API key has been revoked",
        "problem.api_key_expired": "this API key has expired",
        "problem.organization_disabled": "this organization is disabled",
        "problem.account_disabled": "this account is disabled",
        "problem.method_not_allowed": "{method} is not allowed here; use {allowed}",
        "problem.request_body_too_large": "the request body is larger than the limit of "
        "{max_bytes} bytes",
        "problem.file_over_limit": "the file is larger than the limit of {max_bytes} bytes",
        "problem.tpm_request_too_large": "this request needs {tokens} tokens, over this API key's "
        "tokens-per-minute limit of {limit}",
        "problem.daily_budget_exhausted": "the organization's daily token budget is used up: "
        "budget {budget}, used {used}, this request needs {tokens}; it resets at 00:00 UTC (in "
        "{wait} s)",
        "problem.rpm_reached": "this API key reached its requests-per-minute limit ({limit}, used "
        "{used}); retry after {wait} s",
        "problem.tpm_reached": "this API key reached its tokens-per-minute limit ({limit}, used "
        "{used}, this request needs {tokens}); retry after {wait} s",
        "problem.limits_unavailable": "rate limits cannot be checked right now (their store does "
        "not answer); retry shortly",
        "problem.database_unavailable": "the database is not answering right now; retry shortly",
        "problem.guard_policy_unusable": "the organization's guard policy '{name}' can no longer "
        "be loaded ({problems}); an administrator must correct or disable it",
        "problem.model_too_large": "the model needs {size} MiB; the {device} budget is {budget} "
        "MiB",
        "problem.replica_lost": "the replica serving this model stopped; try again",
        "problem.model_busy": "the model '{model}' is busy; try again shortly",
        "problem.model_failed": "the model '{model}' failed ({error})",
        "problem.model_not_ready": "the model '{model}' is not ready yet ({status})",
    },
    "zh-CN": {
        "problem.tools_not_combined": "在该模型上，tools 不能与 response_format、引导解码、"
        "束搜索或 logprobs 同时使用",
        "problem.model_makes_embeddings": "模型「{model}」用于生成向量（embeddings），"
        "不能生成文本；请在 /v1/embeddings 上使用",
        "problem.model_writes_no_text": "模型「{model}」不能生成文本；"
        "请在它自己的接口上使用（/v1/images/...、/api/images/...）",
        "problem.input_item_not_object": "每个输入项都必须是对象",
        "problem.input_item_type_unsupported": "本服务器不支持类型为「{type}」的输入项",
        "problem.content_text_or_parts": "content 必须是字符串或内容片段的列表",
        "problem.content_part_type_unsupported": "本服务器不支持类型为「{type}」的内容片段",
        "problem.content_part_type_not_read": "该模型不支持类型为「{type}」的内容片段",
        "problem.tool_type_unsupported": "本服务器不支持类型为「{type}」的工具，只支持 function "
        "类型的工具",
        "problem.tool_choice_form": "tool_choice 必须是 {choices} 或 {named}（不支持其他工具类型）",
        "problem.not_supported_yet": "本服务器暂不支持「{name}」，请从请求中删除",
        "problem.include_logprobs_unsupported": "本服务器暂不支持 include 的取值「{value}」："
        "/v1/responses 不返回对数概率，请从请求中删除",
        "problem.chat_field": "「{name}」是对话接口的字段，请使用 /v1/chat/completions",
        "problem.text_modality_only": "只支持文本模态（text）",
        "problem.only_when_true": "只有当 {flag} 为 true 时才能使用 {name}",
        "problem.message_content_not_null": "{role} 消息必须有 content，且不能为 null",
        "problem.message_content_required": "{role} 消息必须有 content",
        "problem.function_name_form": "名称必须由 1 到 64 个字母、数字、“_”或“-”组成",
        "problem.upstream_only": "模型「{model}」不支持「{name}」：只有上游模型（由 vLLM、OpenAI "
        "等 OpenAI 兼容服务提供）支持它；请从请求中删除，或换用这样的模型",
        "problem.not_supported_by_model": "模型「{model}」不支持「{name}」，请从请求中删除",
        "problem.history_not_read_by_model": "模型「{model}」不支持「{name}」",
        "problem.no_tokenizer_for_ids": "模型「{model}」在这里没有能读取词元 ID 的分词器；"
        "请以文本形式发送「{name}」",
        "problem.token_id_outside_vocabulary": "词元 ID {id} 超出了模型词表的范围"
        "（0 到 {last_id}）",
        "problem.foreign_token_ids": "这些不是模型「{model}」的分词器产生的词元 ID；请改为发送文本"
        "（LangChain 的 OpenAIEmbeddings 请设置 check_embedding_ctx_length=False）",
        "problem.images_in_user_messages_only": "只有 user 消息可以包含图片，{role} 消息不可以",
        "problem.model_reads_no_images": "模型「{model}」不能读取图片；请删除 {place} 处的 "
        "image_url 片段，或选择能力包含 vision 的模型",
        "problem.file_expiry_unsupported": "本服务器暂不支持 expires_after：文件会一直保留，"
        "直到被删除；请从请求中删除",
        "problem.moderation_text_only": "这里不能审核图片：内置的安全防护只判断文字。"
        "请只发送文字部分，并用能读取图片的服务审核图片",
        "problem.watermark_local_models_only": "只有本地神经网络模型（gpt-、rnn-、hf-）带有水印",
        "problem.images_not_streamed": "{path} 不支持「{name}」（图片不以流式返回），"
        "请从请求中删除",
        "problem.image_background_opaque": "不支持背景「{value}」：这里生成的图片都是不透明的；"
        "请使用 auto 或 opaque，或不填写此项",
        "problem.output_compression_not_png": "output_compression 只适用于 output_format 为 jpeg "
        "或 webp 的图片，不适用于 png",
        "problem.format_not_enforced": "该模型无法在解码时强制遵守 {name}；"
        "请使用本地神经网络模型（gpt-、rnn-、hf-）",
        "problem.vocabulary_lacks_character": "该模型的词表写不出所要求的格式"
        "（没有 {char} 的词元）；请使用字节级或带字节回退分词器的模型（tokenizer=bpe）",
        "problem.vocabulary_cannot_begin_format": "该模型的词表写不出所要求的格式"
        "（没有任何词元能作为它的开头）；请使用字节级或带字节回退分词器的模型（tokenizer=bpe）",
        "problem.vocabulary_dead_end": "该模型的词表写不出所要求的格式：生成 {tokens} 个词元后，"
        "格式不再允许它的任何词元，回答无法完成；"
        "请使用字节级或带字节回退分词器的模型（tokenizer=bpe）",
        "problem.name_empty": "名称不能为空",
        "problem.own_organization_disabled": "不能停用自己所在的组织",
        "problem.own_organization_deleted": "不能删除自己所在的组织",
        "problem.time_not_in_future": "必须是将来的时间",
        "problem.json_too_large": "转成 JSON 后最多 {max_bytes} 字节",
        "problem.rating_assistant_only": "只能为助手的回答评分",
        "problem.rating_value": "评分只能是 1（好）或 -1（差）",
        "problem.issuer_not_https": "签发者（issuer）必须是 https:// 开头的网址",
        "problem.url_with_credentials_query_or_fragment": "网址中不能包含登录凭据、"
        "查询参数（?）或片段（#）",
        "problem.scope_invalid": "scopes[{index}] 不是有效的授权范围（scope）",
        "problem.domain_invalid": "allowed_domains[{index}] 不是 example.com 这样的域名",
        "problem.rule_role_or_group": "rules[{index}] 必须授予一个角色或一个用户组（二者选一）",
        "problem.access_entry_not_object": "每个访问权限条目都必须是对象",
        "problem.access_entry_subject": "每个访问权限条目必须且只能指定 role、group、user "
        "之一（ID 最多 {max_length} 个字符）",
        "problem.name_length": "名称需要 {min_length} 到 {max_length} 个字符",
        "problem.filter_unknown": "未知的筛选条件 {unknown}；可用：{expected}",
        "problem.filter_not_strings": "filters.{name} 必须是字符串列表",
        "problem.query_empty": "查询内容不能为空",
        "problem.missing_filename": "文档需要文件名",
        "problem.unsafe_filename": "文件名「{name}」包含路径，请只发送文件名本身",
        "problem.invalid_filename": "文件名含有控制字符，或超过 {max_length} 个字符",
        "problem.tools_or_functions": "tools 和旧式的 functions 只能使用其中一个",
        "problem.only_with_tools": "只有提供了工具（tools）时才能使用 {name}",
        "problem.function_names_unique": "函数名不能重复",
        "problem.tool_choice_mode": "{name} 必须是 {choices} 之一，或指定一个函数",
        "problem.tool_choice_names_function": "{name} 需要指定函数名：{form}",
        "problem.tool_choice_not_among_tools": "{name} 指定的函数「{function}」不在所提供的工具中",
        "problem.tool_calls_assistant_only": "只有 assistant 消息可以包含工具调用",
        "problem.function_message_unasked": "function 消息必须跟在调用该函数的 assistant 消息之后",
        "problem.tool_message_unasked": "tool 消息必须回应前一条 assistant 消息中 "
        "tool_calls 里的调用",
        "problem.data_url_invalid": "{place} 处的图片不是有效的 data URL"
        "（data:image/png;base64,...）",
        "problem.data_url_not_image": "{place} 处的 data URL 类型为「{type}」，不是图片",
        "problem.data_url_not_base64": "{place} 处的图片必须以 base64 编码"
        "（data:image/...;base64,...）",
        "problem.image_bytes_over": "{place} 处的图片超过 {max_bytes} 字节",
        "problem.base64_invalid": "{place} 处的图片不是有效的 base64 数据",
        "problem.image_pixels_over": "{place} 处的图片超过 {max_pixels} 像素",
        "problem.image_format_unread": "{place} 处的图片不是 PNG、JPEG、WebP 或 GIF 格式",
        "problem.image_animated": "{place} 处的图片是动图，请只发送单帧图片",
        "problem.image_damaged": "{place} 处的图片已损坏，无法读取",
        "problem.image_not_square": "图片「{place}」为 {width}x{height}，必须是正方形"
        "（这里的模型只生成正方形图片）",
        "problem.mask_needed": "请提供 mask（用透明像素标出要编辑区域的 PNG），"
        "或在图片中要编辑的区域使用完全透明的像素",
        "problem.mask_not_png_with_alpha": "mask 必须是带透明通道的 PNG 图片"
        "（透明处为要编辑的区域）",
        "problem.mask_size_differs": "mask 为 {width}x{height}，"
        "图片为 {image_width}x{image_height}，两者必须一样大",
        "problem.mask_nothing_to_edit": "mask 中没有完全透明的像素，没有可编辑的区域",
        "problem.image_size_not_offered": "该模型不提供尺寸「{size}」；可用：{expected}",
        "problem.image_not_base64_image": "图片不是有效的 base64 编码的 PNG、JPEG、WebP 或 GIF "
        "图片",
        "problem.model_cannot": "模型「{model}」不支持此操作",
        "problem.model_makes_no_images": "模型「{model}」不能生成图片",
        "problem.one_image_at_a_time": "模型「{model}」每次只能编辑一张图片，本次发送了 {count} 张",
        "problem.template_needs_slot": "template 中必须包含 {{}}，用来填入标签",
        "problem.form_file_needed": "{name} 必须是文件（带文件名的表单字段）",
        "problem.form_too_many_files": "{name} 中最多只能有 {max_length} 个文件",
        "problem.form_text_needed": "{name} 必须是文本字段，不能是文件",
        "problem.form_field_twice": "{name} 重复提供了多次",
        "problem.embedding_token_inputs": "input 必须包含 1 到 {max_inputs} 项，"
        "每项最多 {max_ids} 个词元 ID",
        "problem.text_or_token_ids": "input 只能是文本或词元 ID 之一，不能混用",
        "problem.embedding_inputs": "input 必须包含 1 到 {max_inputs} 个字符串",
        "problem.embedding_input_length": "每项输入都不能为空，且最多 {max_length} 个字符",
        "problem.dimensions_fixed": "该模型的向量维度固定为 {dimensions}",
        "problem.knowledge_bases_list": "knowledge_bases 必须是包含 1 到 {max_length} 个"
        "知识库 ID 的列表",
        "problem.knowledge_bases_chat_only": "knowledge_bases 只能用于对话补全"
        "（chat completions）和 responses 接口",
        "problem.grounding_needs_question": "基于知识库的对话需要一条用户消息作为检索内容",
        "problem.grounding_context_full": "对话和知识库引用说明共占 {tokens} 个词元，超出了模型"
        "「{model}」最多可读取的 {context} 个词元",
        "problem.moderation_inputs": "input 必须包含 1 到 {max_length} 项",
        "problem.cursor_unknown": "after 指定的项不在此列表中：{after}",
        "problem.no_token_ids": "{name} 中没有词元 ID",
        "problem.group_by_unknown": "group_by 只能是 day、key_id 或 model，不能是 {unknown}",
        "problem.format_with_beam_search": "response_format 不能与束搜索同时使用",
        "problem.text_too_long_in_all": "内容太长：总共最多 {max_length} 个字符，实际为 "
        "{length} 个",
        "problem.array_too_long": "项数太多：最多 {max_length} 项，实际为 {count} 项",
        "problem.too_many_images": "图片太多：总共最多 {max_length} 张，实际为 {count} 张",
        "problem.image_url_scheme": "{place} 处的图片必须是 base64 的 data URL 或 http(s) 网址",
        "problem.image_fetch_timeout": "{place} 处的图片没有获取：获取本次请求的图片总共超过了 "
        "{seconds} 秒",
        "problem.image_fetch_failed": "无法获取 {place} 处的图片：{reason}",
        "problem.fetch_http_status": "对方服务器返回了 HTTP {status}",
        "problem.fetch_not_allowed": "这里不允许获取 {url}",
        "problem.fetch_timeout": "获取网页超过了 {seconds} 秒",
        "problem.fetch_timed_out": "获取网页超过了时间限制",
        "problem.fetch_failed": "无法获取 {url}",
        "problem.fetch_redirects": "重定向超过 {max} 次",
        "problem.fetch_too_large": "网页超过了 {max_bytes} 字节的上限",
        "problem.fetch_content_type": "这里不读取内容类型为「{type}」的网页",
        "problem.one_output_constraint": "response_format、guided_json、guided_regex、"
        "guided_choice 只能使用其中一个",
        "problem.list_of_strings": "必须是字符串列表",
        "problem.choice_with_nul": "选项中不能包含 NUL 字符",
        "problem.schema_not_object": "必须是 JSON Schema 对象",
        "problem.schema_text_not_json": "JSON Schema 的文本不是有效的 JSON（{reason}）",
        "problem.schema_invalid": "JSON Schema 无效：{reason}",
        "problem.schema_too_deep": "JSON Schema 中对象和数组的嵌套超过了 {max} 层",
        "problem.constraint_not_enforced": "解码时无法强制遵守 {name}：{reason}",
        "problem.empty_file": "文件是空的",
        "problem.params_not_json": "任务参数必须能表示为 JSON：{reason}",
        "problem.upstream_needs_url": "上游服务需要填写 base_url（或 base_urls）",
        "problem.url_not_http": "不是 http(s) 网址：{url}",
        "problem.url_with_credentials": "请把凭据填在 api_key 中，不要写在网址里",
        "problem.upstream_refused": "上游服务拒绝了该请求（HTTP {status}）",
        "problem.pattern_empty": "模式不能为空",
        "problem.pattern_form": "模式中不能有空格，且最多 {max_length} 个字符",
        "problem.pattern_not_url": "{pattern}：不是网址模式",
        "problem.pattern_not_http": "{pattern}：上游服务只能是 http 或 https",
        "problem.pattern_host": "{pattern}：主机部分不是有效的名称或地址模式",
        "problem.pattern_port": "{pattern}：端口不是数字",
        "problem.family_not_installed": "没有安装模型系列「{family}」",
        "problem.deployment_invalid": "deployment 设置有误：{problems}",
        "problem.model_id_prefix": "模型 ID 必须以系列名和短横线开头（{prefixes}）",
        "problem.family_not_registrable": "暂时不能注册「{family}」系列的模型",
        "problem.storage_set_by_training": "config.storage 是训练保存模型的位置，不能手动设置",
        "problem.family_without_params": "{family} 系列没有训练参数",
        "problem.param_unknown": "{family} 模型没有参数「{name}」；可用：{known}",
        "problem.model_id_family": "{family} 模型的 ID 必须以「{family}-」开头",
        "problem.device_unavailable": "这里没有可用的设备 {device}",
        "problem.beam_search_not_batched": "批处理引擎不支持束搜索",
        "problem.prompt_empty": "提示词为空",
        "problem.prompt_too_long": "提示词有 {tokens} 个词元，该模型最多只能读取 {context} 个",
        "problem.request_too_long": "请求太长：{reason}",
        "problem.engine_settings_known": "config.engine 只能包含：{known}",
        "problem.engine_setting_invalid": "config.engine 设置有误：{reason}",
        "problem.data_not_found": "没有这个文件或文件夹：{name}",
        "problem.data_unreadable": "无法读取 {name}：{reason}",
        "problem.data_not_text": "{name} 不是文本文件",
        "problem.data_json_invalid": "{name} 不是有效的 JSON：{reason}",
        "problem.data_kind_unknown": "无法识别的文件类型：{name}（请使用 .txt、.md、.jsonl 或 "
        ".json）",
        "problem.fraction_range": "必须大于等于 0 且小于 1",
        "problem.files_need_tenant": "上传的文件属于某个组织，请通过 API 训练",
        "problem.template_invalid": "模板配置有误：{reason}",
        "problem.tokenizer_lacks_token": "分词器中没有 {token} 词元",
        "problem.model_folder_lacks": "文件夹 {folder} 中没有 {file}",
        "problem.clip_not_ready": "CLIP 模型「{model}」尚未就绪",
        "problem.model_file_not_json": "{folder}：{file} 不是有效的 JSON",
        "problem.training_data_empty": "训练数据中没有文字",
        "problem.ngram_path": "n-gram 模型需要 config.path：一个 ARPA 文件，或包含 model.arpa "
        "的文件夹",
        "problem.corpus_too_large": "语料太大：超过了 20 亿个词元",
        "problem.scoring_needs_bos": "不支持不带 <s> 的打分",
        "problem.discounts_not_estimated": "修正的 Kneser-Ney 平滑无法估计折扣值：{reason}；"
        "文本可能太少或过于人工，请启用折扣回退（KenLM 的 --discount_fallback）后再训练",
        "problem.arpa_not_arpa": "不是 ARPA 文件：没有包含 n-gram 数量的 \\data\\ 部分",
        "problem.arpa_malformed": "ARPA 文件格式有误：{reason}",
        "problem.gguf_tokenizer": "{name}：无法根据 GGUF 元数据重建分词器（{reason}）",
        "problem.gguf_needs_llama_cpp": "GGUF 模型需要安装 llama-cpp-python：pip install "
        "'aigc[gguf]'",
        "problem.gguf_not_loaded": "{name}：llama.cpp 无法加载该文件（{reason}）",
        "problem.gguf_not_gguf": "{name}：不是 GGUF 文件",
        "problem.user_not_found": "ID 为「{id}」的用户不存在",
        "problem.username_not_found": "本组织中没有用户名为「{username}」的人",
        "problem.key_not_found": "ID 为「{id}」的 API 密钥不存在",
        "problem.organization_not_found": "ID 为「{id}」的组织不存在",
        "problem.group_not_found": "ID 为「{id}」的用户组不存在",
        "problem.not_group_member": "用户「{user}」不在用户组「{group}」中",
        "problem.conversation_not_found": "ID 为「{id}」的对话不存在",
        "problem.message_not_found": "此对话中没有消息「{id}」",
        "problem.kb_not_found": "ID 为「{id}」的知识库不存在",
        "problem.document_not_found": "此知识库中没有 ID 为「{id}」的文档",
        "problem.file_not_found": "ID 为「{id}」的文件不存在",
        "problem.job_not_found": "ID 为「{id}」的任务不存在",
        "problem.policy_not_found": "名为「{name}」的策略不存在",
        "problem.sso_provider_not_found": "ID 为「{id}」的 SSO 提供方不存在",
        "problem.response_not_found": "ID 为「{id}」的响应不存在",
        "problem.image_link_expired": "此图片链接无效或已过期",
        "problem.organization_name_taken": "名为「{name}」的组织已存在",
        "problem.group_name_taken": "名为「{name}」的用户组已存在",
        "problem.kb_name_taken": "名为「{name}」的知识库已存在",
        "problem.sso_provider_name_taken": "此处已有名为「{name}」的 SSO 提供方",
        "problem.model_name_taken": "名为「{name}」的模型已存在",
        "problem.model_name_taken_now": "名为「{name}」的模型已存在（状态：{status}）；"
        "请换一个名称，或先删除它",
        "problem.other_organization": "只有平台管理员可以操作其他组织",
        "problem.grant_platform_only": "只有平台管理员可以授予此项",
        "problem.grant_above_own_role": "您不能授予「{role}」角色：它高于您自己的角色（{own}）",
        "problem.disable_own_account": "您不能停用自己的账号",
        "problem.delete_own_account": "您不能删除自己的账号",
        "problem.change_user_needs_admin": "修改其他用户需要「admin」角色；您的角色是「{own}」",
        "problem.platform_admin_account": "只有平台管理员可以修改平台管理员的账号",
        "problem.user_above_own_role": "您不能修改角色（{role}）高于您自己的角色（{own}）的用户",
        "problem.platform_admin_is_owner": "平台管理员的角色始终是 owner",
        "problem.revoke_key_needs_admin": "吊销其他用户的密钥需要「admin」角色；"
        "您的角色是「{own}」",
        "problem.platform_key": "只有平台管理员可以吊销平台密钥",
        "problem.key_above_own_role": "您不能吊销角色（{role}）高于您自己的角色（{own}）的密钥",
        "problem.key_models_wider": "此 API 密钥不能给新密钥它自己也不能使用的模型：{models}",
        "problem.key_outlives_creator": "新密钥的有效期不能超过创建它的 API 密钥",
        "problem.key_limit_above_own": "此 API 密钥给新密钥的 {field} 不能高于它自己的（{own}）",
        "problem.demote_last_owner": "不能降级组织的最后一位所有者；请先指定另一位所有者",
        "problem.disable_last_owner": "不能停用组织的最后一位所有者；请先指定另一位所有者",
        "problem.delete_last_owner": "不能删除组织的最后一位所有者；请先指定另一位所有者",
        "problem.key_above_user_role": "密钥的角色不能高于其用户的角色（{role}）",
        "problem.role_needed": "此操作需要「{role}」角色；您的角色是「{own}」",
        "problem.model_not_allowed": "此 API 密钥不能使用模型「{model}」",
        "problem.platform_admin_only": "此操作仅限平台管理员",
        "problem.kb_read_only": "您可以阅读此知识库，但不能修改其中的文档",
        "problem.kb_managers_only": "只有此知识库的管理者和组织管理员可以重命名知识库、"
        "修改其访问权限或删除它",
        "problem.job_not_cancellable": "您可以查看此任务，但不能取消它",
        "problem.model_shared_by_platform": "模型「{model}」由平台共享",
        "problem.upstream_not_allowed": "{url} 不在平台的上游允许列表中",
        "problem.upstream_url_refused": "上游地址被拒绝：{reason}",
        "problem.outside_import_roots": "路径「{path}」不在允许导入的目录（{allowed}）之内",
        "problem.link_leaves_folder": "「{name}」是指向文件夹之外的链接",
        "problem.not_regular_file": "「{name}」不是普通文件",
        "problem.server_path_platform_only": "只有平台管理员可以用服务器上的路径训练；"
        "请改为上传数据",
        "problem.api_key_missing": "没有提供 API 密钥；请以「Authorization: Bearer sk-aigc-...」"
        "的形式发送",
        "problem.authorization_not_bearer": "Authorization 请求头必须是「Bearer <API 密钥>」的形式",
        "problem.api_key_incorrect": "API 密钥不正确",
        "problem.api_key_revoked": "此 API 密钥已被吊销",
        "problem.api_key_expired": "此 API 密钥已过期",
        "problem.organization_disabled": "此组织已被停用",
        "problem.account_disabled": "此账号已被停用",
        "problem.method_not_allowed": "此地址不接受 {method} 请求；请使用 {allowed}",
        "problem.request_body_too_large": "请求体超过了 {max_bytes} 字节的上限",
        "problem.file_over_limit": "文件超过了 {max_bytes} 字节的上限",
        "problem.tpm_request_too_large": "此请求需要 {tokens} 个词元，超过了此 API 密钥每分钟 "
        "{limit} 个词元的限制；请减少本次请求所需的词元（调小 max_tokens、缩短内容或减少每次"
        "请求的数量）",
        "problem.daily_budget_exhausted": "本组织今天的词元额度已用完：额度 {budget}，已用 "
        "{used}，本次请求需要 {tokens}；额度在 UTC 00:00 重置（{wait} 秒后）",
        "problem.rpm_reached": "此 API 密钥已达到每分钟请求数的限制（上限 {limit}，已用 "
        "{used}）；请在 {wait} 秒后重试",
        "problem.tpm_reached": "此 API 密钥已达到每分钟词元数的限制（上限 {limit}，已用 "
        "{used}，本次请求需要 {tokens}）；请在 {wait} 秒后重试",
        "problem.limits_unavailable": "暂时无法检查速率限制（其存储没有响应），请稍后重试",
        "problem.database_unavailable": "数据库暂时没有响应，请稍后重试",
        "problem.guard_policy_unusable": "本组织的安全策略「{name}」已无法加载（{problems}）；"
        "需要管理员修正或停用它",
        "problem.model_too_large": "该模型需要 {size} MiB，超过了 {device} 的内存预算 {budget} MiB",
        "problem.replica_lost": "运行该模型的副本已停止，请重试",
        "problem.model_busy": "模型「{model}」当前繁忙，请稍后再试",
        "problem.model_failed": "模型「{model}」运行出错（{error}）",
        "problem.model_not_ready": "模型「{model}」尚未就绪（状态：{status}）",
    },
}
i18n.add(_REFUSALS)

# pydantic's types that say the same thing to a person, by the key that says it.
_SAME = {
    "int_type": "int",
    "int_parsing": "int",
    "int_from_float": "int",
    "float_type": "float",
    "float_parsing": "float",
    "bool_type": "bool",
    "bool_parsing": "bool",
    "dict_type": "dict",
    "model_type": "dict",
    "model_attributes_type": "dict",
    "enum": "literal_error",
    "url_parsing": "url",
    "url_type": "url",
    "url_scheme": "url",
}


# Values that name a thing or a place (a token id, a line) or a size as WxH: written as they
# are, since "词元 ID 50,257", "第 1,024 行" or "1,024x1,024" is not how anyone writes them.
_IDENTIFIERS = frozenset(
    {"id", "line", "column", "index", "port", "width", "height", "image_width", "image_height"}
)


def _shown(value: Any, name: str = "") -> Any:
    """A value as people write it: 1.0 as 1, and a large amount (a limit, a count) with
    separators; an identifier (``name`` ``id``, ``…_id``, a line, …) without them."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if name in _IDENTIFIERS or name.endswith("_id"):
        return value
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value


def problem_text(tr: Translator, detail: dict[str, Any]) -> str | None:
    """One problem (``loc``, ``type``, ``ctx``, ``message``) in the page's language, without
    its place; None when it cannot be said from its type and values (the English stands)."""
    kind = str(detail.get("type") or "")
    key = f"problem.{_SAME.get(kind, kind)}"
    ctx = {k: _shown(v, k) for k, v in (detail.get("ctx") or {}).items()}
    if kind == "yaml_syntax" and not {"line", "column"} <= ctx.keys():
        key = "problem.yaml_syntax.nowhere"
    if key not in i18n.TABLE["en"]:
        return None
    if kind == "value_error":
        # the model's own sentence (in English, written by this project): kept as written
        return str(ctx.get("error") or detail.get("message") or "").removeprefix("Value error, ")
    try:
        return tr(key, **ctx)
    except (KeyError, IndexError, ValueError):  # a value the text needs is not in ctx
        return None
