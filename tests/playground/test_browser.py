"""The playground in a real headless browser: Debian's chromium driven by Playwright (never a browser
download), against ``run_playground`` on 127.0.0.1 — the real bot, the Bot API emulator and the page."""

from __future__ import annotations

import asyncio
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from kiroclaw.playground import demo_package_path, run_playground
from tests.conftest import write_skill

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _need_browser() -> None:
    if not os.path.exists(CHROMIUM):
        message = "Debian's chromium is not installed (bash .ci/setup.d/browser.sh)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def _zipped_skill(folder: Path) -> Path:
    skill = write_skill(folder, "uploaded-skill", "A skill that arrived as a zip file from the browser.")
    archive = folder / "uploaded-skill.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(skill.rglob("*")):
            zf.write(path, path.relative_to(folder).as_posix())
    return archive


async def test_playground_in_a_browser(tmp_path: Path) -> None:
    _need_browser()
    from playwright.async_api import async_playwright, expect

    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(
        run_playground(port=0, workspace=tmp_path / "pg", stop=stop, on_ready=ready.set_result)
    )
    try:
        url = await asyncio.wait_for(asyncio.shield(ready), 60)
        assert url.startswith("http://127.0.0.1:")
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                page = await browser.new_page(viewport={"width": 900, "height": 1000})
                await page.goto(url)
                chat = page.locator("#chat")

                async def say(text: str) -> None:
                    await page.fill("#text", text)
                    await page.click("#send-button")

                # Bob is the new user: /start, then install the demo package from its local folder
                await page.select_option("#user", "1002")
                await say("/start")
                await expect(chat).to_contain_text("Hi Bob! I connect you to your own coding agent.", timeout=20_000)
                await say(f"/addon install {demo_package_path()}")
                await expect(chat).to_contain_text("Installed demo-package", timeout=30_000)
                await say("/skills")
                await expect(chat).to_contain_text("📦 demo-package (4): code-review, commit-message", timeout=20_000)

                # a button: remove asks first, tapping "Remove" removes it
                await say("/addon remove demo-package")
                button = page.get_by_role("button", name="Remove")
                await expect(button).to_be_visible(timeout=20_000)
                await button.click()
                await expect(chat).to_contain_text("Removed demo-package", timeout=20_000)

                # a file: a zipped skill sent with the caption /addon install is installed
                archive = _zipped_skill(tmp_path / "upload")
                await page.set_input_files("#file", str(archive))
                await page.fill("#text", "/addon install")
                await page.click("#send-button")
                await expect(chat).to_contain_text("Installed uploaded-skill", timeout=30_000)

                # the (stand-in) agent streams a formatted reply
                await say("hello from the browser")
                reply = chat.locator(".msg.bot").last
                await expect(reply).to_contain_text("Stand-in agent", timeout=30_000)
                await expect(reply).to_contain_text("uploaded-skill", timeout=30_000)
                assert await reply.locator("b").count() >= 1, "Markdown was not rendered as formatting"

                # Alice already has the demo package
                await page.select_option("#user", "1001")
                await say("/addon list")
                await expect(chat).to_contain_text("demo-package", timeout=20_000)
                await page.select_option("#user", "1002")
                await expect(chat).to_contain_text("Removed demo-package")
                shot = tmp_path / "playground.png"
                await page.screenshot(path=str(shot), full_page=True)
                assert shot.stat().st_size > 10_000
                if os.environ.get("KIROCLAW_SCREENSHOT"):
                    shutil.copy(shot, os.environ["KIROCLAW_SCREENSHOT"])
            finally:
                await browser.close()
    finally:
        stop.set()
        await asyncio.wait_for(server, 30)
    assert not (tmp_path / "pg").exists() or (tmp_path / "pg" / "workspaces").is_dir()
