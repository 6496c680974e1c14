"""Images page: generate with a seed, see the signed gallery, download, interpolate, and a
prompt the organization's policy refuses.

The image model is the cheapest real one: ``aigc train vae`` on the built-in digits with 100
steps (a couple of seconds of training), queued by the CLI against the live server's data
directory and run by the server's own job runner. The test uses its own organization, so its
model and its guard policy touch no other test.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import time

import pytest
from playwright.sync_api import expect

from tests.e2e.console.conftest import add_user, shot
from tests.e2e.server import Org, Server, make_org

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BLOCKED_WORD = "forbidden-glyph"


@pytest.fixture(scope="module")
def images_org(server: Server) -> Org:
    return make_org(server, f"Images Org {secrets.token_hex(3)}")


@pytest.fixture(scope="module")
def vae_model(server: Server, images_org: Org) -> str:
    """A tiny VAE trained for this organization through the image training command."""
    name = f"vae-console-{secrets.token_hex(3)}"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "aigc.cli",
            "train",
            "vae",
            "--data",
            "digits",
            "--name",
            name,
            "-p",
            "steps=100",
            "--tenant",
            images_org.id,
            "--detach",
        ],
        env=server.env,
        check=True,
        timeout=120,
        capture_output=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        model = server.api("GET", f"/v1/models/{name}", key=images_org.admin_key).json()
        if model.get("status") == "ready":
            break
        assert model.get("status") != "failed", model
        time.sleep(0.5)
    else:
        pytest.fail(f"{name} was not trained within 120 s")
    # The organization's policy refuses one word, for this model only.
    policy = (
        "name: console-images\nrules:\n"
        f"  - {{id: glyph, stage: input, detector: keywords, words: [{BLOCKED_WORD}], "
        f"action: block, message: No glyphs today., scope: {{models: [{name}]}}}}\n"
    )
    response = server.api("POST", "/api/policies", key=images_org.admin_key, json={"yaml": policy})
    assert response.status_code in (200, 201), response.text
    return name


def _pick(page, test_id: str, option: str) -> None:
    page.get_by_test_id(test_id).click()
    page.get_by_role("option", name=option, exact=True).click()


def test_generate_verify_download_interpolate_and_refusal(
    new_page, server: Server, images_org: Org, vae_model: str
) -> None:
    member = add_user(server, images_org, "member")
    page = new_page(member, path="/images")
    _pick(page, "img-model", vae_model)
    page.get_by_test_id("img-prompt").fill("a handwritten seven")
    page.get_by_test_id("img-n").fill("2")
    page.get_by_test_id("img-seed").fill("42")
    _pick(page, "img-size", "64x64")
    # The walk's classes, seed and length are typed before generating: what a user types in the
    # interpolation panel must survive the gallery (and the panel's image lists) changing.
    typed = {"start-label": "7", "end-label": "1", "end-seed": "3", "steps": "5"}
    for field, value in typed.items():
        page.get_by_test_id(f"interp-{field}").fill(value)
    page.get_by_test_id("img-generate").click()

    items = page.get_by_test_id("gallery-item")
    expect(items).to_have_count(2, timeout=60_000)
    badges = page.get_by_test_id("provenance")
    expect(badges).to_have_count(2)
    for badge in badges.all():
        expect(badge).to_have_attribute("data-valid", "true")
        expect(badge).to_contain_text(f"Signed by this server · {vae_model} · ")

    with page.expect_download() as download_info:
        items.first.get_by_test_id("img-download").click()
    download = download_info.value
    assert download.suggested_filename == f"{vae_model}-1.png"
    with open(download.path(), "rb") as png:
        assert png.read(8) == PNG_SIGNATURE

    # Interpolate from the second gallery image (encoded by the VAE) to a seeded class 1.
    _pick(page, "interp-start-image", "Generated image 2")
    for field, value in typed.items():  # still what was typed before the gallery changed
        expect(page.get_by_test_id(f"interp-{field}")).to_have_value(value)
    page.get_by_test_id("interp-run").click()
    position = page.get_by_test_id("interp-step")
    expect(position).to_have_text("Step 1 of 5", timeout=60_000)
    frame = page.get_by_test_id("interp-frame").locator("img")

    def shown() -> str:
        """The frame's newest image (QImg keeps the old one beside it until the new loads)."""
        sources = frame.evaluate_all("images => images.map(image => image.getAttribute('src'))")
        return str(sources[-1]) if sources else ""

    first_frame = shown()
    slider = page.get_by_test_id("interp-slider")
    expect(slider).to_have_attribute("aria-valuemax", "4")
    slider.locator("[tabindex='0']").focus()  # QSlider's keyboard target is its track
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(position).to_have_text("Step 3 of 5")
    deadline = time.monotonic() + 10
    while shown() == first_frame:  # the slider moved: another frame of the walk is shown
        assert time.monotonic() < deadline, "the interpolation frame did not change"
        time.sleep(0.05)
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "images")

    # A refused prompt: the policy's own words, in place, and nothing added to the gallery.
    page.get_by_test_id("img-prompt").fill(f"draw a {BLOCKED_WORD}")
    page.get_by_test_id("img-generate").click()
    expect(page.get_by_test_id("img-refused")).to_contain_text("No glyphs today.")
    expect(items).to_have_count(2)

    # In Chinese: the same page, translated, generating one image.
    page.get_by_test_id("lang-zh-CN").click()
    page.wait_for_url(re.compile(r"/images$"))
    expect(page.get_by_test_id("img-generate")).to_contain_text("生成")
    _pick(page, "img-model", vae_model)
    page.get_by_test_id("img-prompt").fill("手写的数字三")
    page.get_by_test_id("img-n").fill("1")
    page.get_by_test_id("img-generate").click()
    expect(page.get_by_test_id("provenance")).to_contain_text("本服务器签名", timeout=60_000)
    shot(page, "images-zh")


def test_a_member_without_image_models_is_not_told_to_run_a_server_command(
    new_page, server: Server
) -> None:
    """The empty page told every member to run `aigc train vae ...`, a command on the server
    that only its operator can run; a member is sent to an administrator."""
    org = make_org(server, f"No Images {secrets.token_hex(3)}")
    page = new_page(add_user(server, org, "member"), lang="zh-CN", path="/images")
    empty = page.get_by_test_id("img-no-models")
    expect(empty).to_have_text("您的组织还没有可用的图像模型，请联系管理员添加。")
