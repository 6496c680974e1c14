"""Conversations as plain functions, on every backend: one owner each, search, order, refusals."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from aigc.access import Principal
from aigc.errors import InvalidRequest, NotFound, PermissionDenied
from aigc.gateway import accounts
from aigc.gateway import conversations as conv


def _person(session: Session, tenant_id: str, name: str, role: str = "member") -> Principal:
    user = accounts.create_user(
        session, None, tenant_id=tenant_id, username=name, password="long enough pw", role=role
    )
    return Principal(tenant_id=tenant_id, role=role, user_id=user.id)


@pytest.fixture
def people(session: Session) -> dict[str, Principal]:
    a = accounts.create_tenant(session, None, "A", None)
    b = accounts.create_tenant(session, None, "B", None)
    return {
        "alice": _person(session, a.id, "alice"),
        "bob": _person(session, a.id, "bob"),
        "viewer": _person(session, a.id, "vera", role="viewer"),
        "carol": _person(session, b.id, "carol", role="admin"),
        "key": Principal(tenant_id=a.id, role="admin", key_id="key_x"),  # no person behind it
    }


def test_create_append_get_in_order_with_auto_title(
    session: Session, people: dict[str, Principal]
) -> None:
    alice = people["alice"]
    row = conv.create_conversation(session, alice, model="template-helpdesk")
    assert row.title == ""
    for i in range(5):  # quick appends keep their order (strictly increasing times)
        conv.append_message(session, alice, row.id, "user", f"question {i} about the VPN client")
        conv.append_message(session, alice, row.id, "assistant", f"answer {i}", {"request_id": i})
    got = conv.get_conversation(session, alice, row.id)
    messages = conv.messages_of(session, got)
    assert [m.content for m in messages][:3] == [
        "question 0 about the VPN client",
        "answer 0",
        "question 1 about the VPN client",
    ]
    assert messages[-1].meta == {"request_id": 4}
    assert got.title == "question 0 about the VPN client"  # the first question names it
    view = conv.conversation_view(got, messages)
    assert view["object"] == "conversation" and len(view["messages"]) == 10
    assert view["messages"][1]["role"] == "assistant"


def test_long_first_question_is_cut_for_the_title(
    session: Session, people: dict[str, Principal]
) -> None:
    alice = people["alice"]
    row = conv.create_conversation(session, alice)
    conv.append_message(session, alice, row.id, "user", "怎么 " * 100)
    assert len(row.title) == conv.AUTO_TITLE and row.title.endswith("…")


def test_list_search_rename_delete(session: Session, people: dict[str, Principal]) -> None:
    alice = people["alice"]
    printers = conv.create_conversation(session, alice, title="Printers")
    vpn = conv.create_conversation(session, alice)
    conv.append_message(session, alice, vpn.id, "user", "The VPN says ERROR 619, 100% broken")
    chinese = conv.create_conversation(session, alice)
    conv.append_message(session, alice, chinese.id, "user", "年假可以顺延吗？")

    listed = [c.id for c in conv.list_conversations(session, alice)]
    assert set(listed) == {printers.id, vpn.id, chinese.id}
    assert listed[0] == chinese.id  # newest activity first
    assert [c.id for c in conv.list_conversations(session, alice, "printers")] == [printers.id]
    assert [c.id for c in conv.list_conversations(session, alice, "error 619")] == [vpn.id]
    assert [c.id for c in conv.list_conversations(session, alice, "100%")] == [vpn.id]
    assert conv.list_conversations(session, alice, "_") == []  # LIKE wildcards are literal
    assert [c.id for c in conv.list_conversations(session, alice, "顺延")] == [chinese.id]

    conv.update_conversation(session, alice, printers.id, title="  Printer   P-204 ")
    assert conv.get_conversation(session, alice, printers.id).title == "Printer P-204"

    conv.delete_conversation(session, alice, vpn.id)
    with pytest.raises(NotFound):
        conv.get_conversation(session, alice, vpn.id)
    assert conv.list_conversations(session, alice, "619") == []


def test_other_users_and_tenants_get_not_found(
    session: Session, people: dict[str, Principal]
) -> None:
    alice = people["alice"]
    row = conv.create_conversation(session, alice, title="alice's secret")
    conv.append_message(session, alice, row.id, "user", "my secret question")
    for other in ("bob", "carol"):
        who = people[other]
        assert conv.list_conversations(session, who) == []
        assert conv.list_conversations(session, who, "secret") == []
        for call in (
            lambda who=who: conv.get_conversation(session, who, row.id),
            lambda who=who: conv.append_message(session, who, row.id, "user", "hijack"),
            lambda who=who: conv.update_conversation(session, who, row.id, title="pwned"),
            lambda who=who: conv.delete_conversation(session, who, row.id),
        ):
            with pytest.raises(NotFound) as missing:
                call()
            assert missing.value.message == f"No conversation with id '{row.id}'"
    kept = conv.get_conversation(session, alice, row.id)
    assert kept.title == "alice's secret"
    assert [m.content for m in conv.messages_of(session, kept)] == ["my secret question"]


def test_key_without_a_person_and_viewer_are_refused(
    session: Session, people: dict[str, Principal]
) -> None:
    key = people["key"]
    for call in (
        lambda: conv.create_conversation(session, key),
        lambda: conv.list_conversations(session, key),
        lambda: conv.get_conversation(session, key, "conv_0000000000000000"),
    ):
        with pytest.raises(PermissionDenied) as refused:
            call()
        assert refused.value.code == "user_required"
        assert "bound to a user" in refused.value.message
    viewer = people["viewer"]
    with pytest.raises(PermissionDenied):
        conv.create_conversation(session, viewer)
    assert conv.list_conversations(session, viewer) == []  # a viewer may read their own


def test_invalid_messages_are_refused(session: Session, people: dict[str, Principal]) -> None:
    alice = people["alice"]
    row = conv.create_conversation(session, alice)
    with pytest.raises(InvalidRequest):
        conv.append_message(session, alice, row.id, "tool", "x")
    with pytest.raises(InvalidRequest):
        conv.append_message(session, alice, row.id, "user", "x" * (conv.MAX_CONTENT + 1))
    with pytest.raises(InvalidRequest):
        conv.append_message(session, alice, row.id, "user", "x", {"blob": "y" * 70_000})
    with pytest.raises(InvalidRequest):
        conv.update_conversation(session, alice, row.id, title="t" * 201)
    assert conv.messages_of(session, row) == []


def test_meta_is_counted_in_bytes_of_utf8_json(
    session: Session, people: dict[str, Principal]
) -> None:
    """The refusal says "bytes of JSON": 30,000 Chinese characters are some 90 KB of UTF-8,
    over the 64 KB limit, though fewer characters than it."""
    alice = people["alice"]
    row = conv.create_conversation(session, alice)
    with pytest.raises(InvalidRequest) as refused:
        conv.append_message(session, alice, row.id, "user", "x", {"笔记": "长" * 30_000})
    assert refused.value.param == "meta"
    assert refused.value.message == f"meta is at most {conv.MAX_META_BYTES} bytes of JSON"
    # just under the limit in bytes is taken, in Chinese as in English
    fits = "长" * ((conv.MAX_META_BYTES - len('{"笔记": ""}'.encode())) // 3)
    kept = conv.append_message(session, alice, row.id, "user", "x", {"笔记": fits})
    assert kept.meta == {"笔记": fits}
    assert conv.messages_of(session, row) == [kept]


def test_rating_is_kept_on_the_owners_answer_only(
    session: Session, people: dict[str, Principal]
) -> None:
    alice, bob = people["alice"], people["bob"]
    row = conv.create_conversation(session, alice, model="template-helpdesk")
    question = conv.append_message(session, alice, row.id, "user", "Where is the canteen?")
    answer = conv.append_message(
        session, alice, row.id, "assistant", "Ground floor.", {"request_id": "req_1"}
    )
    rated = conv.rate_message(session, alice, row.id, answer.id, -1, "It is on the first floor.")
    assert rated.meta == {
        "request_id": "req_1",
        "rating": -1,
        "correction": "It is on the first floor.",
    }
    again = conv.rate_message(session, alice, row.id, answer.id, 1)  # changed mind
    assert again.meta == {"request_id": "req_1", "rating": 1}
    with pytest.raises(NotFound):
        conv.rate_message(session, bob, row.id, answer.id, 1)  # not bob's conversation
    with pytest.raises(NotFound):
        conv.rate_message(session, alice, row.id, "msg_nope", 1)
    with pytest.raises(InvalidRequest):
        conv.rate_message(session, alice, row.id, question.id, 1)  # a question is not rated
    with pytest.raises(InvalidRequest):
        conv.rate_message(session, alice, row.id, answer.id, 5)
