"""Claims → role and groups, by the rules an administrator wrote for a provider.

A rule names a claim (dots walk into objects: ``realm_access.roles`` for Keycloak) and a value;
it matches when the claim equals the value or, for a list, contains it. A rule grants either a
role or a group. The person's role is the highest role any matching rule grants, else the
provider's default role, else nobody (refused). Groups named by rules are *managed*: at every
sign-in the person is put in the matching ones and taken out of the others, so leaving a group
at the provider takes effect at the next sign-in. Groups no rule names are left as they are.

Plain functions over plain data: the admin API's preview and the sign-in run the same code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aigc.access import role_rank

MAX_DEPTH = 5


def claim_values(claims: Mapping[str, Any], path: str) -> list[Any]:
    """The values at ``path`` (``a.b.c``): a scalar as a one-item list, a list as it is."""
    node: Any = claims
    for part in path.split(".")[:MAX_DEPTH]:
        if not isinstance(node, Mapping) or part not in node:
            return []
        node = node[part]
    if isinstance(node, list):
        return [v for v in node if isinstance(v, str | int | float | bool)]
    return [node] if isinstance(node, str | int | float | bool) else []


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values: ``True`` is not ``1``, ``"1"`` is not ``1``."""
    return type(a) is type(b) and a == b


def rule_matches(rule: Mapping[str, Any], claims: Mapping[str, Any]) -> bool:
    return any(_same(v, rule["value"]) for v in claim_values(claims, rule["claim"]))


@dataclass(frozen=True)
class Mapped:
    """What the rules say of one set of claims."""

    role: str | None  # None: refused (no role rule matched and no default role)
    groups: tuple[str, ...]  # the managed groups the person belongs in
    managed: tuple[str, ...]  # every group some rule names (left when not matched)
    matched: tuple[int, ...]  # indexes of the rules that matched


def apply_rules(
    rules: Sequence[Mapping[str, Any]], default_role: str | None, claims: Mapping[str, Any]
) -> Mapped:
    role: str | None = None
    groups: list[str] = []
    managed: list[str] = []
    matched: list[int] = []
    for index, rule in enumerate(rules):
        group = rule.get("group")
        if group and group not in managed:
            managed.append(group)
        if not rule_matches(rule, claims):
            continue
        matched.append(index)
        if group and group not in groups:
            groups.append(group)
        granted = rule.get("role")
        if granted and (role is None or role_rank(granted) > role_rank(role)):
            role = granted
    return Mapped(role or default_role, tuple(groups), tuple(managed), tuple(matched))


def email_refusal(claims: Mapping[str, Any], allowed_domains: Sequence[str]) -> str | None:
    """Why the e-mail claim keeps this person out (None: it does not).

    With allowed domains, the ``email`` claim must be there, in one of them, and not marked
    unverified (``email_verified: false``); providers that never send ``email_verified``
    (Entra ID) are trusted for the address they issue.
    """
    if not allowed_domains:
        return None
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        return "email_missing"
    if claims.get("email_verified") is False:
        return "email_unverified"
    domain = email.rsplit("@", 1)[1].strip().lower()
    if domain not in {d.lower() for d in allowed_domains}:
        return "email_domain"
    return None
