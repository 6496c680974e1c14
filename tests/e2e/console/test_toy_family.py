"""The console's training form is built from ``GET /api/families``: a family the server loads
from ``AIGC_FAMILY_MODULES`` (the test-only bigram family) is offered with its own parameters
and defaults, and trains from the form, with no console change."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.console.conftest import add_user, shot, sign_in
from tests.e2e.server import Server, make_org, new_admin_key

CORPUS = "the help desk opens at nine.\nthe printer is on the third floor.\n" * 20


@pytest.fixture(scope="module")
def toy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("toy-console") / "data"
    server = Server(data, new_admin_key(), AIGC_FAMILY_MODULES="tests.models.toy_family")
    yield server.start()
    server.stop()


def test_the_training_form_offers_the_toy_family_and_trains_it(
    browser: Any, toy_server: Server, tmp_path: Path
) -> None:
    org = make_org(toy_server, "Toy Console Org")
    member = add_user(toy_server, org, "member")
    context = browser.new_context(base_url=toy_server.base_url, locale="en")
    context.set_default_timeout(20_000)
    try:
        page = context.new_page()
        sign_in(page, member, "/training")
        page.get_by_test_id("param-n_layer").wait_for()  # the first family (gpt) is shown
        page.get_by_test_id("train-family").click()
        page.get_by_role("option", name="toy", exact=True).click()
        smoothing = page.get_by_test_id("param-smoothing")
        smoothing.wait_for()
        assert smoothing.input_value() == "0.5"  # the default from the family's schema
        assert page.get_by_test_id("param-max_chars").input_value() == "80"
        assert page.get_by_test_id("param-n_layer").is_hidden()  # gpt's fields are not toy's

        data = tmp_path / "desk.txt"
        data.write_text(CORPUS, encoding="utf-8")
        page.get_by_test_id("upload").locator("input[type=file]").set_input_files(str(data))
        page.get_by_test_id("train-files").get_by_text("desk.txt").wait_for()
        page.get_by_test_id("train-name").fill("desk")
        page.get_by_test_id("param-max_chars").fill("20")
        page.get_by_test_id("train-start").click()
        page.get_by_test_id("job-title").filter(has_text="toy-desk").wait_for()
        page.get_by_test_id("job-status").filter(has_text="succeeded").wait_for(timeout=60_000)
        shot(page, "training-toy")
    finally:
        context.close()
    deadline = time.monotonic() + 10
    while True:
        models = toy_server.api("GET", "/api/models", key=org.member_key).json()["data"]
        toy = next((m for m in models if m["id"] == "toy-desk"), None)
        if toy is not None and toy["status"] == "ready":
            break
        assert time.monotonic() < deadline, toy
        time.sleep(0.2)
    body = {
        "model": "toy-desk",
        "messages": [{"role": "user", "content": "the"}],
        "max_tokens": 200,
        "temperature": 0,
    }
    answer = toy_server.api("POST", "/v1/chat/completions", key=org.member_key, json=body)
    text = answer.json()["choices"][0]["message"]["content"]
    assert 0 < len(text) <= 20  # the form's max_chars reached the job
