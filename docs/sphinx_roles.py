"""A Griffe extension for the API page: the docstrings' reStructuredText bits become Markdown.

The docstrings are written for ``help()`` and Sphinx as much as for the site, so they say
``:func:`im2col```, ``:class:`~scratchcnn.model.Sequential``` and ``text::`` before a literal
block.  mkdocstrings reads docstrings as Markdown, where those show raw, and where a bare
``*`` (``(*, in_features)``, ``C*H*W``) starts emphasis and swallows text.  When Griffe has
loaded the package, this rewrites every docstring once:

- a Sphinx role becomes an optional cross-reference (``<autoref ... optional>``), resolved
  the way Sphinx resolves it (``~`` shows the last name only; ``.name`` is relative to the
  module's package; other names are looked up from the docstring's own scope outwards):
  a link where the target is on the page, the name in code font where it is not;
- ``text::`` ending a paragraph becomes ``text:`` (the indented block after it is already a
  Markdown code block);
- an asterisk that is not one side of an ``*emphasis*`` pair is escaped.

Code (inline ````code````, ``>>>`` examples, indented blocks) is left as it is.  mkdocs.yml
names this file under the Python handler's ``extensions``; the source files keep their
roles, and tests/test_docs_browser.py fails if one shows on the built page.
"""

from __future__ import annotations

import html
import re

import griffe

#: a role: :func:`target`, :class:`~a.b.C`, :meth:`text <target>`
ROLE = re.compile(r":(?:py:)?(?P<role>func|meth|class|mod|data|attr|exc|obj|const):"
                  r"`(?P<body>[^`]+)`")
#: a role or an inline code span (one or two backticks), whichever comes first
TOKEN = re.compile(ROLE.pattern + r"|``.+?``|`[^`\n]+`", re.S)
#: *emphasis*: a star before a word, its partner after one, on one line
EMPHASIS = re.compile(r"(?<![\w*\\])\*(?=\w)[^*\n]*?(?<=[\w.!?])\*(?![\w*])")
#: a numpydoc entry for ``*args`` or ``**kwargs`` (the parser reads the stars)
STARRED = re.compile(r"^\s*(\*{1,2})\w+ :", re.M)
CALLABLE_ROLES = ("func", "meth")


def _exists(loader: griffe.GriffeLoader, path: str) -> bool:
    try:
        loader.modules_collection[path]
    except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return False
    return True


def resolve(obj: griffe.Object, target: str, loader: griffe.GriffeLoader) -> str:
    """The full path Sphinx would link ``target`` to from ``obj``'s docstring."""
    if target.startswith("."):
        module = obj.module
        for base in (module, module.parent):
            if base is not None and _exists(loader, base.path + target):
                return base.path + target
        return module.package.path + target
    first, dot, rest = target.partition(".")
    try:
        return obj.resolve(first) + dot + rest
    except griffe.NameResolutionError:
        return target


def _role(match: re.Match, obj: griffe.Object, loader: griffe.GriffeLoader) -> str:
    body = match["body"].strip()
    explicit = re.fullmatch(r"(?P<title>.+?)\s*<(?P<target>[^<>]+)>", body)
    if explicit:
        title, target = explicit["title"], explicit["target"]
    else:
        target = body
        title = body.lstrip("~").rsplit(".", 1)[-1] if body.startswith("~") \
            else body.lstrip(".")
        if match["role"] in CALLABLE_ROLES and not title.endswith(")"):
            title += "()"
    path = resolve(obj, target.lstrip("~"), loader)
    return (f'<autoref identifier="{html.escape(path)}" optional>'
            f"<code>{html.escape(title)}</code></autoref>")


def _escape_stars(text: str) -> str:
    kept = {m.start() for m in EMPHASIS.finditer(text)} | \
        {m.end() - 1 for m in EMPHASIS.finditer(text)} | \
        {i for m in STARRED.finditer(text) for i in range(*m.span(1))}
    return "".join("\\*" if c == "*" and i not in kept and (i == 0 or text[i - 1] != "\\")
                   else c for i, c in enumerate(text))


def _prose(text: str, obj: griffe.Object, loader: griffe.GriffeLoader) -> str:
    """Roles and stars rewritten in text outside code spans."""
    out, end = [], 0
    for match in TOKEN.finditer(text):  # a role or a code span, whichever starts first
        out.append(_escape_stars(text[end:match.start()]))
        out.append(_role(match, obj, loader) if match["role"] else match[0])
        end = match.end()
    out.append(_escape_stars(text[end:]))
    return "".join(out)


def rewrite(value: str, obj: griffe.Object, loader: griffe.GriffeLoader) -> str:
    """The docstring ``value`` with its reStructuredText made Markdown (see the module)."""
    out, paragraph = [], []
    lines = value.split("\n")

    def flush():
        if paragraph:
            text = _prose("\n".join(paragraph), obj, loader)
            if text.endswith("::"):
                text = text[:-1]
            out.append(text)
            paragraph.clear()

    in_fence = in_block = in_example = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("```"):
            flush()
            in_fence = not in_fence
            out.append(line)
            continue
        # an indented block after a blank line is code, up to the next unindented line
        in_block = bool(stripped) and line.startswith("    ") and (in_block or not paragraph) \
            or in_block and not stripped
        # a doctest: its >>> lines and its output, up to a blank line
        in_example = bool(stripped) and (in_example or stripped.startswith(">>>"))
        if in_fence or in_block or in_example or not stripped:
            flush()
            out.append(line)
        else:
            paragraph.append(line)
    flush()
    return "\n".join(out)


class SphinxRoles(griffe.Extension):
    """Rewrite every docstring of the loaded package (see the module's docstring)."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs) -> None:
        for obj in _objects(pkg):
            if obj.docstring is not None:
                obj.docstring.value = rewrite(obj.docstring.value, obj, loader)


def _objects(obj: griffe.Object):
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _objects(member)
