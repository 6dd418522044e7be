"""The documentation site as a reader sees it: built with ``mkdocs build --strict``, every
page of both languages opened in headless Chromium (tests/browser.py; skipped, saying
why, where Chromium, chromedriver or Selenium is missing).  A page fails on what the
Markdown pipeline let through raw: TeX (``$$``, ``\\frac``, a formula KaTeX could not
typeset), a Sphinx role from a docstring (``:func:``), an image that does not load, or a
missing language switch to its twin.

Each page's top is saved as a screenshot in the test's temporary directory (the failure
message names it).  With ``SCRATCHCNN_DOCS_SCREENSHOTS=DIR`` they go to DIR, with one
more of each figure and of the first display formula scrolled into view: look at them
after changing a figure, a formula or the site's styles."""

from __future__ import annotations

import functools
import http.server
import os
import pathlib
import re
import sys
import threading
import time

import pytest

from browser import headless_chromium

ROOT = pathlib.Path(__file__).parent.parent
DOCS = ROOT / "docs"
STEMS = sorted(p.name.removesuffix(".md") for p in DOCS.glob("*.md")
               if not p.name.endswith(".ja.md"))
LANGUAGES = ("en", "ja")

#: what must not be left in a page's text once code blocks and typeset formulas are taken
#: out: TeX for KaTeX, reStructuredText roles for mkdocstrings
RAW = {
    "TeX": re.compile(r"\$\$|\\\(|\\\[|\\(?:frac|sum|cdot|times|lfloor|rfloor|sqrt|partial|"
                      r"mathrm|text|left|right)\b|(?<![\w$])\$[^\s$][^$\n]*\$"),
    "a Sphinx role": re.compile(r":(?:py:)?(?:func|meth|class|mod|data|attr|exc|obj|const):"),
}

#: the page's state, once its images have loaded and its formulas are typeset
STATE = """
const article = document.querySelector("article") || document.body;
const text = article.cloneNode(true);
text.querySelectorAll("pre, code, .katex, script, style").forEach(e => e.remove());
return {
  lang: document.documentElement.lang,
  text: text.textContent,
  images: [...article.querySelectorAll("img")].map(
      i => ({src: i.getAttribute("src"), complete: i.complete, width: i.naturalWidth})),
  katexErrors: [...article.querySelectorAll(".katex-error")].map(e => e.title || e.textContent),
  untypeset: [...article.querySelectorAll(".arithmatex")].filter(e => !e.querySelector(".katex"))
      .map(e => e.textContent),
  switches: [...document.querySelectorAll("a.md-select__link[hreflang]")].map(
      a => [a.hreflang, new URL(a.href).pathname]),
};
"""


def _path(stem: str, lang: str) -> str:
    """The page's URL path: /pooling/, /ja/pooling/, / and /ja/ for the index."""
    prefix = "/ja/" if lang == "ja" else "/"
    return prefix if stem == "index" else f"{prefix}{stem}/"


@pytest.fixture(scope="module")
def site(built_site):
    """The site built strictly (conftest's ``built_site``) served on 127.0.0.1: its base
    URL."""
    out = built_site

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(out)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> pathlib.Path:
    chosen = os.environ.get("SCRATCHCNN_DOCS_SCREENSHOTS")
    folder = pathlib.Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _settle(driver, seconds: float = 20) -> dict:
    """Open every collapsed answer, then wait until the images are in and KaTeX has run."""
    driver.execute_script("document.querySelectorAll('article details')"
                          ".forEach(d => d.open = true)")
    deadline = time.monotonic() + seconds
    while True:
        state = driver.execute_script(STATE)
        loading = [i for i in state["images"] if not i["complete"]]
        if (not loading and not state["untypeset"]) or time.monotonic() > deadline:
            return state
        time.sleep(0.05)


def _shoot(driver, folder: pathlib.Path, name: str, selector: str | None = None,
           index: int = 0) -> None:
    if selector:
        driver.execute_script(f"document.querySelectorAll({selector!r})[{index}]"
                              ".scrollIntoView({block: 'center'})")
    else:
        driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(folder / f"{name}.png"))


@pytest.mark.slow
@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_page_renders_in_a_browser(site, screenshots, lang):
    problems = []
    with headless_chromium(lang=lang, size=(1280, 900)) as driver:
        for stem in STEMS:
            path = _path(stem, lang)
            driver.get(site + path)
            state = _settle(driver)
            name = f"{stem}.{lang}"
            _shoot(driver, screenshots, name)
            if os.environ.get("SCRATCHCNN_DOCS_SCREENSHOTS"):
                for k, _ in enumerate(state["images"]):
                    _shoot(driver, screenshots, f"{name}.figure{k}", "article img", k)
                if driver.execute_script("return document.querySelector('.katex-display')"):
                    _shoot(driver, screenshots, f"{name}.maths", ".katex-display")

            said = []
            if state["lang"] != lang:
                said.append(f'<html lang="{state["lang"]}">')
            for what, pattern in RAW.items():
                said += [f"raw {what}: …{state['text'][max(m.start() - 30, 0):m.end() + 30]!r}…"
                         for m in pattern.finditer(state["text"])]
            said += [f"KaTeX could not typeset: {e}" for e in state["katexErrors"]]
            said += [f"not typeset: {t[:60]!r}" for t in state["untypeset"]]
            said += [f"image {i['src']} did not load" for i in state["images"]
                     if not i["complete"] or i["width"] == 0]
            twin = _path(stem, "ja" if lang == "en" else "en")
            if [twin] != [p for hreflang, p in state["switches"] if hreflang != lang]:
                said.append(f"no language switch to {twin}: {state['switches']}")
            problems += [f"{path}: {s}" for s in said]
    assert not problems, "\n".join(problems) + f"\n(screenshots in {screenshots})"


def test_the_docstrings_restructuredtext_becomes_markdown():
    """docs/sphinx_roles.py, which the API page relies on (fast: no browser)."""
    griffe = pytest.importorskip("griffe")
    sys.path.insert(0, str(DOCS))
    try:
        import sphinx_roles
    finally:
        sys.path.remove(str(DOCS))
    loader = griffe.GriffeLoader(search_paths=[str(ROOT / "src")])
    loader.load("scratchcnn")
    conv = loader.modules_collection["scratchcnn.layers.conv.Conv2d.fuses_with"]
    text = ("Whether :meth:`forward_fused` runs, a :class:`~scratchcnn.model.Sequential`,\n"
            "(*, in_features) -> (N, C*H*W); the *unbiased* one; ``a*b`` and `:func:`\n"
            "formula::\n\n    out = a*b\n\n>>> 2*3\n6")
    out = sphinx_roles.rewrite(text, conv, loader)
    assert '<autoref identifier="scratchcnn.layers.conv.Conv2d.forward_fused" optional>' \
        '<code>forward_fused()</code></autoref>' in out
    assert '<autoref identifier="scratchcnn.model.Sequential" optional>' \
        "<code>Sequential</code></autoref>" in out
    assert r"(\*, in_features)" in out and r"C\*H\*W" in out and "*unbiased*" in out
    assert "``a*b``" in out and "`:func:`" in out  # code is left alone
    assert "formula:\n\n    out = a*b\n\n>>> 2*3\n6" in out
    assert not RAW["a Sphinx role"].search(out.replace("`:func:`", ""))
