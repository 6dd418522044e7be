"""The Japanese pages: every English page has its twin, they use the course's words
(one spelling each), and their paragraphs render without stray spaces between Japanese
characters (a line break inside a paragraph becomes a space in the browser, so the
Japanese pages keep each paragraph on one line)."""

import html.parser
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).parent.parent
DOCS = ROOT / "docs"
ENGLISH = sorted(p for p in DOCS.glob("*.md") if not p.name.endswith(".ja.md"))
JAPANESE = sorted(DOCS.glob("*.ja.md"))

#: the spelling the pages use -> the variants they must not (the course notebook writes
#: フィルタ 21 times to フィルター's 2, and 逆伝搬, never 逆伝播; the course and
#: ゼロから作る Deep Learning write チャンネル)
TERMS = {"チャンネル": ("チャネル",), "フィルタ": ("フィルター",),
         "逆伝搬": ("逆伝播",), "順伝搬": ("順伝播",)}

FENCE = re.compile(r"^ *```")
CJK = "\u3040-\u30ff\u3400-\u9fff\uff01-\uff60"
#: a line break between two Japanese characters (the spaces a writer puts around code and
#: links are the pages' style)
STRAY = re.compile(rf"[{CJK}][ \t]*\n[ \t\r\n]*[{CJK}]")


def twin(english: pathlib.Path) -> pathlib.Path:
    return english.with_name(english.stem + ".ja.md")


def test_every_english_page_has_its_japanese_twin():
    missing = [p.name for p in ENGLISH if not twin(p).exists()]
    assert not missing, f"pages without a Japanese version: {missing}"


def _own_lines(ja: pathlib.Path):
    """(number, line) of the page's own text: all prose, and the lines of its code blocks
    that are not in the English page (those quote the course notebook or show what the
    program prints, and stay as they are)."""
    english_page = DOCS / ja.name.replace(".ja.md", ".md")
    english = set(english_page.read_text("utf-8").splitlines()) if english_page.exists() \
        else set()
    in_fence = False
    for number, line in enumerate(ja.read_text("utf-8").splitlines(), 1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence or line not in english:
            yield number, line


@pytest.mark.parametrize("page", JAPANESE, ids=[p.name for p in JAPANESE])
def test_the_japanese_pages_use_one_spelling_per_term(page):
    wrong = [f"{page.name}:{n}: {bad} (write {good})"
             for n, line in _own_lines(page)
             for good, variants in TERMS.items() for bad in variants if bad in line]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("page", JAPANESE, ids=[p.name for p in JAPANESE])
def test_no_paragraph_of_a_japanese_page_is_broken_between_japanese_characters(page):
    """The source check, fast: a prose line ending in a Japanese character followed by a
    line of the same paragraph starting with one (the built HTML is checked below)."""
    lines = page.read_text("utf-8").splitlines()
    in_fence, broken = False, []
    for number, (line, following) in enumerate(zip(lines, lines[1:] + [""]), 1):
        if FENCE.match(line):
            in_fence = not in_fence
        if in_fence or FENCE.match(following) or not following.strip():
            continue
        if re.match(r"\s*([-*+] |\d+\. |#|\||!!!)", following) or line.lstrip().startswith("|"):
            continue
        end = line.rstrip().rstrip("*_")
        start = following.lstrip().lstrip("*_[")
        if end and start and re.match(f"[{CJK}]", end[-1]) and re.match(f"[{CJK}]", start):
            broken.append(f"{page.name}:{number}")
    assert not broken, f"join these lines (one line per paragraph): {broken}"


#: elements whose text runs on with their neighbours' in the browser
INLINE = {"a", "abbr", "b", "code", "em", "i", "kbd", "mark", "small", "span", "strong",
          "sub", "sup"}


class _ArticleText(html.parser.HTMLParser):
    """The text of the page's <article>, outside <pre>, with a NUL wherever a block
    element starts or ends (a space there is not shown)."""

    def __init__(self):
        super().__init__()
        self.depth, self.pre, self.parts = 0, 0, []

    def handle_starttag(self, tag, attrs):
        if tag == "article":
            self.depth += 1
        if tag == "pre":
            self.pre += 1
        if tag not in INLINE:
            self.parts.append("\0")

    def handle_endtag(self, tag):
        if tag == "article":
            self.depth -= 1
        if tag == "pre":
            self.pre -= 1
        if tag not in INLINE:
            self.parts.append("\0")

    def handle_data(self, data):
        if self.depth and not self.pre:
            self.parts.append(data)


def test_the_built_japanese_pages_have_no_stray_spaces(built_site):
    """In the built Japanese pages' text no line break stands between two Japanese
    characters."""
    site = built_site
    found = []
    for page in JAPANESE:
        stem = page.name.removesuffix(".ja.md")
        built = site / "ja" / ("" if stem == "index" else stem) / "index.html"
        parser = _ArticleText()
        parser.feed(built.read_text("utf-8"))
        text = "".join(parser.parts)
        found += [f"{page.name}: …{text[max(m.start() - 15, 0):m.end() + 15]!r}…"
                  for m in STRAY.finditer(text)]
    assert not found, "\n".join(found)
