"""The documentation's examples run and print what the text says."""

import doctest
import pathlib

import pytest

DOCS = sorted((pathlib.Path(__file__).parent.parent / "docs").glob("*.md"))


@pytest.mark.parametrize("page", DOCS, ids=[p.name for p in DOCS])
def test_examples_in_docs(page):
    result = doctest.testfile(str(page), module_relative=False, verbose=False,
                              optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{page.name} has no examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in " \
                               f"{page.name} failed (their output is printed above)"


def test_there_are_docs():
    assert any(p.name == "notebook.md" for p in DOCS)
