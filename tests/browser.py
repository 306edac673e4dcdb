"""Headless Chromium for tests: open an HTML page from its file and read back what the browser made of it.

    def test_page(chromium):                     # the `chromium` fixture of tests/conftest.py
        images = page_images(chromium, "runs/x/report.html")

Chromium is Debian's (`apt-get install chromium`), driven through Playwright's Python API,
which needs no driver binary matched to the browser's version. Without Chromium the tests
that use it skip, except under CI (CI=true), where a missing browser is a failure.
"""

import os
import pathlib
import shutil

import pytest

# Flags for a machine without a display, GPU or network: no sandbox (tests run as root), nothing
# fetched in the background. Playwright gives each launch a fresh profile (user-data-dir) of its own.
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Per <img>: its src as written in the page, whether loading ended, and its decoded width (0: not an image).
_IMAGES_SCRIPT = ("Array.from(document.images, image => ({src: image.getAttribute('src'), "
                  "complete: image.complete, width: image.naturalWidth}))")


def _missing(reason):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run)")
    pytest.skip(reason)


def launch():
    """A generator yielding a launched Playwright `Browser`, closed after; skips (fails under CI) without one."""
    executable = shutil.which("chromium")
    if executable is None:
        _missing("no chromium on PATH (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (requirements-common.txt)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def page_images(browser, path):
    """[{"src", "complete", "width"}] of every <img> of the page at `path`, once the page has loaded.

    The load event waits for every image to load or fail, so a picture that is missing or does not
    decode reads `width` 0.
    """
    page = browser.new_page()
    try:
        page.goto(pathlib.Path(path).resolve().as_uri(), wait_until="load")
        return page.evaluate(_IMAGES_SCRIPT)
    finally:
        page.close()
