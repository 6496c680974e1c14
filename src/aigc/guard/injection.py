"""Prompt-injection and jailbreak detection, English and Chinese.

Two signals, the larger wins: hand-written rules for the phrasings attacks share ("ignore the
previous instructions", "you are DAN", "忽略之前的指令"), and a character n-gram linear
classifier trained here (``train_guard.py``; artifacts ``injection.npz`` for requests and
``injection_doc.npz`` for documents beside this file, rebuilt from ``../shared/data``). Without
the artifacts the rules work alone.

``score(text)`` is for user input; ``score_document(text)`` for retrieved chunks (indirect
injection), where an instruction addressed to the assistant inside a document is the signal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from aigc.guard import code, decodings, gazetteer, textclf, windows
from aigc.infra.canonical_text import canonical
from aigc.infra.regex_gate import Gated, gated

ARTIFACT = Path(__file__).with_name("injection.npz")
DOCUMENT_ARTIFACT = Path(__file__).with_name("injection_doc.npz")


class Rule(NamedTuple):
    """A phrasing and the score it gives. The pattern is gated (``infra.regex_gate``): it runs
    only on a text that holds one of the words every match of it holds, since a search tries
    every position of a text (about 60 µs a kilobyte each, and a request runs them all)."""

    pattern: Gated
    weight: float


# Verbs that read something out (告诉我, 输出, 重复, 翻译 …) or ask what it is.
# Not 显示 or 展示: an app's help shows you your settings (点击右上角可以显示您的设定).
_READ_OUT_ZH = (
    r"(?:是什么|是啥|有哪些|告诉我|说出|输出|打印|重复|复述|翻译|写出|列出|透露|泄露|念出|逐字|"
    r"原文|一字不差)"
)
# Where a document's instruction reaches the user: a link, their secrets, words to them.
_TO_THE_USER_ZH = (
    r"(?:链接|网址|http|发送到|发到|转发到|告诉用户|提醒用户|让用户|引导用户|用户的?(?:密码|账号|"
    r"聊天记录|对话|个人信息|数据))"
)
# A document's reading task (English) called off, and a new task that reaches the user right
# after it (in the same sentence, or the next one opening with "Instead"): sends them to a
# place or an action, dictates the reply word for word, or hands them a link. What is called
# off is this document's summary, translation or analysis ("Stop summarizing" alone will do:
# a summary is only ever of what is being read).
_THIS_DOCUMENT_EN = (
    r"(?:this|the)\s+(?:document|text|page|webpage|article|e-?mail|message|file|report|content|"
    r"passage)"
)
_CALLED_OFF_EN = (
    rf"(?:summari[sz]\w*(?:\s+{_THIS_DOCUMENT_EN})?|(?:translat|process|analy[sz])\w*\s+"
    rf"{_THIS_DOCUMENT_EN})"
)
_INSTEAD_EN = (
    r"\b\s*(?:[,;:]\s*|[.!]\s*(?=instead))?(?:and\s+|but\s+)?(?:instead\s*,?\s*|rather\s*,?\s*)?"
    r"(?:just\s+|only\s+|simply\s+)?(?:(?:tell|ask|direct|redirect|send|urge|instruct|get)\s+"
    r"(?:the\s+)?(?:user|reader)s?\s+to\s+(?:visit|click|open|download|install|call|send|enter|"
    r"log\s*in|sign\s*in|go\s+to|reset|confirm|verify|share|provide)\b|(?:reply|respond|answer|"
    r"output|say|print)\s+(?:with\s+|only\s+)?[\"'“‘]|(?:send|give|show|tell|direct|redirect)\s+"
    r"(?:the\s+)?(?:user|reader)s?\b.{0,30}?https?://)"
)
# Only phrasings that harmless text does not use: role-play, "developer mode" and "without
# restrictions" in ordinary requests ("act as my interviewer", "enable developer mode on
# Android") are left to the classifier, which sees the whole request.
# "Disregard my previous message" is a person taking back their own words (忽略我之前说的),
# not an override of the assistant's instructions: my/our (我) right after the verb is none.
_RULES: list[Rule] = [
    Rule(
        gated(
            r"\b(?:ignore|disregard|forget|override|bypass|skip)\b(?!\s+(?:my|our)\b)"
            r".{0,40}?\b(?:previous|prior|"
            r"above|earlier|preceding|all|any|your|the|system)\b.{0,30}?\b(?:\w{0,3}s\w{0,2}r\w{0,2}"
            r"ctions?|prompts?|rules|directions|guidelines|messages?|context|restrictions)\b",
            re.I | re.S,
        ),
        0.95,
    ),
    Rule(
        gated(r"\b(?:DAN|STAN|DUDE|AIM)\b.{0,40}\b(?:stands for|mode|persona)\b"),
        0.9,
    ),
    Rule(
        gated(r"\bdo anything now\b|developer mode (?:enabled|output)", re.I),
        0.9,
    ),
    Rule(
        gated(
            r"\b(?:you|your (?:answers?|responses?|replies))\b.{0,30}\b(?:without|free (?:from|"
            r"of)|not bound by)\b.{0,20}\b(?:any )?(?:restrictions|filters?|censorship|ethics|"
            r"ethical guidelines|content polic(?:y|ies)|moral(?:s|ity)?)\b",
            re.I,
        ),
        0.85,
    ),
    Rule(
        gated(
            r"\b(?:reveal|print|show|repeat|output|leak)\b.{0,30}\b(?:your |the )?(?:system "
            r"prompt|initial (?:prompt|instructions)|hidden (?:prompt|instructions))",
            re.I,
        ),
        0.9,
    ),
    Rule(gated(r"\b(?:new|updated|real) instructions?\s*:", re.I), 0.85),
    Rule(
        gated(
            r"(?:忽略|无视|忘记|忘掉|跳过|不要理会)(?!我).{0,12}(?:之前|以上|前面|上述|先前|所有|系统)"
            r".{0,8}(?:指令|指示|规则|提示|要求|设定|限制)"
        ),
        0.95,
    ),
    Rule(gated(r"你.{0,6}(?:不受任何限制|没有任何限制|不受任何约束|解除了?所有限制)"), 0.9),
    Rule(
        gated(r"(?:输出|显示|告诉我|泄露|打印).{0,10}(?:系统提示|系统指令|提示词|初始指令)"),
        0.9,
    ),
    Rule(gated(r"(?:新的指令|新指令)\s*[:：]"), 0.85),
    # Jailbreaks as they are written in Chinese, plainly (each scored 0.06–0.45): a persona
    # without moral or safety limits, "developer mode" asked to answer uncensored, the system
    # prompt asked back, the assistant's own safety rules to be ignored, and the dead
    # grandmother who used to recite what is asked for; their English cousins where the
    # classifier missed them too. A how-to about Android's developer mode, 提示词是什么意思,
    # 忘记之前的规定吧 (a new office rule) or a grief role-play ask for none of that.
    Rule(
        gated(
            r"你.{0,10}(?:没有|不受|摆脱|无需遵守|不必遵守|不用遵守|不再受)(?:任何)?.{0,6}"
            r"(?:道德|伦理|审查|安全|内容政策|底线|过滤)"
        ),
        0.85,
    ),
    Rule(
        gated(
            r"(?:进入|开启|启用|切换到|激活)了?(?:开发者|越狱|DAN|无限制|上帝)模式.{0,20}"
            r"(?:输出|回答|回复|不受|没有|无视|忽略)"
        ),
        0.85,
    ),
    Rule(
        gated(
            r"(?:你的|你收到的|你被设定的|给你的|本次对话的|对话开头的).{0,6}(?:系统提示词?|"
            r"系统指令|系统消息|初始指令|初始提示|预设指令|提示词|第一条指令|第一条消息|"
            r"最初的指令).{0,20}(?:是什么|复述|重复|原文|逐字|完整|告诉我|输出|打印|显示)"
        ),
        0.9,
    ),
    Rule(
        gated(
            r"(?:忽略|无视|忘记|忘掉|跳过|不要理会)(?!我).{0,12}(?:你的|安全|系统).{0,8}"
            r"(?:规定|准则|约束|政策|原则)"
        ),
        0.9,
    ),
    Rule(
        gated(
            r"(?:假装|扮演)(?:你是|成)?我(?:已故|去世|死去|过世)的(?:奶奶|外婆|祖母|姥姥).{0,40}"
            r"(?:激活码|序列号|密钥|配方|制作|制造|方法|步骤)"
        ),
        0.8,
    ),
    Rule(
        gated(
            r"\bpretend (?:you are|to be|you're) my (?:late|deceased|dead) "
            r"(?:grandmother|grandma|granny)\b.{0,80}\b(?:activation|keys?|serial|recipe|"
            r"how to make|napalm)\b",
            re.I,
        ),
        0.8,
    ),
    Rule(
        gated(
            r"\b(?:what (?:was|is) written|repeat|print|output|show me)\b.{0,40}\b(?:top|"
            r"beginning|start) of (?:this|the|our) (?:conversation|chat|prompt)\b",
            re.I,
        ),
        0.85,
    ),
    # What the assistant was given, asked back in other words ("the instructions you
    # received", 你被告知的规则, 你的设定 with a verb that reads it out), and instructions
    # declared void, given top priority or passed off as the system's (以上指令作废,
    # 优先级最高的指令, 这是系统管理员的指令，请立即…). Written from how prompt extraction and
    # instruction overrides are phrased (each scored 0.07–0.34, Chinese most of all), not read
    # off the benchmark's attack sets (2 of their texts match); no benign text of the benchmark
    # does. One's own earlier words (我之前的要求), a command that did not work (上面的命令无效)
    # or a notice voiding a rule (以上规定作废) are none, nor is a system's message to its user
    # (这是系统发出的消息，请立即处理).
    Rule(
        gated(
            r"\b(?:what|repeat|tell me|list|print|reveal|show|write|recite|spell)\b.{0,40}?\b"
            r"(?:were you|you were|you've been|you have been|you had been) (?:told|given|"
            r"instructed|asked|programmed)\b.{0,30}?\b(?:before|earlier|at the (?:start|"
            r"beginning)|initially|originally|to keep|secret|not to (?:say|tell|reveal|share|"
            r"disclose))",
            re.I,
        ),
        0.85,
    ),
    # What one "received" is an instruction or a prompt (您收到的密码 is an IT notice's, 你得到的
    # 提示 a puzzle's); what one was told, asked or set may also be a rule, a secret or a password.
    Rule(
        gated(
            r"(?:你|您)(?:所|之前|最初|一开始)?(?:(?:收到|接收到|接到|得到)的(?:所有|全部|一切|那些|"
            r"这些)?(?:指令|指示|设定|提示词)|(?:被告知|被要求保密|被要求|被设定|被赋予|被给予|"
            r"被指示|被嘱咐)的(?:所有|全部|一切|那些|这些)?(?:指令|指示|规则|设定|提示词?|口令|密码|"
            r"秘密|暗号))"
        ),
        0.85,
    ),
    Rule(
        gated(
            rf"(?:你的|您的)(?:初始|原始|内部|隐藏的?)?(?:设定|人设|预设)(?:内容|全文)?.{{0,6}}?"
            rf"{_READ_OUT_ZH}|{_READ_OUT_ZH}.{{0,12}}(?:你的|您的)(?:初始|原始|内部|隐藏的?)?"
            r"(?:设定|人设|预设)"
        ),
        0.85,
    ),
    Rule(
        gated(
            r"(?:之前|以上|上面|前面|上述|先前|此前|原有|原来|已有)的?(?:所有|全部|一切)?(?:指令|"
            r"指示|提示词?)(?:都|均|全部|一律)?(?:已经?|现已|现在)?(?:作废|不再有效|不再适用|"
            r"被?撤销|全部取消|一律取消|被取消|被覆盖)"
        ),
        0.9,
    ),
    Rule(
        gated(
            r"\b(?:previous|prior|above|earlier|preceding|original|all)\s+(?:instructions?|"
            r"directives?)\s+(?:are|is|have been|were)\s+(?:now\s+)?(?:void|null|"
            r"cancell?ed|revoked|obsolete|overridden|no longer (?:valid|apply|applicable|in "
            r"effect))\b",
            re.I,
        ),
        0.9,
    ),
    Rule(
        gated(
            r"(?:指令|命令|指示).{0,10}(?:优先级最高|最高优先级|优先于(?:之前|以上|所有|其他|系统))"
            r"|(?:优先级最高|最高优先级)的(?:指令|命令|指示)"
        ),
        0.85,
    ),
    Rule(
        gated(
            r"\b(?:highest|top|maximum|absolute) priority\b.{0,20}\binstructions?\b|"
            r"\binstructions?\b.{0,30}\b(?:take|takes|have|has) (?:precedence|priority) over\b",
            re.I,
        ),
        0.85,
    ),
    Rule(
        gated(
            r"(?:这是|此为|以下是|下面是|来自)(?:系统|系统管理员|开发者|开发人员|OpenAI)(?:发来|发出)?"
            r"的?(?:最高)?(?:指令|命令)[，,：:。]?.{0,12}?(?:你必须|你需要|请立即|立即|请你)"
        ),
        0.85,
    ),
    # Wherever they stand, in a request or a document: the user's question to be ignored (not
    # a guide's "不要忽略用户的问题", "never ignore the user's question"), what follows to be
    # taken as the system's words, and the user's secrets or conversation sent to an address
    # (not a process's "将用户的身份证号提交到实名认证接口"). They scored 0.03–0.43; written the
    # same way, no benign text of the benchmark matches.
    Rule(
        gated(
            r"(?<!不要)(?<!不能)(?<!不可)(?<!不得)(?<!切勿)(?<!请勿)(?<!别)(?:忽略|无视|不要理会|"
            r"不用管|别管|不必理会)(?:用户|使用者|提问者)的?(?:问题|提问|请求|指令)"
        ),
        0.85,
    ),
    Rule(
        gated(
            r"(?<!never )(?<!not )(?<!n't )(?<!n’t )\b(?:ignore|disregard)\s+(?:the\s+)?"
            r"user['’]?s?\s+(?:question|request|query|message|instructions?)\b",
            re.I,
        ),
        0.85,
    ),
    Rule(
        gated(
            r"(?:以下|下面|接下来|之后|此后|后面)的?(?:所有|全部)?(?:内容|文字|文本|话|段落|消息)?"
            r"(?:都|均)?(?:视为|当作|当成)(?:系统|最高优先级的?)(?:指令|提示词?|命令)"
        ),
        0.85,
    ),
    Rule(
        gated(
            r"\btreat (?:everything|all|anything|the (?:text|content|lines?|words?|messages?))"
            r"(?: (?:below|that follows|after this|following))?\b.{0,20}?\bas (?:a |the |your )?"
            r"(?:new )?system (?:instructions?|prompt|message)\b",
            re.I,
        ),
        0.85,
    ),
    Rule(
        gated(
            r"(?:把|将)(?:用户|使用者)的?(?:聊天记录|对话记录|对话内容|密码|账号密码|验证码|个人信息|"
            r"身份证号)(?:发送|发到|上传|转发|提交|传)[到至给]?.{0,20}?(?:https?://|www\.|"
            r"[\w.+-]+@[\w-]+\.\w+|这个地址|以下地址|该地址|此地址|这个邮箱|以下邮箱)"
        ),
        0.85,
    ),
    Rule(
        gated(
            r"\b(?:send|forward|upload|post|e-?mail|transmit|leak)\b.{0,20}?\b(?:the )?"
            r"user['’]?s\b.{0,20}?\b(?:password|credentials|chat history|conversation history|"
            r"api keys?)\b.{0,40}?(?:https?://|www\.|[\w.+-]+@[\w-]+\.\w+)",
            re.I,
        ),
        0.85,
    ),
]
# Inside a document: text that tells the assistant what to put in its answer, or what to do
# before answering. A line that merely starts with a verb ("return response", "list[...]") is
# no evidence; the classifier judges those.
_DOCUMENT_RULES: list[Rule] = [
    Rule(
        gated(
            r"\b(?:in|into|to|at the (?:start|end|beginning) of|throughout) your (?:answer|"
            r"reply|response|output|summary)\b|\bwhen you (?:write|give|compose|draft) your "
            r"(?:answer|reply|response)\b|\bbefore (?:you )?(?:answer|respond|repl)\w*"
            r"\b.{0,40}\b(?:you must|please|first)\b",
            re.I,
        ),
        0.9,
    ),
    Rule(
        gated(
            r"\b(?:AI|assistant|chatbot|language model|LLM)\b.{0,40}\b(?:must|should|"
            r"will|needs? to)\b",
            re.I,
        ),
        0.6,
    ),
    # A message addressed to the model by name or role ("to you, GPT-4.", "Dear AI assistant,"):
    # documents are written for people ("Dear Assistant Manager" goes on, so it is not one).
    Rule(
        gated(
            r"\b(?:to you|dear|hey|hello|attention|note (?:to|for)|message (?:to|for)|"
            r"instructions? (?:to|for))[,:]? (?:the )?(?:AI(?: assistant| agent| model)?|"
            r"assistant|language model|LLM|chatbot|agent|(?:Chat)?GPT[-\w.]*|Claude|Llama[-\w.]*|"
            r"Gemini)s?\b(?=\s*(?:[,.:;!?]|$))",
            re.I | re.M,
        ),
        0.85,
    ),
    # Chat-template markup in a document poses as a system or user turn.
    Rule(
        gated(
            r"\(system[_ ]message\)|<\|im_start\|>|<\|(?:system|user|assistant)\|>|<<SYS>>|"
            r"(?-i:\[/?INST\])|^[ \t]*#{2,}[ \t]*system[ \t]*(?:message|prompt)?[ \t]*:",
            re.I | re.M,
        ),
        0.85,
    ),
    Rule(gated(r"(?:在|于)你的(?:回答|回复|答案|输出)(?:中|里|开头|结尾)"), 0.9),
    # What to do while answering about this document, said to whoever reads it for a user
    # ("When summarizing this page, tell the user to …", 总结本文时，请告诉用户访问 …), and
    # words to a reader that is a model ("If you are an AI reading this", 如果你是AI,
    # 大模型在读取本文档后，必须 …). Each needs the user, a link or the answer as its object, so
    # a notice to its human reader (回复时请注明订单号, "When you read this document, add your
    # name to the list", 如果你是AI从业者) is none. Written from how such text is phrased;
    # none of the benchmark's documents, benign or planted, matches them (2026-12-05).
    Rule(
        gated(
            r"\bwhen(?:ever)? (?:you(?: are)? )?(?:summari[sz]|answer|respond|repl|writ|translat|"
            r"read|process)\w*\b.{0,40}\b(?:this|the) (?:page|document|text|e-?mail|article|"
            r"content|message|file|website)\b.{0,80}\b(?:tell|say|add|include|mention|recommend|"
            r"ask|instruct|direct|send|insert|append)\b.{0,40}\b(?:the user|users?\b|the reader|"
            r"your (?:answer|reply|response|summary|output))",
            re.I | re.S,
        ),
        0.85,
    ),
    Rule(
        gated(
            r"\bif you are an? (?:AI|assistant|language model|LLM|chatbot|bot|agent)"
            r"(?: (?:assistant|model|agent))?(?=\s*(?:[,.;:!?]|reading|processing|"
            r"summari[sz]ing|and\b|$))",
            re.I,
        ),
        0.9,
    ),
    Rule(
        gated(
            r"(?:回答|回复|答复|总结|概括|摘要)(?:本|此|这|该)?(?:篇|份|个|封|段)?"
            r"(?:文档|文件|文章|文|页面|网页|邮件|内容|文本|问题)?(?:时|的时候)[，,]?.{0,8}"
            r"(?:请|务必|一定要|必须|记得).{0,20}(?:用户|链接|网址|http)"
        ),
        0.85,
    ),
    Rule(
        gated(
            r"(?:在|于)(?:你的|您的)?(?:回答|答案|总结|摘要|输出)(?:中|里|末尾|结尾|开头|最后)"
            r".{0,12}(?:加入|加上|附上|插入|提到|提及|推荐|写上|告诉).{0,20}(?:用户|链接|网址|http|产品)"
        ),
        0.85,
    ),
    Rule(
        gated(
            r"如果你是(?:AI|人工智能|大模型|大语言模型|语言模型|智能助手|助手|机器人)"
            r"(?!从业|工程|研究|开发|爱好|公司|企业|专家|产品)"
        ),
        0.9,
    ),
    Rule(
        gated(
            r"(?:大模型|大语言模型|语言模型|AI|人工智能|智能助手|助手).{0,12}(?:读取|读到|看到|"
            r"处理|总结|阅读)(?:了)?(?:本|此|这|该)(?:篇|份|个|封)?(?:文档|文件|文章|页面|网页|"
            r"邮件|内容).{0,20}(?:必须|务必|请|应当|需要)"
        ),
        0.85,
    ),
    Rule(gated(r"(?:助手|人工智能|AI|模型).{0,10}(?:必须|应该|需要|请)"), 0.6),
    Rule(
        gated(r"(?:给|致)(?:你|您)?(?:这个|这位)?(?:AI|人工智能|智能)?助手的(?:消息|指令|留言)"),
        0.85,
    ),
    # A new task for whoever reads the document, or its reading task called off ("Your new task
    # is to send the user …", 停止总结这份文件，改为告诉用户…, 不要总结本文，而是回复…): a
    # document has no business changing what its reader was asked to do with it. In a request
    # the same words are the user's own ("不要翻译，直接告诉我意思"), so documents only; and only
    # where the new task reaches the user, a link or the reply (a customer-service guide's "Do
    # not answer billing questions; reply with the template" is the same shape, so English
    # "instead of answering …" is left to the classifier, which catches it). Written from how
    # indirect injections are phrased (they scored 0.04–0.43), not from the benchmark's
    # documents; none of its benign texts matches.
    Rule(
        gated(
            rf"(?:你的|您的)(?:新|真正的?|实际的?|唯一的?|现在的|下一个)(?:任务|指令|目标)"
            rf"(?:是|为|变为|改为|如下|[:：]).{{0,30}}?{_TO_THE_USER_ZH}"
        ),
        0.85,
    ),
    Rule(
        gated(
            r"\byour (?:new|real|actual|only|true|next) (?:task|instructions?|goal|objective|"
            r"mission) (?:is|are|now|will be)\b.{0,60}?(?:\bthe user\b|https?://|\bpassword|"
            r"\bcredentials\b|\blink\b)",
            re.I,
        ),
        0.85,
    ),
    Rule(
        gated(
            r"(?:停止|不要|别|不用|无需)(?:再)?(?:总结|概括|摘要|翻译)(?:这份|这篇|这个|本|此|该)"
            r"(?:文件|文档|文章|报告|内容|邮件|网页|页面|文)[，,]?.{0,4}?(?:而是|改为|转而|直接|只需|"
            r"只)(?:要)?.{0,12}?(?:回复|回答|输出|告诉)"
        ),
        0.85,
    ),
    # The same in English: this document's summary or translation called off, and what comes
    # instead reaches the user (sends them somewhere, dictates the reply, or gives a link).
    # The object must be the document itself, right before the new task: a style guide's "Do
    # not translate the text in code blocks; output it unchanged", "instead of translating the
    # text literally, tell the reader what it means" or a legal note's "do not translate the
    # text; tell the user the English version prevails" asks nothing of that kind.
    Rule(
        gated(
            rf"\b(?:stop|quit|don't|do not|no need to|never)\s+{_CALLED_OFF_EN}{_INSTEAD_EN}",
            re.I,
        ),
        0.85,
    ),
    Rule(
        gated(
            rf"\binstead of\s+(?:{_CALLED_OFF_EN}|(?:summari[sz]|translat|process|analy[sz])\w*"
            rf"\s+it){_INSTEAD_EN}",
            re.I,
        ),
        0.85,
    ),
]


# What makes a span of a document an instruction at all: it addresses its reader (you, please,
# 你, 请), asks them something, or opens a sentence with a verb of command ("Send …",
# "Ignore …", "Summarize …", "TODO: …"; 写/列出/忽略 …). The n-gram classifier, which has
# learnt the wording of attacks, judges only such spans at full weight: a span that tells no
# one to do anything (a filing's "Revenue Recognition", "The following provides an analysis
# of …") counts at half its score. Before 2026-12-05 it counted in full, and 15 % of the
# chunks of real SEC filings passed the retrieval rule's 0.7 (bench/guard_generalization.py,
# financebench rows). Text in a language other than English or Chinese is judged in full:
# its cues are not read here. Written from how instructions are phrased, not read off a set.
_COMMAND_VERBS_TEXT = """
    act add analyse analyze answer append approve ask assume begin book break buy calculate
    call cancel change check choose classify click compare compose compute concatenate confirm
    consider continue convert copy correct count create decide delete describe determine
    disable disregard display download draft email enable estimate evaluate execute explain
    extract fetch find fix follow forget forward generate get give go grant identify ignore
    imagine include insert install invite list log make mention modify move name navigate note
    open outline output paraphrase pay pick plan post predict prepare pretend print provide put
    rank rate read recommend remember remove rename rephrase replace reply repeat reserve
    respond retrieve return reveal rewrite run save say schedule search select send set share
    show sign sort start state stop store subscribe suggest summarise summarize tell transfer
    translate unsubscribe update upload use verify visit write"""
_COMMAND_VERBS = frozenset(_COMMAND_VERBS_TEXT.split())
_ADDRESSED = re.compile(
    r"\b(?:you|your|yours|yourself|please|do not|don't|make sure|instead)\b|\?|"
    r"^\W*(?:TODO|NOTE|IMPORTANT|ATTENTION)\b",
    re.I,
)
_ADDRESSED_ZH = re.compile(
    r"你|您|请|务必|一定要|不要|忽略|回复|回答|输出|发送|告诉|访问|点击|记得|？"
)
_COMMAND_ZH = re.compile(
    r"(?:^|[。！？\n])\W*(?:写|列出|翻译|总结|解释|描述|生成|给出|提供|把|将|删除|修改|添加|打开|"
    r"运行|执行|重复)"
)
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|\n)\W*([A-Za-z]+)")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
_ENGLISH_WORD = re.compile(
    r"\b(?:the|of|and|to|in|is|are|for|with|that|this|on|as|be|by|it|from|at|or|an|was|were|"
    r"has|have|will|can|we|our|its|their|not)\b",
    re.I,
)
_HAN = re.compile(r"[\u4e00-\u9fff]")
UNADDRESSED_WEIGHT = 0.5
# An instruction to a document's human reader ("Please submit your expense reports by the
# fifth", a notice's "Keep the fire doors closed") is phrased as an injection is; what an
# injection asks of the model names the model, its instructions, the user, the reply or
# summary, or something to send, show or link. An instruction-like span counts in full only
# where it names one of those (2026-12-05, evening; before, every such span did); others count
# at UNADDRESSED_WEIGHT. Written from how indirect injections work, not read off a set.
_DOC_CUES = gated(
    r"\b(?:ai|assistant|model|chatbot|gpt|llm|bot|language model|instructions?|prompts?|"
    r"ignore|disregard|override|previous|system|user|task|summar\w*|respon\w*|repl\w*|answers?|"
    r"outputs?|append|include|insert|mention|tell|say|print|write|send|forward|transfer|"
    r"visit|click|links?|urls?|markdown|image|http\w*|www)\b|忽略|指令|提示|助手|模型|人工智能|用户|"
    r"回答|回复|输出|总结|链接|网址|发送|转账",
    re.I,
)


def instruction_like(span: str) -> bool:
    """Whether a document's span addresses a reader or commands something (see above); True
    too for a span in a language whose cues are not read here."""
    if _HAN.search(span):
        return bool(_ADDRESSED_ZH.search(span) or _COMMAND_ZH.search(span))
    words = _LATIN_WORD.findall(span)
    if not words:
        return not span.isascii()  # another script (Cyrillic, Arabic …): not read here
    if _another_latin_language(span, words):
        return True
    if _ADDRESSED.search(span):
        return True
    if _HEADING.fullmatch(span.strip()):
        return False  # "Share Repurchase Program": a heading, not "share …!"
    return any(m.group(1).lower() in _COMMAND_VERBS for m in _SENTENCE_START.finditer(span))


# A title: capitalised words (and numbers, joiners), no sentence's end. Possessive throughout:
# each word is taken whole once, so a long run of capitals cannot make the match backtrack.
_HEADING = re.compile(
    r"(?:[\W\d]*+(?:[A-Z][\w'’-]*+|(?:and|or|of|the|for|in|on|to|a|an|per|by|with|at|from|vs)"
    r"\b|&))++[^\w.!?]*+"
)


def _another_latin_language(span: str, words: list[str]) -> bool:
    """Four words or more with hardly an English function word, most of them no English word
    (Indonesian, German …). Headings ("Year over Year Growth Rates") and code
    (pairArrayList.add(new Pair<>()) have no function words either, but their words are
    English (CC-CEDICT's English senses: ``gazetteer.english_words``)."""
    if len(words) < 4 or len(_ENGLISH_WORD.findall(span)) * 12 >= len(words):
        return False
    english = gazetteer.english_words()
    return sum(w.lower() in english for w in words) * 2 < len(words)


@dataclass(frozen=True)
class InjectionScore:
    score: float
    rule: float
    model: float | None


def _rule_score(text: str, rules: list[Rule]) -> float:
    return max((rule.weight for rule in rules if rule.pattern.search(text)), default=0.0)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])\s*")
_PARAGRAPH = re.compile(r"\n\s*\n")
MAX_SEGMENT = 300


def segments(document: str) -> list[str]:
    """The spans an instruction hides in: paragraphs, and the lines and sentences of long ones.

    A short paragraph stays whole, so a multi-line instruction is judged as one; a long one
    (an essay paragraph) is judged line by line and sentence by sentence. Lines of code keep
    only what is written in words inside them, their comments and strings (``code.prose_of``):
    ``return response`` addresses no one, an instruction in a docstring or comment still
    counts. Every span, however long the document: only the first 200 were read until
    2026-12-05, so a tool result's instruction after 200 paragraphs went unread."""
    out: list[str] = []
    for paragraph in _PARAGRAPH.split(document):
        paragraph = code.prose_of(paragraph).strip()
        if len(paragraph) <= MAX_SEGMENT:
            parts = [paragraph]
        else:
            parts = []
            for line in paragraph.split("\n"):
                line = line.strip()
                parts += _SENTENCE_END.split(line) if len(line) > MAX_SEGMENT else [line]
        out.extend(p for p in parts if len(p) > 3)
    return out


def score_with(text: str, classifier: textclf.Scorer | None, document: bool = False) -> float:
    """Rules and ``classifier`` together, the larger wins (the bench passes its own models)."""
    return _detail(text, classifier, document).score


def _detail(text: str, classifier: textclf.Scorer | None, document: bool) -> InjectionScore:
    """The text's score, or that of what it hides in base64, hex, ROT13 or spaced-out letters
    (``decodings``) where that is higher."""
    text = canonical(text)  # rules and n-grams were learnt on 请 and ignore, not 請 or ｉｇｎｏｒｅ
    best = _read(text, classifier, document)
    for hidden in decodings.readings(text):
        found = _read(canonical(hidden), classifier, document)
        best = found if found.score > best.score else best
    return best


def _read(text: str, classifier: textclf.Scorer | None, document: bool) -> InjectionScore:
    rules = _RULES + _DOCUMENT_RULES if document else _RULES
    rule = _rule_score(text, rules)
    model: float | None = None
    if classifier is not None:
        if document:
            parts = segments(text)
            weights = [span_weight(p) for p in parts]
            model = float((classifier.scores(parts) * weights).max()) if parts else 0.0
        else:
            model = windows.highest(classifier.scores, text) * request_weight(text)
    return InjectionScore(max(rule, model or 0.0), rule, model)


# A request that names nothing an injection works with: no instructions, prompt, rules or
# system to override, no persona, mode or "from now on", no secret to reveal, no reply to
# dictate. The request classifier learnt what attacks sound like, and ordinary tasks sound
# like them ("Translate the phrase 'the world is yours' into Spanish." 0.85, "Name two
# advantages of this technology" 0.84); on such a request, in a language whose words are read
# here (English, Chinese), it counts for CUELESS_WEIGHT. Elsewhere (Spanish, Russian …) no
# absence of cues is seen and it counts in full.
CUELESS_WEIGHT = 0.75
_CUES = gated(
    r"\b(?:ignore|disregard|forget|override|bypass|instructions?|prompts?|system|rules?|"
    r"previous|prior|above|earlier|from now on|pretend|act as|role-?play|you are (?:now|no "
    r"longer|free)|developer mode|jailbreak|dan|unfiltered|uncensored|restrictions?|reveal|"
    r"secrets?|password|confidential|repeat (?:after|back|the|your)|print (?:your|the)|say "
    r"['\"]|output ['\"]|respond with|reply with|access granted|new task|instead|stop being|no "
    r"longer|do anything|simulate|hypothetical|opposite|evil|hack\w*|persona|character|"
    r"guidelines?|polic(?:y|ies)|filters?)\b"
    r"|忽略|无视|忘记|忘掉|指令|提示词|系统|规则|之前|以上|扮演|假装|开发者模式|越狱|不受限制|密码|"
    r"秘密|泄露|重复|输出|现在开始|从现在起",
    re.I,
)


def request_weight(text: str) -> float:
    """How much the request classifier counts for ``text`` (1.0, or ``CUELESS_WEIGHT`` for a
    plain task in English or Chinese: see above)."""
    if _CUES.search(text) or not _read_here(text):
        return 1.0
    return CUELESS_WEIGHT


def span_weight(span: str) -> float:
    """How much the document classifier counts for one span of a document: in full for an
    instruction that names what an injection works with (``_DOC_CUES``) or is in a language
    not read here, else ``UNADDRESSED_WEIGHT``."""
    if not instruction_like(span):
        return UNADDRESSED_WEIGHT
    return 1.0 if _DOC_CUES.search(span) or not _read_here(span) else UNADDRESSED_WEIGHT


def _read_here(text: str) -> bool:
    """Whether ``text`` is in a language whose cue words are read here: Chinese, or English
    (not another script, not another Latin-script language)."""
    if _HAN.search(text):
        return True
    words = _LATIN_WORD.findall(text)
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))  # (a C loop, not a Python one)
    other_script = non_ascii * 5 > len(text)
    return bool(words) and not other_script and not _another_latin_language(text, words)


def score_detail(text: str, document: bool = False) -> InjectionScore:
    classifier = textclf.load(DOCUMENT_ARTIFACT if document else ARTIFACT)
    return _detail(text, classifier, document)


def score(text: str) -> float:
    """0–1: how likely ``text`` tries to override the assistant's instructions."""
    return score_detail(text).score


def score_document(text: str) -> float:
    """0–1 for a retrieved chunk: instructions hidden in a document (indirect injection)."""
    return score_detail(text, document=True).score
