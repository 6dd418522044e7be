"""Every page that teaches is also a Jupyter notebook, made from the page's own Markdown
each time the site is built and offered for download at the top of the page.

Which pages: those that start with this front matter (the English page and its .ja.md
twin alike; a new page joins by adding the same three lines, nothing else):

    ---
    notebook: true
    ---

What becomes what: a ```python block of doctest examples becomes code cells without the
``>>>`` prompts; each cell ends with an example whose output the page shows, so running
the cell shows that output (nothing is stored: the notebook has no outputs until it is
run). A ```console block becomes a cell of ``!command`` lines, except installs (``pip``),
which stay text. Admonitions become a bold title and their text; figures are attached to
their cells, so a downloaded notebook shows them; ``--8<--`` snippets are inlined.
Everything else is Markdown, and jupytext turns the result into the notebook.

mkdocs-static-i18n builds each language in turn and runs this hook in each build, so the
Japanese page (``page.ja.md``, built under ``ja/``) gets the notebook ``page.ja.ipynb``,
made from its own text. tests/test_notebooks.py runs every notebook with nbclient.
"""

from __future__ import annotations

import base64
import doctest
import json
import mimetypes
import pathlib
import re
import textwrap

import jupytext
from mkdocs.utils.meta import get_data

#: the front-matter key that makes a page a notebook
KEY = "notebook"
#: console commands a notebook shows but does not run (as tests/test_docs_site.py)
NOT_RUN = ("pip ",)
LABEL = {"en": "Download this page as a Jupyter notebook",
         "ja": "このページを Jupyter ノートブックとしてダウンロード"}

FENCE = re.compile(r"^( *)```(\w*)[^\n]*\n(.*?)^\1```[ \t]*$", re.S | re.M)
ADMONITION = re.compile(r'^(?:!!!|\?\?\?\+?) *(\w+)(?: +"([^"]*)")?[ \t]*\n'
                        r"((?:(?:    [^\n]*)?\n)*)", re.M)
SNIPPET = re.compile(r'^--8<-- "([^"]+)"[ \t]*$', re.M)
IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s:]+)\)")


def is_notebook(page: pathlib.Path) -> bool:
    """Whether the page's front matter asks for a notebook."""
    return bool(get_data(page.read_text(encoding="utf-8"))[1].get(KEY))


def _python(source: str, tags: tuple[str, ...] = ()) -> str:
    info = f" tags={json.dumps(list(tags))}" if tags else ""
    return f"```python{info}\n{source.rstrip()}\n```"


def _cells(lang: str, body: str) -> str | None:
    """The jupytext Markdown for one fenced block's code cells (None: it stays text)."""
    body = textwrap.dedent(body)
    if lang == "python":
        cells, source = [], ""
        for example in doctest.DocTestParser().get_examples(body):
            if example.options.get(doctest.SKIP):
                continue
            source += example.source
            if example.want or example.exc_msg is not None:  # the page shows what it gives
                tags = ("raises-exception",) if example.exc_msg is not None else ()
                cells.append(_python(source, tags))
                source = ""
        if source.strip():
            cells.append(_python(source))
        return "\n\n".join(cells)
    if lang == "console":
        commands = [line[2:] for line in body.splitlines() if line.startswith("$ ")]
        if commands and not any(c.startswith(NOT_RUN) for c in commands):
            return _python("\n".join(f"!{c}" for c in commands))
    return None


def _fence(match: re.Match) -> str:
    cells = _cells(match[2], match[3])
    return match[0] if cells is None else cells


def _attach_figures(cell, docs: pathlib.Path) -> None:
    """Put the figures a Markdown cell shows into the cell, so the notebook shows them
    wherever it is opened."""
    def attach(match):
        path = docs / match[2]
        if not path.is_file():
            return match[0]
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        cell.setdefault("attachments", {})[path.name] = {kind: data}
        return f"![{match[1]}](attachment:{path.name})"
    cell.source = IMAGE.sub(attach, cell.source)


def notebook(page: pathlib.Path):
    """The page as a notebook (an nbformat NotebookNode; outputs empty)."""
    docs = page.parent
    text = get_data(page.read_text(encoding="utf-8"))[0]  # without the front matter
    text = SNIPPET.sub(lambda m: (docs / m[1]).read_text(encoding="utf-8").rstrip(), text)
    text = ADMONITION.sub(lambda m: f"**{m[2] or m[1].capitalize()}**\n\n"
                                    f"{textwrap.dedent(m[3])}", text)
    text = FENCE.sub(_fence, text)
    nb = jupytext.reads(text, fmt="md")
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                  "language": "python"},
                   "language_info": {"name": "python"}}
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            _attach_figures(cell, docs)
    return nb


def on_page_content(html, page, config, files, **kwargs):
    """Write the page's notebook beside its HTML and link it under the page's title."""
    if not page.meta.get(KEY):
        return html
    source = pathlib.Path(page.file.abs_src_path)
    name = source.name.removesuffix(".md") + ".ipynb"  # tutorial.ipynb, tutorial.ja.ipynb
    target = pathlib.Path(page.file.abs_dest_path).with_name(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    jupytext.write(notebook(source), target, fmt="ipynb")
    label = LABEL["ja" if source.name.endswith(".ja.md") else "en"]
    link = (f'<p><a class="md-button" href="{name}" download="{name}" '
            f'title="{label}">{label} ({name})</a></p>')
    head, h1, rest = html.partition("</h1>")
    return head + h1 + link + rest if h1 else link + html
