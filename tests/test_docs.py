"""The documentation site: `mkdocs build --strict` (a broken link, a page missing from the nav, a bad anchor or an
unresolved API cross-reference fails it), every public name of `hf_notlike.__all__` in the API reference, and
(skipped without Chromium) the built pages opened over HTTP in a headless Chromium: a title, non-empty main content,
every image loaded and no console error."""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from chromium_cdp import Chromium, find_chromium

REPO = Path(__file__).resolve().parents[1]

pytest.importorskip("mkdocs", reason='the docs toolchain is in the test extra: pip install -e ".[test]"')
pytest.importorskip("mkdocstrings_handlers.python", reason='pip install -e ".[test]" (mkdocstrings[python])')

needs_chromium = pytest.mark.skipif(
    find_chromium() is None,
    reason="headless Chromium not found (Debian: `apt-get install -y chromium`; .ci/run installs it)",
)

# (built page, its title (the nav label, then the site name), a phrase its main content must hold)
PAGES = [
    ("index.html", "hf_notlike", "Not all textual instances are alike"),
    ("guides/early_exit.html", "Early-exit inference - hf_notlike", "calibrate_temperatures"),
    ("guides/cartography.html", "Dataset cartography - hf_notlike", "CartographyCallback"),
    ("api/early_exit.html", "Early exit - hf_notlike", "speed_accuracy_curve"),
    ("results/early_exit.html", "Early exit - hf_notlike", "Rotten Tomatoes"),
    ("errors.html", "Errors and guarantees - hf_notlike", "No pickle"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built once with `mkdocs build --strict` from the working tree's `mkdocs.yml` and `docs/`."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_MKDOCS_2_WARNING": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(REPO / "mkdocs.yml"),
         "--site-dir", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout[-4000:]}\n{done.stderr[-6000:]}"
    return out


def test_site_builds_strict_with_every_page(site):
    for page, _, _ in PAGES:
        assert (site / page).stat().st_size > 0, page
    assert (site / "search" / "search_index.json").exists()
    # the results pages show the committed plots
    assert (site / "images" / "early_exit_rt.png").exists()


def test_api_reference_documents_every_public_name(site):
    import hf_notlike

    api = "".join(page.read_text(encoding="utf-8") for page in sorted((site / "api").glob("*.html")))
    missing = [name for name in hf_notlike.__all__ if name != "__version__" and f'id="hf_notlike.{name}"' not in api]
    assert missing == [], f"public names without an entry in docs/api/: {missing}"
    # transformers-style [`Name`] references in docstrings become links (docs/griffe_hf_style.py), and prose
    # `Raises:` sections are shown, not dropped
    assert 'href="#hf_notlike.CalibrationResult"' in api
    assert "an unlabelled or untokenized dataset" in api


def test_strict_build_fails_on_a_broken_link(tmp_path):
    """The check itself can fail: a copy of the docs with one dead link does not build."""
    import shutil

    shutil.copytree(REPO / "docs", tmp_path / "docs")
    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    with open(tmp_path / "docs" / "index.md", "a", encoding="utf-8") as page:
        page.write("\nSee [the missing page](no_such_page.md).\n")
    # the API pages need the package: keep only the nav pages that do not, so the check stays fast
    for api_page in (tmp_path / "docs" / "api").glob("*.md"):
        api_page.write_text("# API\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "no_such_page.md" in done.stderr


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def served(site):
    """The built site on http://127.0.0.1:PORT/ (the search worker and fetches need http, not file://)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@needs_chromium
def test_pages_render_in_a_browser_without_console_errors(served):
    with Chromium(width=1280, height=900) as browser:
        for page, title, phrase in PAGES:
            browser.navigate(f"{served}/{page}")
            browser.wait_until("document.readyState === 'complete'")
            assert browser.evaluate("document.title") == title, page
            text = browser.evaluate("(document.querySelector('article') || {}).innerText || ''")
            assert len(text) > 200 and phrase in text, (page, text[:300])
            broken = browser.evaluate(
                "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
            assert broken == [], (page, broken)
            assert browser.console_errors == [], (page, browser.console_errors)
        # the search index loads and answers (the worker runs offline)
        browser.navigate(f"{served}/index.html?q=cartography")
        hits = browser.wait_until("document.querySelectorAll('.md-search-result__item').length", timeout=30)
        assert hits > 0
        assert browser.console_errors == []
