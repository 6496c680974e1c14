"""Knowledge bases and who may use them, as plain functions over a session.

A KB belongs to one tenant. Access is a list of grants, each giving one level to a role (that
role and every higher one), a group or a user. The levels nest:

* ``read``: list and download documents, view chunks, search;
* ``write``: ``read``, plus upload and delete documents;
* ``manage``: ``write``, plus rename, change the access list and delete the KB itself.

``write`` used to mean everything; it is documents only, so a plain member with the default
``write`` grant can no longer delete the KB or lock others out of it. The creator receives a
``manage`` grant on their own user; tenant admins and owners may do everything. A ``viewer``
is read-only whatever a grant says: the role caps the level (a write grant to a viewer
authorizes nothing a later step would refuse, so no half-done upload is left behind).

Every lookup filters by tenant and permission here: a KB of another tenant, or one the caller
may not read, is "not found", exactly as if it did not exist; one the caller may read but not
change at the needed level answers 403.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from aigc.access import Principal, check_role_name, require_role, require_unlimited
from aigc.errors import Conflict, NotFound, PermissionDenied, refused, refused_value
from aigc.infra import untrusted
from aigc.infra.schema import GroupMember, User, new_id, unix_time
from aigc.knowledge.tables import KbAccess, KnowledgeBase

LEVELS = ("read", "write", "manage")  # each includes the ones before it
_RANK = {level: rank for rank, level in enumerate(LEVELS)}
SUBJECTS = ("role", "group", "user")
MAX_SUBJECT = 200  # a group or user id, as the grant's column holds it
DEFAULT_ACCESS = [{"role": "viewer", "access": "read"}, {"role": "member", "access": "write"}]


def parse_grants(grants: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """``[{"role"|"group"|"user": ..., "access": level}]`` → (type, subject, level)."""
    parsed = []
    for n, grant in enumerate(grants):
        if not isinstance(grant, dict):
            raise refused_value(
                "access_entry_not_object", "Each access entry is an object", param=f"access[{n}]"
            )
        level = grant.get("access", "read")
        if level not in LEVELS:
            raise refused_value(
                "literal_error",
                "access must be one of {expected}, not '{value}'",
                param=f"access[{n}].access",
                expected=", ".join(LEVELS),
                value=str(level)[:40],
            )
        kinds = [k for k in SUBJECTS if k in grant]
        subject = grant[kinds[0]] if len(kinds) == 1 else None
        if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT:
            raise refused_value(
                "access_entry_subject",
                "Each access entry names exactly one of 'role', 'group' or 'user' (an id of "
                "at most {max_length} characters)",
                param=f"access[{n}]",
                max_length=MAX_SUBJECT,
            )
        kind = kinds[0]
        if kind == "role":
            check_role_name(subject, param=f"access[{n}]")
        parsed.append((kind, subject, level))
    return parsed


def _groups_of(session: Session, principal: Principal) -> set[str]:
    if principal.user_id is None:
        return set()
    query = select(GroupMember.group_id).where(GroupMember.user_id == principal.user_id)
    return set(session.scalars(query))


def _level(grants: list[KbAccess], principal: Principal, groups: set[str]) -> str | None:
    """The best level any grant gives the caller, capped by their role; None: no access."""
    if principal.at_least("admin"):
        return "manage"
    best: str | None = None
    for grant in grants:
        matches = (
            (grant.subject_type == "role" and principal.at_least(grant.subject))
            or (grant.subject_type == "group" and grant.subject in groups)
            or (grant.subject_type == "user" and grant.subject == principal.user_id)
        )
        level = grant.level if grant.level in _RANK else "read"  # unknown: the least
        if matches and (best is None or _RANK[level] > _RANK[best]):
            best = level
    if best is not None and not principal.at_least("member"):
        best = "read"  # a viewer changes nothing, whatever a grant says
    return best


def at_least(level: str | None, need: str) -> bool:
    """Whether ``level`` (from ``access_levels``) includes ``need``."""
    return level is not None and _RANK[level] >= _RANK[need]


def access_levels(
    session: Session, principal: Principal, kb_ids: list[str] | None = None
) -> dict[str, str]:
    """KB id → the caller's level, for every KB of the caller's tenant they may read."""
    query = select(KnowledgeBase.id).where(KnowledgeBase.tenant_id == principal.tenant_id)
    if kb_ids is not None:
        query = query.where(KnowledgeBase.id.in_(kb_ids))
    ids = list(session.scalars(query))
    if not ids:
        return {}
    grants: dict[str, list[KbAccess]] = {kb: [] for kb in ids}
    for grant in session.scalars(
        select(KbAccess).where(KbAccess.tenant_id == principal.tenant_id, KbAccess.kb_id.in_(ids))
    ):
        grants[grant.kb_id].append(grant)
    groups = _groups_of(session, principal)
    levels = {kb: _level(g, principal, groups) for kb, g in grants.items()}
    return {kb: level for kb, level in levels.items() if level is not None}


_REFUSED = {
    "write": "You may read this knowledge base but not change its documents",
    "manage": "Only its managers and tenant admins may rename this knowledge base, change "
    "its access or delete it",
}


def _no_kb(kb_id: str, param: str) -> NotFound:
    """The same 404 for a KB that does not exist and one the caller may not read."""
    return refused(
        NotFound,
        "kb_not_found",
        "No knowledge base with id '{id}'",
        param=param,
        id=untrusted.field(kb_id),
    )


def get_kb(session: Session, principal: Principal, kb_id: str, need: str = "read") -> KnowledgeBase:
    """The KB if the caller holds ``need`` on it: 404 without read, 403 without ``need``."""
    if need not in _RANK:
        raise ValueError(f"unknown access level {need!r}")
    level = access_levels(session, principal, [kb_id]).get(kb_id)
    if level is None:
        raise _no_kb(kb_id, "kb_id")
    if not at_least(level, need):
        raise refused(
            PermissionDenied,
            "kb_read_only" if need == "write" else "kb_managers_only",
            _REFUSED[need],
        )
    kb = session.get(KnowledgeBase, kb_id)
    assert kb is not None
    return kb


def level_of(session: Session, principal: Principal, kb_id: str) -> str | None:
    """The caller's level on one KB (None: may not read it), for views that show controls."""
    return access_levels(session, principal, [kb_id]).get(kb_id)


def readable_kbs(session: Session, principal: Principal, kb_ids: list[str]) -> list[str]:
    """The named KBs, all of which the caller must be able to read (else 404 names the first)."""
    levels = access_levels(session, principal, kb_ids)
    for kb_id in kb_ids:
        if kb_id not in levels:
            raise _no_kb(kb_id, "knowledge_bases")
    return list(dict.fromkeys(kb_ids))


def create_kb(
    session: Session,
    principal: Principal,
    name: str,
    description: str = "",
    access: list[dict[str, Any]] | None = None,
    dense: bool = True,
) -> KnowledgeBase:
    require_role(principal, "member")
    name = _free_name(session, principal.tenant_id, name)
    grants = parse_grants(DEFAULT_ACCESS if access is None else access)
    if principal.user_id is not None:  # the creator manages what they made, until removed
        grants.append(("user", principal.user_id, "manage"))
    kb = KnowledgeBase(
        id=new_id("kb_"),
        tenant_id=principal.tenant_id,
        name=name,
        description=description,
        dense=dense,
        created_by=principal.user_id or principal.key_id,
        index_version=0,
    )
    session.add(kb)
    session.flush()
    _write_grants(session, kb, grants)
    return kb


def _free_name(session: Session, tenant_id: str, name: str, kb_id: str | None = None) -> str:
    """The name stripped, if no other KB of the tenant has it (409: names are unique)."""
    name = name.strip()
    if not name or len(name) > 200:
        raise refused_value(
            "name_length",
            "A knowledge base needs a name of {min_length} to {max_length} characters",
            param="name",
            min_length=1,
            max_length=200,
        )
    holder = session.scalar(
        select(KnowledgeBase.id).where(
            KnowledgeBase.tenant_id == tenant_id, KnowledgeBase.name == name
        )
    )
    if holder is not None and holder != kb_id:
        raise refused(
            Conflict,
            "kb_name_taken",
            "A knowledge base named '{name}' already exists",
            param="name",
            name=name,
        )
    return name


def _write_grants(session: Session, kb: KnowledgeBase, grants: list[tuple[str, str, str]]) -> None:
    session.execute(delete(KbAccess).where(KbAccess.kb_id == kb.id))
    best: dict[tuple[str, str], str] = {}
    for kind, subject, level in grants:
        if _RANK[level] > _RANK.get(best.get((kind, subject), ""), -1):
            best[(kind, subject)] = level
    for (kind, subject), level in best.items():
        session.add(
            KbAccess(
                tenant_id=kb.tenant_id, kb_id=kb.id, subject_type=kind, subject=subject, level=level
            )
        )
    session.flush()


def update_kb(
    session: Session,
    principal: Principal,
    kb_id: str,
    name: str | None = None,
    description: str | None = None,
    access: list[dict[str, Any]] | None = None,
) -> KnowledgeBase:
    """Rename, describe or change the access list: each needs ``manage``; the access list
    also an unlimited credential (a grant outlives a limited key and holds none of its limits)."""
    kb = get_kb(session, principal, kb_id, need="manage")
    if access is not None:
        require_unlimited(principal, "change who may use a knowledge base", param="access")
    if name is not None:  # another KB's name was a 500 from the unique index
        kb.name = _free_name(session, kb.tenant_id, name, kb.id)
    if description is not None:
        kb.description = description
    if access is not None:
        _write_grants(session, kb, parse_grants(access))
    session.flush()
    return kb


def list_kbs(session: Session, principal: Principal) -> list[KnowledgeBase]:
    levels = access_levels(session, principal)
    if not levels:
        return []
    return list(
        session.scalars(
            select(KnowledgeBase)
            .where(KnowledgeBase.tenant_id == principal.tenant_id, KnowledgeBase.id.in_(levels))
            .order_by(KnowledgeBase.created_at, KnowledgeBase.id)
        )
    )


def grants_of(session: Session, kb: KnowledgeBase) -> list[dict[str, str]]:
    rows = session.scalars(select(KbAccess).where(KbAccess.kb_id == kb.id).order_by(KbAccess.id))
    return [{r.subject_type: r.subject, "access": r.level} for r in rows]


def delete_kb(session: Session, principal: Principal, kb_id: str) -> KnowledgeBase:
    """Delete the KB (documents, chunks and grants go with it by ON DELETE CASCADE); the
    caller removes its folder after the commit."""
    kb = get_kb(session, principal, kb_id, need="manage")
    session.delete(kb)
    session.flush()
    return kb


def find_person(session: Session, principal: Principal, kb_id: str, username: str) -> User:
    """The one person of the KB's organization whose username is exactly ``username``, for
    one of its managers to grant access to.

    A manager who is not an administrator may not list the organization's people
    (``/api/users`` is for administrators), so they name someone they know by username and
    learn that person's id and username only: no list, no prefix search, no other names.
    Anyone who may change the access list must be able to name its subjects; an exact name
    tells them nothing beyond whether that person is in their organization. A key that may
    not change the access list (one limited to models, a rate or a date) may not name its
    subjects either: it would learn the organization's people and serve no grant."""
    require_unlimited(principal, "look people up to grant access", param="username")
    kb = get_kb(session, principal, kb_id, need="manage")
    wanted = username.strip()
    user = session.scalar(
        select(User).where(User.tenant_id == kb.tenant_id, User.username == wanted)
    )
    if user is None or not wanted:
        raise refused(
            NotFound,
            "username_not_found",
            "No one in this organization has the username '{username}'",
            param="username",
            username=untrusted.field(wanted),
        )
    return user


def kb_view(session: Session, kb: KnowledgeBase, level: str | None = None) -> dict[str, Any]:
    """The KB as the API shows it; with ``level``, also the caller's own (``my_access``),
    so a client knows which controls will work."""
    view = {
        "id": kb.id,
        "object": "knowledge_base",
        "name": kb.name,
        "description": kb.description,
        "dense": kb.dense,
        "access": grants_of(session, kb),
        "created_at": unix_time(kb.created_at),
    }
    if level is not None:
        view["my_access"] = level
    return view
