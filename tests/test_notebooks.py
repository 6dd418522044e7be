"""The notebooks: every page whose front matter says ``notebook: true`` is also a Jupyter
notebook in its language, made from the page by docs/hooks/notebooks.py when the site is
built; the page links it, and it runs top to bottom on a fresh kernel in an empty
directory."""

import doctest
import importlib.util
import os
import pathlib
import shutil
import sys

import pytest
from test_docs_site import NOT_RUN, sessions

pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")

ROOT = pathlib.Path(__file__).parent.parent
DOCS = ROOT / "docs"
_spec = importlib.util.spec_from_file_location("notebooks_hook", DOCS / "hooks" / "notebooks.py")
hook = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hook)

PAGES = [p for p in sorted(DOCS.glob("*.md")) if hook.is_notebook(p)]
TEACHING = ("tutorial", "convolution", "pooling", "cnn-vs-fc", "output-size", "filter-size")


def _stem(page: pathlib.Path) -> str:
    return page.name.removesuffix(".md").removesuffix(".ja")


def test_the_teaching_pages_are_notebooks_in_both_languages():
    names = {p.name for p in PAGES}
    assert {f"{s}.md" for s in TEACHING} | {f"{s}.ja.md" for s in TEACHING} <= names
    for page in PAGES:  # a page and its twin are notebooks together
        assert {f"{_stem(page)}.md", f"{_stem(page)}.ja.md"} <= names, page.name


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_each_page_makes_a_notebook_with_code_and_no_outputs(page):
    nb = hook.notebook(page)
    nbformat.validate(nb)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert code, f"{page.name}: no code cell"
    assert not any(c.outputs for c in nb.cells if c.cell_type == "code")
    assert not any(line.startswith((">>>", "...", "$ ")) for c in code
                   for line in c.splitlines()), f"{page.name}: a prompt left in a cell"
    twin = hook.notebook(DOCS / f"{_stem(page)}.md")  # the same cells in both languages
    assert len(code) == sum(c.cell_type == "code" for c in twin.cells), page.name


def test_the_site_offers_each_page_as_a_notebook(built_site):
    site = built_site
    for page in PAGES:
        folder = site / ("ja" if page.name.endswith(".ja.md") else "") / _stem(page)
        name = page.name.removesuffix(".md") + ".ipynb"
        nb = nbformat.read(folder / name, as_version=4)
        assert any(c.cell_type == "code" for c in nb.cells), name
        assert f'href="{name}"' in (folder / "index.html").read_text("utf-8"), \
            f"{page.name}: the page does not link {name}"
    assert not list(site.glob("*.ipynb")) and len(list(site.rglob("*.ipynb"))) == len(PAGES)


def _screen(text: str) -> str:
    """What a terminal shows of ``text``: `!` runs a command on a pseudo-terminal, where
    a progress bar redraws its line after a carriage return and is cleared when done."""
    lines = text.replace("\r\n", "\n").split("\n")
    return "\n".join(line.rpartition("\r")[2] for line in lines)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_each_notebook_runs_top_to_bottom(page, tmp_path, monkeypatch):
    """On a fresh kernel, in an empty directory, offline; the reader's photo is the page's
    own (the tutorial says: save this one as digit-7.png)."""
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("SCRATCHCNN_OFFLINE", "1")
    monkeypatch.setenv("SCRATCHCNN_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # `!scratchcnn` finds the command installed beside this Python
    monkeypatch.setenv("PATH", os.pathsep.join([os.path.dirname(sys.executable),
                                                os.environ.get("PATH", "")]))
    shutil.copy(DOCS / "figures" / "digit-7.png", tmp_path)
    nb = hook.notebook(page)
    nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    for cell in nb.cells:  # raises CellExecutionError above unless a cell is tagged
        if "raises-exception" in cell.metadata.get("tags", []):
            assert any(o.output_type == "error" for o in cell.outputs), cell.source
    # a failing `!command` raises nothing: its cell must print what the page shows
    shell = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("!")]
    shown = [(c, e) for c, e in sessions(page) if not c.startswith(NOT_RUN)]
    assert len(shell) == len(shown), page.name
    checker, flags = doctest.OutputChecker(), doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    for cell, (command, expected) in zip(shell, shown):
        got = _screen("".join(o.get("text", "") for o in cell.outputs
                              if o.output_type == "stream"))
        assert checker.check_output(expected, got, flags), \
            f"{page.name}: !{command}\nexpected:\n{expected}\ngot:\n{got}"
