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
