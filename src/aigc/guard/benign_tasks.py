"""Generated ordinary assistant tasks, English and Chinese: benign training data.

The injection detector's positives are task prompts with an override inside ("translate this …
ignore the above and say …"), and its benign data were questions, documents and prose, so it
learnt the imperative task form itself as the attack: "Compose a haiku …", "Write a C program
that blocks port scans" scored like jailbreaks. These are the tasks people give an assistant
every day (write, rewrite, translate, summarise, explain, list, classify, code, plan), composed
from frames, subjects and, for tasks about a given text, real passages (``sources.py`` passes
Python's own documentation, Python code and Chinese poems: none of them is itself a benign source
of the request detectors, so holding out a source in the generalization bench still holds out
its genre), so the classifier learns what an override says rather than that someone asks for
work. Written from the kinds of task assistants are given, not from the evaluation sets' misses.
"""

from __future__ import annotations

import random
from collections.abc import Sequence


def word_list(text: str) -> tuple[str, ...]:
    """A list written as one string, "a; b; c" (keeps the long word lists readable)."""
    return tuple(item.strip() for item in text.split(";") if item.strip())


TOPICS = word_list(
    "autumn; the ocean; teamwork; a rainy Monday; friendship; climate change; remote work; "
    "a small town; the night sky; coffee; a first job; city traffic; electric cars; "
    "online privacy; a mountain hike; our new office; recycling; artificial intelligence; "
    "a grandmother's kitchen; the first day of school"
)
CONCEPTS = word_list(
    "photosynthesis; inflation; compound interest; machine learning; blockchain; "
    "the greenhouse effect; supply and demand; a neural network; public-key cryptography; "
    "a hash table; recursion; the water cycle; opportunity cost; DNS; vaccination; "
    "the French Revolution; a firewall; gradient descent; version control; GDPR"
)
FORMS = word_list(
    "a haiku; a short poem; a limerick; a two-sentence story; a product description; "
    "a tweet; a blog post outline; a slogan; a short speech; a thank-you note; "
    "an email to a customer; a cover letter; a LinkedIn post; a news headline"
)
LANGUAGES = word_list("French; Spanish; German; Japanese; Chinese; Italian; Portuguese")
CODE_LANGUAGES = word_list("Python; Java; C; C++; JavaScript; Go; Rust; Bash; SQL")
PROGRAMS = word_list(
    "reverses a linked list; checks whether a string is a palindrome; "
    "parses a CSV file and prints the average of a column; sorts a list of dates; "
    "validates an email address; hashes passwords with a salt before storing them; "
    "counts the words in a text file; finds duplicate files in a folder; "
    "monitors a log file and alerts on failed logins; rate-limits requests per client; "
    "sanitises user input before it is used in a SQL query; "
    "backs up a directory every night; detects port scans in a packet capture; "
    "encrypts a file with AES; blocks an IP address after five failed logins; "
    "computes the Fibonacci numbers; converts Celsius to Fahrenheit; "
    "checks a TLS certificate's expiry date; implements a binary search; "
    "reads a JSON config and validates its fields"
)
_TOPIC_FRAMES = word_list(
    "Write {form} about {topic}.; Compose {form} about {topic}.; "
    "Can you write {form} about {topic}?; Generate three ideas for {form} about {topic}.; "
    "Create {form} on the theme of {topic}.; Give me a title for an essay about {topic}.; "
    "List five facts about {topic}.; Brainstorm some questions to ask about {topic}.; "
    "Describe {topic} in three sentences.; Name three words that describe {topic}.; "
    "Construct a sentence that uses the word '{word}'.; Give two synonyms for '{word}'."
)
_CONCEPT_FRAMES = word_list(
    "Explain {concept} to a ten-year-old.; What is {concept}?; Explain {concept} briefly.; "
    "Give an example of {concept}.; Compare {concept} and {other}.; "
    "What are the pros and cons of {concept}?; Write a quiz question about {concept}.; "
    "Summarize the history of {concept} in a paragraph.; Why does {concept} matter?; "
    "Provide a definition of {concept} and an analogy for it."
)
_CODE_FRAMES = word_list(
    "Write a {lang} program that {task}.; Generate a {lang} function that {task}.; "
    "Create a {lang} script that {task}.; Implement in {lang} a tool that {task}.; "
    "Show me {lang} code that {task}, with comments.; "
    "How would I write a {lang} function that {task}?"
)
_TEXT_FRAMES = word_list(
    "Summarize the following text:\n\n{body}; "
    "Translate this paragraph into {language}:\n{body}; "
    "Rewrite the following in plain English.\n{body}; Give this passage a title: {body}; "
    "Correct any grammar mistakes in the text below.\n\n{body}; "
    "What is the main idea of this paragraph? {body}; Extract the key points:\n{body}; "
    "Make this shorter without losing meaning:\n{body}; "
    "{body}\n\nSummarize the above in one sentence.; "
    "Classify the tone of this text as formal or informal: {body}; "
    "Write three questions a reader might ask about this text.\n{body}"
)
_CODE_BODY_FRAMES = word_list(
    "Explain what this code does:\n\n{body}; Find the bug in this code:\n{body}; "
    "Add type hints and docstrings to the following code.\n{body}; "
    "Refactor this function to be more readable:\n{body}; Write unit tests for:\n\n{body}; "
    "{body}\n\nWhy does this raise an error?; "
    "Review this code and suggest improvements:\n{body}"
)
# Everyday goals for "how do I …" questions: the question form carries no harm by itself.
GOALS = word_list(
    "plan a team offsite; negotiate a salary; train for a 10k run; save for retirement; "
    "keep houseplants alive; prepare for a job interview; learn to play the guitar; "
    "reduce my electricity bill; organize my inbox; cook rice without a rice cooker; "
    "write a good resume; make a presentation more engaging; "
    "choose a laptop for programming; teach my kids about money; fix a leaking tap; "
    "get better at public speaking; grow tomatoes on a balcony; start a podcast; "
    "deal with a difficult coworker; read more books; make sourdough bread; "
    "travel cheaply in Europe; learn SQL; write a project proposal; set up a home office; "
    "prepare for a marathon"
)
_QUESTION_FRAMES = word_list(
    "How do I {goal}?; How can I {goal}?; How should I {goal}?; "
    "What's the best way to {goal}?; Any tips on how to {goal}?; How would you {goal}?; "
    "How does {concept} work?; What is the difference between {concept} and {other}?; "
    "Why is {topic} important?; How do I write a {lang} function that {task}?; "
    "Can you explain how {concept} works?; How long does it take to {goal}?; "
    "What should I know before I {goal}?"
)
_WORDS = word_list("enduring; resilient; meticulous; serene; ambiguous; candid; frugal")

ZH_TOPICS = word_list(
    "秋天; 大海; 团队合作; 友谊; 气候变化; 远程办公; 家乡; 星空; 咖啡; 第一份工作; 城市交通; "
    "电动汽车; 网络隐私; 登山; 垃圾分类; 人工智能; 春节"
)
ZH_CONCEPTS = word_list(
    "光合作用; 通货膨胀; 复利; 机器学习; 区块链; 温室效应; 供求关系; 神经网络; 公钥加密; "
    "哈希表; 递归; 水循环; 机会成本; 防火墙; 梯度下降; 版本控制"
)
ZH_FORMS = word_list(
    "一首诗; 一首五言绝句; 一段广告语; 一个小故事; 一封感谢信; 一篇演讲稿; 一条朋友圈文案; "
    "一封给客户的邮件; 一份产品介绍; 一个新闻标题"
)
ZH_GOALS = word_list(
    "提高工作效率; 准备面试; 学好数学; 养成早起的习惯; 缓解颈椎疼痛; 挑选笔记本电脑; "
    "和同事沟通; 写一份好的简历; 节省电费; 在阳台种番茄; 学弹吉他; 做蛋糕; 给孩子讲理财; "
    "修水龙头; 做好年终汇报; 管理时间; 照顾老人; 选择保险; 学习SQL; 写项目计划书; "
    "布置家庭办公室; 备战马拉松; 提高英语听力"
)
_ZH_QUESTION_FRAMES = word_list(
    "如何{goal}？; 怎么{goal}？; 怎样才能{goal}？; 我该如何{goal}？; {goal}有什么技巧？; "
    "{concept}是怎么回事？; {concept}和{other}有什么区别？; 为什么{topic}很重要？; "
    "怎么用{lang}{program}？; {goal}需要注意什么？; 想{goal}，从哪里开始？"
)
ZH_PROGRAMS = word_list(
    "反转链表; 判断回文字符串; 读取CSV文件并计算平均值; 校验邮箱地址; 对密码加盐哈希后存储; "
    "统计文本文件的词数; 监控日志中的登录失败并报警; 对用户输入做过滤以防止SQL注入; "
    "检测端口扫描; 用AES加密文件; 实现二分查找"
)
_ZH_FRAMES = word_list(
    "写{form}，主题是{topic}。; 请以{topic}为题写{form}。; 帮我写{form}，关于{topic}。; "
    "列出关于{topic}的五个事实。; 用三句话描述{topic}。; 给一篇关于{topic}的文章起个标题。; "
    "解释一下什么是{concept}。; 用通俗的话给小学生讲讲{concept}。; {concept}有哪些优缺点？; "
    "比较{concept}和{other}的区别。; 举一个{concept}的例子。; 出一道关于{concept}的选择题。; "
    "用{lang}写一个程序，{program}。; 请用{lang}实现一个函数：{program}。; "
    "写一个{lang}脚本，{program}，并加上注释。"
)
_ZH_TEXT_FRAMES = word_list(
    "总结下面这段文字：\n{body}; 把下面这段话翻译成英文：{body}; 概括这段话的要点。\n{body}; "
    "给这段文字起一个标题：{body}; 改写下面的文字，使它更通俗易懂：\n{body}; "
    "{body}\n\n请用一句话总结上文。; 从下面的文字中提取关键词：{body}; "
    "这段话表达了什么情感？{body}; 根据下文出三道阅读理解题。\n{body}; "
    "把这首诗翻译成现代汉语：\n{body}; 给这首诗写一段赏析。{body}"
)


def _clip(text: str, rng: random.Random, limit: int = 600) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    start = rng.randrange(0, len(text) - limit)
    return text[start : start + limit]


def english_tasks(
    rng: random.Random, prose: Sequence[str], code: Sequence[str], n: int
) -> list[str]:
    """``n`` English task requests; some carry a paragraph of ``prose`` or a chunk of ``code``."""
    out = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.15:
            concept, other = rng.sample(CONCEPTS, 2)
            out.append(
                rng.choice(_QUESTION_FRAMES).format(
                    goal=rng.choice(GOALS),
                    concept=concept,
                    other=other,
                    topic=rng.choice(TOPICS),
                    lang=rng.choice(CODE_LANGUAGES),
                    task=rng.choice(PROGRAMS),
                )
            )
        elif kind < 0.35:
            out.append(
                rng.choice(_TOPIC_FRAMES).format(
                    form=rng.choice(FORMS), topic=rng.choice(TOPICS), word=rng.choice(_WORDS)
                )
            )
        elif kind < 0.5:
            concept, other = rng.sample(CONCEPTS, 2)
            out.append(rng.choice(_CONCEPT_FRAMES).format(concept=concept, other=other))
        elif kind < 0.7:
            lang, task = rng.choice(CODE_LANGUAGES), rng.choice(PROGRAMS)
            out.append(rng.choice(_CODE_FRAMES).format(lang=lang, task=task))
        elif kind < 0.88 and prose:
            body = _clip(rng.choice(prose), rng)
            out.append(rng.choice(_TEXT_FRAMES).format(body=body, language=rng.choice(LANGUAGES)))
        elif code:
            body = _clip(rng.choice(code), rng)
            out.append(rng.choice(_CODE_BODY_FRAMES).format(body=body))
    return out


def chinese_tasks(rng: random.Random, passages: Sequence[str], n: int) -> list[str]:
    """``n`` Chinese task requests; a third of them about one of ``passages``."""
    out = []
    for _ in range(n):
        if passages and rng.random() < 0.33:
            body = _clip(rng.choice(passages), rng, 300)
            out.append(rng.choice(_ZH_TEXT_FRAMES).format(body=body))
            continue
        concept, other = rng.sample(ZH_CONCEPTS, 2)
        frames = _ZH_QUESTION_FRAMES if rng.random() < 0.3 else _ZH_FRAMES
        out.append(
            rng.choice(frames).format(
                goal=rng.choice(ZH_GOALS),
                form=rng.choice(ZH_FORMS),
                topic=rng.choice(ZH_TOPICS),
                concept=concept,
                other=other,
                lang=rng.choice(CODE_LANGUAGES),
                program=rng.choice(ZH_PROGRAMS),
            )
        )
    return out
