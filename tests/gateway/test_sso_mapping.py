"""Claim mapping rules (gateway/sso/mapping.py): the plain function the sign-in and the admin
preview share, on claims as Keycloak, Entra ID and others send them."""

from __future__ import annotations

from aigc.gateway.sso.mapping import apply_rules, claim_values, email_refusal

RULES = [
    {"claim": "groups", "value": "aigc-admins", "role": "admin"},
    {"claim": "groups", "value": "aigc-owners", "role": "owner"},
    {"claim": "realm_access.roles", "value": "viewer", "role": "viewer"},
    {"claim": "groups", "value": "finance", "group": "finance"},
    {"claim": "department", "value": "研发", "group": "研发部"},
    {"claim": "is_contractor", "value": True, "group": "contractors"},
]


def test_highest_role_wins_and_groups_follow_claims() -> None:
    claims = {
        "groups": ["finance", "aigc-admins", "aigc-owners"],
        "realm_access": {"roles": ["viewer"]},
        "department": "研发",
    }
    mapped = apply_rules(RULES, "member", claims)
    assert mapped.role == "owner"
    assert mapped.groups == ("finance", "研发部")
    assert mapped.managed == ("finance", "研发部", "contractors")
    assert mapped.matched == (0, 1, 2, 3, 4)


def test_default_role_or_refusal_when_no_role_rule_matches() -> None:
    assert apply_rules(RULES, "member", {"groups": ["finance"]}).role == "member"
    refused = apply_rules(RULES, None, {"groups": ["finance"]})
    assert refused.role is None and refused.groups == ("finance",)


def test_values_compare_as_json_types() -> None:
    assert apply_rules(RULES, "viewer", {"is_contractor": True}).groups == ("contractors",)
    assert apply_rules(RULES, "viewer", {"is_contractor": "true"}).groups == ()
    assert apply_rules(RULES, "viewer", {"is_contractor": 1}).groups == ()
    assert claim_values({"a": {"b": [1, "x", {"deep": 1}, None]}}, "a.b") == [1, "x"]
    assert claim_values({"a": "scalar"}, "a.b") == []


def test_email_domains() -> None:
    allowed = ["corp.example"]
    assert email_refusal({"email": "a@corp.example"}, allowed) is None
    assert email_refusal({"email": "a@CORP.Example"}, allowed) is None
    assert email_refusal({"email": "a@corp.example.evil"}, allowed) == "email_domain"
    assert email_refusal({"email": "a@corp.example", "email_verified": False}, allowed) == (
        "email_unverified"
    )
    assert email_refusal({}, allowed) == "email_missing"
    assert email_refusal({}, []) is None  # no domains configured: anyone the provider vouches for
