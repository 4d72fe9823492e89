"""Every notebook in a real browser: JupyterLab in headless Chromium (Debian's ``chromium``, driven by playwright).

Each notebook opens unmodified, runs all its cells in the smoke profile without an error output, and its widgets
render as controls; the tokenizer explorer re-tokenizes what is typed and the pass@k sliders redraw. Notebooks added
later are covered by the same test. Without Chromium or playwright the test skips, except where
``CODELLAMA_LITE_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes their absence a failure.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codellama_lite.workbook.runner import list_notebooks

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
NOTEBOOK_SECONDS = 150


def _require_browser() -> None:
    missing = [] if Path(CHROMIUM).is_file() else [CHROMIUM]
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package")
    if missing and os.environ.get("CODELLAMA_LITE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser test required but {' and '.join(missing)} missing")
    if missing:
        pytest.skip(f"{' and '.join(missing)} missing (apt-get install chromium; pip install -e '.[test]')")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server (smoke profile) over a copy of the notebooks; yields its base URL, token and folder."""
    _require_browser()
    root = tmp_path_factory.mktemp("lab")
    for path in list_notebooks():
        shutil.copy(path, root / path.name)
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "CODELLAMA_LITE_PROFILE": "smoke", "JUPYTER_CONFIG_DIR": str(root / ".jupyter"),
           "JUPYTER_RUNTIME_DIR": str(root / ".runtime")}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
         "--allow-root",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(root / "server.log", "w"))
    try:
        _wait_for_port(port, server)
        yield f"http://127.0.0.1:{port}", token, root
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_for_port(port: int, server: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {server.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"jupyter lab did not listen on port {port} within {seconds} s")


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


# JavaScript run in the page, through the app JupyterLab exposes (expose_app_in_browser). JS_READY is polled while
# the page loads, so it must not assume the app exists yet (a TypeError ends the wait instead of retrying it).
CURRENT = "window.jupyterapp.shell.currentWidget"
JS_READY = f"() => !!(window.jupyterapp && window.jupyterapp.shell && {CURRENT} && {CURRENT}.context" \
           f" && {CURRENT}.context.isReady && {CURRENT}.sessionContext.session" \
           f" && {CURRENT}.sessionContext.session.kernel && {CURRENT}.sessionContext.session.kernel.status === 'idle')"
JS_DIRTY = f"() => {CURRENT}.context.model.dirty"
JS_RUN_ALL = "() => window.jupyterapp.commands.execute('notebook:run-all-cells')"
JS_DONE = f"""() => {{
    const cells = {CURRENT}.content.widgets.filter(c => c.model.type === 'code');
    return {CURRENT}.sessionContext.session.kernel.status === 'idle'
        && cells.every(c => c.model.executionCount !== null && c.promptNode.textContent.indexOf('*') < 0);
}}"""
JS_ERRORS = f"""() => {CURRENT}.content.widgets.filter(c => c.model.type === 'code').flatMap(c =>
    c.model.outputs.toJSON().filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue))"""


@pytest.mark.slow
@pytest.mark.parametrize("notebook", [path.name for path in list_notebooks()])
def test_notebook_runs_in_jupyterlab(lab, browser, notebook):
    base, token, lab_root = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{base}/lab/tree/{notebook}?token={token}&reset")
        page.wait_for_function(JS_READY, timeout=90_000)
        page.wait_for_timeout(1000)  # let the kernel's language info arrive
        stored = json.loads((lab_root / notebook).read_text(encoding="utf-8"))["metadata"]["language_info"]
        if stored.get("version") == platform.python_version():  # JupyterLab rewrites another Python's version
            assert not page.evaluate(JS_DIRTY), f"{notebook} opens already modified (check its metadata)"
        page.evaluate(JS_RUN_ALL)
        page.wait_for_function(JS_DONE, timeout=NOTEBOOK_SECONDS * 1000, polling=1000)
        errors = page.evaluate(JS_ERRORS)
        assert not errors, f"{notebook}: error outputs {errors}"
        assert page.locator(".jp-OutputArea-output:has-text('Error displaying widget')").count() == 0
        _check_widgets(page, notebook)
    finally:
        page.close()


def _check_widgets(page, notebook: str) -> None:
    """Every widget output is a live control; the chapters' explorers respond to the learner."""
    widget_outputs = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.widget-view+json']")
    for index in range(widget_outputs.count()):
        assert widget_outputs.nth(index).locator(".jupyter-widgets").count() > 0, f"widget {index} did not render"
    if notebook.startswith("01_"):
        _tokenizer_explorer_retokenizes(page)
    if notebook.startswith("06_"):
        _passk_sliders_redraw(page)


def _tokenizer_explorer_retokenizes(page) -> None:
    explorer = page.locator(".widget-vbox:has(textarea)").first
    tokens = explorer.locator(".widget-html-content")
    before = tokens.inner_text()
    explorer.locator("textarea").fill("while True:\n    pass  # typed in the browser\n")
    page.wait_for_function("(before) => document.querySelector('.widget-vbox .widget-html-content').innerText"
                           " !== before", arg=before, timeout=20_000)
    assert "while" in tokens.inner_text() or "▁wh" in tokens.inner_text()
    clipped = explorer.locator(".widget-checkbox").evaluate(
        "box => [box, ...box.querySelectorAll('*')].filter(e => e.scrollWidth > e.clientWidth + 1).length")
    assert clipped == 0, "the checkbox's label is cut off"


def _passk_sliders_redraw(page) -> None:
    interact = page.locator(".widget-interact:has(.widget-hslider)").first
    image = interact.locator(".jp-OutputArea-output img").first
    before = image.get_attribute("src")
    handle = interact.locator(".widget-hslider").nth(2).locator(".noUi-handle")  # k
    handle.focus()
    handle.press("ArrowRight")
    handle.press("ArrowRight")
    page.wait_for_function("(before) => { const img = document.querySelector('.widget-interact .jp-OutputArea-output"
                           " img'); return img && img.getAttribute('src') !== before; }", arg=before,
                           timeout=30_000)
