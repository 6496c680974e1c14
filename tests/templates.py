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

# Streams 80 words 25 ms apart when asked for a story (about 2 s): a stream still going when a
# test stops the server or hangs up.
WORDS = " ".join(f"word{i}" for i in range(80))
SLOW = f"""
name: slow
languages: [en]
pace_ms: 25
intents:
  - id: story
    patterns: ['story']
    answers:
      en: ["{{text}}"]
slots:
  text: "{WORDS}"
fallback: {{en: ["Sorry."]}}
"""
