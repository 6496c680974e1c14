"""Grant levels as a table: read, write (documents) and manage (the KB itself), per action.

Issue 14, defect 9: a member with a "write" grant deleted the KB and rewrote its access list.
Each row is a caller; each column an action; the cell says whether it is allowed.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from aigc.access import Principal
from aigc.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from aigc.infra.schema import User
from aigc.knowledge import bases
from aigc.knowledge.ingest import add_document, delete_document, ingest_documents
from aigc.knowledge.retrieve import search
from aigc.knowledge.tables import KbAccess, KbDocument, KnowledgeBase

from .conftest import Sandbox

DOC = {"handbook.md": b"# Handbook\n\nExpense reports are due on the fifth of each month."}
ACTIONS = ("search", "upload", "delete_document", "change_access", "delete_kb")
ALLOWED = {
    "read": {"search"},
    "write": {"search", "upload", "delete_document"},
    "manage": set(ACTIONS),
    "admin": set(ACTIONS),
    "viewer+write": {"search"},  # a viewer is read-only whatever a grant says
    "viewer+manage": {"search"},
}


def _caller(sandbox: Sandbox, who: str) -> tuple[Principal, list[dict[str, str]]]:
    """The caller for a row and the grants that give it its level."""
    if who == "admin":
        return Principal(tenant_id="t_a", role="admin", key_id="k_admin2"), []
    role = "viewer" if who.startswith("viewer") else "member"
    level = who.split("+")[-1]
    uid = f"u_{who.replace('+', '_')}"
    with sandbox.db.session() as s:
        if s.get(User, uid) is None:
            s.add(User(id=uid, tenant_id="t_a", username=uid, password_hash="x", role=role))
    return (
        Principal(tenant_id="t_a", role=role, key_id=f"k_{uid}", user_id=uid),
        [{"user": uid, "access": level}],
    )


def _attempt(sandbox: Sandbox, who: Principal, kb: str, action: str) -> bool:
    """Run one action; True if allowed, False on 403; anything else fails the test."""
    settings = sandbox.settings
    steps: dict[str, Callable[[], object]] = {
        "search": lambda: _in(sandbox, lambda s: search(s, settings, who, [kb], "expense")),
        "upload": lambda: _in(
            sandbox, lambda s: add_document(s, settings, who, kb, "new.md", [b"# New\n\nText."])
        ),
        "delete_document": lambda: delete_document(sandbox.db, settings, who, kb, _doc(sandbox)),
        "change_access": lambda: _in(
            sandbox,
            lambda s: bases.update_kb(s, who, kb, access=[{"user": "u_x", "access": "read"}]),
        ),
        "delete_kb": lambda: _in(sandbox, lambda s: bases.delete_kb(s, who, kb)),
    }
    try:
        steps[action]()
    except PermissionDenied:
        return False
    return True


def _in(sandbox: Sandbox, fn: Callable) -> object:  # type: ignore[type-arg]
    with sandbox.db.session() as s:
        return fn(s)


def _doc(sandbox: Sandbox) -> str:
    with sandbox.db.session() as s:
        return s.scalars(select(KbDocument.id).where(KbDocument.filename == "handbook.md")).one()


@pytest.mark.parametrize("who", list(ALLOWED))
@pytest.mark.parametrize("action", ACTIONS)
def test_grant_level_table(sandbox: Sandbox, who: str, action: str) -> None:
    caller, grants = _caller(sandbox, who)
    kb = sandbox.kb(sandbox.admin_a, "policies", access=grants, dense=False)
    sandbox.ingest(sandbox.admin_a, kb, DOC)
    with sandbox.db.session() as s:
        before = sorted((g.subject, g.level) for g in s.scalars(select(KbAccess)))
        docs_before = s.scalar(select(KbDocument.id).where(KbDocument.filename == "new.md"))
    allowed = _attempt(sandbox, caller, kb, action)
    assert allowed == (action in ALLOWED[who]), f"{who} {action}"
    if not allowed:  # a refusal changed nothing
        with sandbox.db.session() as s:
            assert s.get(KnowledgeBase, kb) is not None
            assert sorted((g.subject, g.level) for g in s.scalars(select(KbAccess))) == before
            new = s.scalar(select(KbDocument.id).where(KbDocument.filename == "new.md"))
            assert new == docs_before is None
            assert s.scalar(select(KbDocument.id).where(KbDocument.filename == "handbook.md"))


def test_a_member_with_write_cannot_lock_the_others_out(sandbox: Sandbox) -> None:
    """The attack as reported: the default grants, a plain member, delete and access change."""
    member, _ = _caller(sandbox, "write")
    kb = sandbox.kb(sandbox.admin_a, "shared", dense=False)  # viewer: read, member: write
    with sandbox.db.session() as s:
        with pytest.raises(PermissionDenied):
            bases.update_kb(s, member, kb, access=[{"user": member.user_id, "access": "write"}])
        with pytest.raises(PermissionDenied):
            bases.delete_kb(s, member, kb)
        with pytest.raises(PermissionDenied):
            bases.update_kb(s, member, kb, name="renamed")
        assert bases.level_of(s, member, kb) == "write"


def test_renaming_to_another_kbs_name_is_a_conflict(sandbox: Sandbox) -> None:
    """Names are unique per organization: a rename onto a taken one broke the unique index
    (a 500); keeping one's own name is no conflict."""
    sandbox.kb(sandbox.admin_a, "taken", dense=False)
    kb = sandbox.kb(sandbox.admin_a, "mine", dense=False)
    with sandbox.db.session() as s:
        with pytest.raises(Conflict) as clash:
            bases.update_kb(s, sandbox.admin_a, kb, name=" taken ")
        assert clash.value.param == "name"
        assert bases.update_kb(s, sandbox.admin_a, kb, name=" mine ").name == "mine"


def test_a_grant_names_an_id_its_column_holds() -> None:
    """Group and user ids are kept in a column of 200 characters: a longer one was stored on
    SQLite and broke the insert on PostgreSQL (a 500)."""
    assert bases.parse_grants([{"group": "g" * 200}]) == [("group", "g" * 200, "read")]
    with pytest.raises(InvalidRequest) as refused:
        bases.parse_grants([{"role": "viewer"}, {"user": "u" * 201, "access": "write"}])
    assert refused.value.param == "access[1]"


def test_the_creator_manages_their_kb_until_removed(sandbox: Sandbox) -> None:
    creator, _ = _caller(sandbox, "write")  # a member; their own grant comes from creating
    other, _ = _caller(sandbox, "read")
    kb = sandbox.kb(creator, "mine", dense=False)
    with sandbox.db.session() as s:
        assert bases.level_of(s, creator, kb) == "manage"
        assert bases.level_of(s, other, kb) == "write"  # the default member grant
        bases.update_kb(s, creator, kb, access=[{"role": "member", "access": "read"}])
        assert bases.level_of(s, creator, kb) == "read"  # a manager may hand it over
        bases.update_kb(s, sandbox.admin_a, kb, access=[{"role": "member", "access": "manage"}])
        assert bases.level_of(s, other, kb) == "manage"


def test_unknown_level_refused_and_other_tenant_not_found(sandbox: Sandbox) -> None:
    from aigc.errors import InvalidRequest

    kb = sandbox.kb(sandbox.admin_a, "a-kb", dense=False)
    with sandbox.db.session() as s:
        with pytest.raises(InvalidRequest):
            bases.update_kb(s, sandbox.admin_a, kb, access=[{"role": "member", "access": "own"}])
        with pytest.raises(NotFound):
            bases.delete_kb(s, sandbox.admin_b, kb)


def test_ingest_helper_still_works_for_writers(sandbox: Sandbox) -> None:
    writer, grants = _caller(sandbox, "write")
    kb = sandbox.kb(sandbox.admin_a, "w", access=grants, dense=False)
    changed = sandbox.add(writer, kb, DOC)
    assert ingest_documents(sandbox.db, sandbox.settings, "t_a", kb, changed)["indexed"] == 1
