"""Output rules on a stream, with a look-behind window.

The model's text is held back by ``window`` characters before it is released to the client, so
a span an output rule must mask or block is seen whole before any of it leaves: a finding that
straddles the release point holds the release back to its start. The rules run once every
``STEP`` new characters, not on every delta. Placeholders the input stage
put in (``[EMAIL_ADDRESS_1]``) are restored only in released text, so a value split across
chunks ("[EMAIL_" + "ADDRESS_1]") comes out whole. The delay is at most one window (plus
one step).

    guard = OutputGuard(rules, pseudonymizer)
    for delta in model_deltas:
        yield guard.feed(delta)       # may be "" while text is held back
        if guard.blocked: break       # finish_reason "content_filter"
    yield guard.finish()

A tool call's arguments pass the same rules whole (``json_strings``: restored values are
escaped as inside JSON strings, so the arguments stay JSON).
"""

from __future__ import annotations

from aigc.guard import pii
from aigc.guard.checks import evaluate
from aigc.guard.policy import Rule

WINDOW = 96
STEP = 24  # rules run again once this many new characters arrived (delay <= WINDOW + STEP)
# A placeholder cut off at the end of the buffer: "[", "[EMAIL", "[EMAIL_ADDRESS_1".
_PARTIAL_PLACEHOLDER_MAX = 40


class OutputGuard:
    def __init__(
        self,
        rules: list[Rule],
        pseudonymizer: pii.Pseudonymizer | None = None,
        window: int = WINDOW,
        json_strings: bool = False,
    ) -> None:
        self.json_strings = json_strings
        self.rules = [r for r in rules if r.action != "allow"]
        self.pseudo = pseudonymizer or pii.Pseudonymizer()
        self.window = window
        self.masker = pii.Pseudonymizer()
        self.masker.counts = dict(self.pseudo.counts)
        self.buffer = ""
        self._pending = 0  # characters received since the rules last ran
        self.blocked: str | None = None  # the decision code once a block rule fired
        self.codes: list[str] = []
        self.released_model_text: list[str] = []  # what the model said, placeholders kept

    @property
    def active(self) -> bool:
        """False when there is nothing to do: text passes straight through."""
        return bool(self.rules or self.pseudo.by_placeholder)

    def feed(self, delta: str) -> str:
        if self.blocked:
            return ""
        if not self.active:
            self.released_model_text.append(delta)
            return delta
        self.buffer += delta
        self._pending += len(delta)
        if self._pending < STEP:
            return ""
        self._pending = 0
        return self._release(final=False)

    def finish(self) -> str:
        if self.blocked or not self.active:
            return ""
        return self._release(final=True)

    def _release(self, final: bool) -> str:
        text = self._apply_rules(self.buffer)
        if self.blocked is not None:
            return self._emit(text)
        cut = len(text) if final else max(0, len(text) - self.window)
        if not final:
            cut = self._safe_cut(text, cut)
        out, self.buffer = text[:cut], text[cut:]
        return self._emit(out)

    def _emit(self, model_text: str) -> str:
        self.released_model_text.append(model_text)
        return self.pseudo.restore(model_text, in_json=self.json_strings)

    def _apply_rules(self, text: str) -> str:
        """Mask what redact rules find; on a block rule, keep only the text before it."""
        opening = not any(self.released_model_text)  # the buffer starts the response
        for rule in self.rules:
            hit = evaluate(rule, text, opening=opening)
            if hit is None:
                continue
            kinds = "+".join(sorted({f.entity for f in hit.findings})) or f"{hit.score:.2f}"
            code = f"output:{rule.id}:{rule.action}:{kinds}"
            if code not in self.codes:
                self.codes.append(code)
            if rule.action == "block":
                self.blocked = code
                first = min((f.start for f in hit.findings), default=0)
                self.buffer = ""
                return text[:first]
            if rule.action == "redact":
                text = self.masker.redact(text, hit.findings)
        self.buffer = text
        return text

    def _safe_cut(self, text: str, cut: int) -> int:
        """Move the release point back so it splits no placeholder and no partial one."""
        for m in pii.PLACEHOLDER.finditer(text):
            if m.start() < cut < m.end():
                cut = m.start()
        bracket = text.rfind("[", max(0, cut - _PARTIAL_PLACEHOLDER_MAX), cut)
        if bracket != -1 and "]" not in text[bracket:cut]:
            cut = bracket
        return cut
