"""Template models the tests register: their answers are fixed, so assertions can be exact."""

# Repeats the question: shows which prompt a choice answered.
ECHO = """
name: echo
languages: [en]
intents:
  - id: echo
    patterns: ['(?P<text>[\\s\\S]+)']
    answers:
      en: ['You said: {text}']
fallback:
  en: ['?']
"""

# One sentence whatever is asked: grounding, not the model, decides what is cited.
KB_FIXED = """
name: kb-fixed
languages: [en]
intents:
  - id: any
    patterns: ['.']
    answers:
      en: ["Here is what the documents say."]
fallback:
  en: ["Here is what the documents say."]
"""


def words(count: int) -> str:
    """``word0 word1 ...``: the answer of a ``slow`` template, checkable word for word."""
    return " ".join(f"word{i}" for i in range(count))


def slow(text: str, pace_ms: int) -> str:
    """A template that streams ``text`` word by word ``pace_ms`` apart when asked for a story."""
    return f"""
name: slow
languages: [en]
pace_ms: {pace_ms}
intents:
  - id: story
    patterns: ['story']
    answers:
      en: ["{{text}}"]
slots:
  text: "{text}"
fallback: {{en: ["Sorry."]}}
"""


# Streams 80 words 25 ms apart when asked for a story (about 2 s): a stream still going when a
# test stops the server or hangs up.
WORDS = words(80)
SLOW = slow(WORDS, pace_ms=25)
