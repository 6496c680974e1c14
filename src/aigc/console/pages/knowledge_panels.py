"""Console: the knowledge-base page's "test retrieval" and "access" tabs.

Each panel is a self-contained component with its own state and its own API calls, split from
the page (``knowledge``), which only places them in its tabs.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from nicegui import ui

from aigc.console import layout
from aigc.console.api import ApiError
from aigc.console.pages.knowledge_common import LEVELS, ROLES, SEARCH_MODES, chunk_url, with_testid
from aigc.console.session import ConsoleUser


class SearchPanel:
    """Try retrieval as chat would: ranked chunks with their scores, each linked to the viewer."""

    def __init__(self, user: ConsoleUser, kb_id: str, base: str) -> None:
        self.user, self.kb_id, self.base = user, kb_id, base
        self.results: ui.column

    def build(self) -> None:
        tr = self.user.tr
        with ui.row().classes("w-full items-end gap-2"):
            self.query = (
                ui.input(tr("kb.search.query"))
                .props('outlined clearable data-testid="search-query"')
                .classes("grow")
                .on("keydown.enter", self.search)
            )
            self.mode = (
                ui.select(
                    {m: tr(f"kb.search.mode.{m}") for m in SEARCH_MODES},
                    value="hybrid",
                    label=tr("kb.search.mode"),
                )
                .props('outlined data-testid="search-mode"')
                .classes("w-40")
            )
            self.top_k = (
                ui.number(tr("kb.search.top_k"), value=5, min=1, max=50, step=1)
                .props('outlined data-testid="search-top-k"')
                .classes("w-28")
            )
            ui.button(tr("kb.search.run"), icon="search", on_click=self.search).props(
                'color=primary data-testid="search-run"'
            )
        self.results = ui.column().classes("w-full gap-2").props('aria-live="polite"')

    async def search(self) -> None:
        tr = self.user.tr
        text = (self.query.value or "").strip()
        if not text:  # say why nothing happens, and where to type
            ui.notify(tr("kb.search.missing"), type="warning")
            self.query.run_method("focus")
            return
        body = {"query": text, "mode": self.mode.value, "top_k": int(self.top_k.value or 5)}
        try:
            hits = (await self.user.api.post(f"{self.base}/search", body))["data"]
        except ApiError as exc:
            layout.show_error(self.user, exc)
            return
        self.results.clear()
        with self.results:
            if not hits:
                ui.label(tr("kb.search.none")).props('data-testid="search-none"')
            for rank, hit in enumerate(hits, 1):
                with with_testid(ui.card().classes("w-full").props("flat bordered"), "search-hit"):
                    with ui.row().classes("items-center gap-3"):
                        ui.label(f"#{rank}").classes("font-bold")
                        ui.label(tr("kb.search.score", score=f"{hit['score']:.4f}")).props(
                            'data-testid="hit-score"'
                        )
                        parts = [
                            tr("kb.search.dense", score=f"{hit['dense_score']:.3f}")
                            if hit["dense_score"] is not None
                            else "",
                            tr("kb.search.meaning", score=f"{hit['meaning_score']:.3f}")
                            if hit.get("meaning_score") is not None
                            else "",
                            tr("kb.search.keyword", score=f"{hit['keyword_score']:.3f}"),
                        ]
                        ui.label(" · ".join(p for p in parts if p)).classes("text-sm text-grey-7")
                        ui.link(
                            hit["filename"],
                            chunk_url(hit["knowledge_base"], hit["document"], hit["chunk_id"]),
                        ).props('data-testid="hit-open"')
                    if hit["headings"]:
                        ui.label(" › ".join(hit["headings"])).classes("text-sm text-grey-8")
                    ui.label(hit["text"]).classes("whitespace-pre-wrap text-sm")


class AccessPanel:
    """The KB's grants: read, write or manage for a role (and every higher one), a group or a
    user. ``writable``: the caller may change the list (they hold ``manage``)."""

    def __init__(self, user: ConsoleUser, kb: dict[str, Any], writable: bool) -> None:
        self.user, self.kb, self.writable = user, kb, writable
        self.grants: list[dict[str, str]] = [dict(g) for g in kb.get("access", [])]
        self.names: dict[str, dict[str, str]] = {
            "role": {r: user.tr(f"kb.role.{r}") for r in ROLES}
        }
        self.area: ui.column

    async def build(self) -> None:
        tr = self.user.tr
        ui.label(tr("kb.access.hint")).classes("text-sm text-grey-8")
        await self._load_names()
        self.area = ui.column().classes("w-full gap-1")
        self._render()
        if self.writable:
            self._add_row()
            ui.button(tr("common.save"), icon="save", on_click=self.save).props(
                'color=primary data-testid="access-save"'
            )

    async def _load_names(self) -> None:
        """Groups (every member may list them) and, for administrators, users (their names
        are for administrators only): to name the grants and, for who may change them, to
        pick from; a list the caller may not read leaves typing an id."""
        lists = [("group", "/api/groups", "name")]
        if self.user.is_admin:
            lists.append(("user", "/api/users", "username"))
        for kind, path, field in lists:
            try:
                rows = (await self.user.api.get(path))["data"]
            except ApiError:
                rows = []
            self.names[kind] = {r["id"]: r.get(field) or r["id"] for r in rows}

    def _shown(self, kind: str, subject: str) -> str:
        """Who a grant names, as this person may know them: an id means nothing to a member,
        and another user's name is not theirs to see (``/api/users`` is for administrators),
        so a user grant reads "you" for their own, the username for someone they named here
        and "a member" for anyone else's."""
        if kind != "user" or self.user.is_admin:
            return self.names.get(kind, {}).get(subject, subject)
        if subject == self.user.principal.user_id:
            return self.user.tr("kb.access.you")
        return self.names.get("user", {}).get(subject) or self.user.tr("kb.access.someone")

    def _by_username(self, kind: str) -> bool:
        """A manager who is not an administrator names a person by exact username: they may
        not list the organization's people (``bases.find_person`` says why this is safe)."""
        return kind == "user" and not self.user.is_admin

    async def _find(self, username: str) -> str | None:
        """The id of the person with exactly this username, remembered with their name for
        the grant's row; None (and a message) when there is none."""
        wanted = username.strip()
        if not wanted:
            return None
        path = f"/api/kb/{quote(self.kb['id'], safe='')}/people"
        try:
            person = await self.user.api.get(path, username=wanted)
        except ApiError as exc:
            if exc.status == 404:
                ui.notify(self.user.tr("kb.access.no_such_person", name=wanted), type="warning")
            else:
                layout.show_error(self.user, exc)
            return None
        self.names.setdefault("user", {})[person["id"]] = person["username"]
        return str(person["id"])

    def _subject(self, grant: dict[str, str]) -> tuple[str, str]:
        kind = next(k for k in ("role", "group", "user") if k in grant)
        return kind, grant[kind]

    def _render(self) -> None:
        tr = self.user.tr
        self.area.clear()
        with self.area:
            if not self.grants:
                ui.label(tr("kb.access.none")).props('data-testid="access-none"')
            for n, grant in enumerate(self.grants):
                kind, subject = self._subject(grant)
                shown = self._shown(kind, subject)
                with with_testid(ui.row().classes("items-center gap-3"), "grant-row"):
                    ui.label(tr(f"kb.access.{kind}")).classes("w-20 text-grey-8")
                    ui.label(shown).classes("w-48 font-medium")
                    ui.label(tr(f"kb.access.level.{grant['access']}"))
                    if self.writable:
                        ui.button(icon="close", on_click=lambda i=n: self._remove(i)).props(
                            f'flat round dense aria-label="{tr("kb.access.remove")}" '
                            'data-testid="grant-remove"'
                        )

    def _remove(self, index: int) -> None:
        del self.grants[index]
        self._render()

    def _add_row(self) -> None:
        tr = self.user.tr
        kinds = {k: tr(f"kb.access.{k}") for k in ("role", "group", "user")}
        levels = {lv: tr(f"kb.access.level.{lv}") for lv in LEVELS}
        with ui.row().classes("items-end gap-2"):
            kind = (
                ui.select(kinds, value="role", label=tr("kb.access.kind"))
                .props('outlined data-testid="grant-kind"')
                .classes("w-32")
            )
            subject = (
                ui.select(
                    self.names["role"],
                    value="viewer",
                    label=tr("kb.access.subject"),
                    with_input=True,
                    new_value_mode="add-unique",
                )
                .props('outlined data-testid="grant-subject"')
                .classes("w-56")
            )
            level = (
                ui.select(levels, value="read", label=tr("kb.access.level"))
                .props('outlined data-testid="grant-level"')
                .classes("w-32")
            )

            username = (
                ui.input(tr("kb.access.username"))
                .props('outlined data-testid="grant-username"')
                .classes("w-56")
            )
            username.set_visibility(False)

            def kind_changed() -> None:
                subject.set_options(self.names.get(kind.value, {}), value=None)
                by_username = self._by_username(kind.value)
                subject.set_visibility(not by_username)
                username.set_visibility(by_username)

            kind.on_value_change(kind_changed)

            async def add_grant() -> None:
                if self._by_username(kind.value):
                    who = await self._find(username.value or "")
                    if who is None:
                        return
                    username.value = ""
                elif subject.value:
                    who = subject.value
                else:
                    return
                self.grants.append({kind.value: who, "access": level.value})
                self._render()

            username.on("keydown.enter", add_grant)

            ui.button(tr("kb.access.add"), icon="add", on_click=add_grant).props(
                'outline data-testid="grant-add"'
            )

    async def save(self) -> None:
        base = f"/api/kb/{quote(self.kb['id'], safe='')}"
        try:
            kb = await self.user.api.patch(base, {"access": self.grants})
        except ApiError as exc:
            layout.show_error(self.user, exc)
            return
        self.grants = [dict(g) for g in kb["access"]]
        self._render()
        ui.notify(self.user.tr("kb.access.saved"), type="positive")
