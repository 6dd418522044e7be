"""The documentation site: its shell commands run and print what the pages say, it builds
with ``mkdocs build --strict`` in both languages, and its figures and tables come from the
scripts in docs/."""

import doctest
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
#: commands a page shows but the tests do not run: installing is what CI itself does
NOT_RUN = ("pip ",)


def blocks(page: pathlib.Path, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(page.read_text(encoding="utf-8"))
            if lang == language]


def sessions(page: pathlib.Path) -> list[tuple[str, str]]:
    """(command, expected stdout) for every ``$ `` line of the page's console blocks."""
    pairs = []
    for body in blocks(page, "console"):
        for chunk in re.split(r"^\$ ", body, flags=re.M)[1:]:
            command, _, expected = chunk.partition("\n")
            pairs.append((command.strip(), expected))
    return pairs


def test_every_code_block_is_run_by_a_test():
    """python blocks are doctests (test_docs.py), console blocks run here, text is text."""
    for page in PAGES:
        for lang, body in FENCE.findall(page.read_text(encoding="utf-8")):
            assert lang in ("python", "console", "text"), f"{page.name}: a ```{lang} block"
            if lang == "python":
                assert ">>> " in body, f"{page.name}: a python block without >>> lines"


def test_every_japanese_page_has_the_english_examples():
    for ja in DOCS.glob("*.ja.md"):
        en = DOCS / ja.name.replace(".ja.md", ".md")
        strip = lambda text: [line.split("#")[0].rstrip()  # noqa: E731 (comments differ)
                              for line in text.splitlines() if line.startswith((">>>", "..."))]
        assert strip("\n".join(blocks(ja, "python"))) == strip("\n".join(blocks(en, "python"))), \
            ja.name
        assert sessions(ja) == sessions(en), ja.name


def test_the_japanese_api_page_documents_the_same_objects():
    """The docstrings are English in both languages; the Japanese page has its own
    headings and text around the same ``:::`` entries, in the same order."""
    entries = [re.findall(r"^::: (\S+)", (DOCS / name).read_text("utf-8"), re.M)
               for name in ("api.md", "api.ja.md")]
    assert entries[0] and entries[0] == entries[1]


def _scratchcnn():
    found = shutil.which("scratchcnn")
    return [found] if found else [sys.executable, "-m", "scratchcnn"]


_RUNS: dict = {}


def _run_page(commands: tuple[str, ...], workdir: pathlib.Path) -> list[str]:
    """Each command's stdout, run one after another in a fresh directory (cached: the
    Japanese pages show the same commands as the English ones)."""
    if commands not in _RUNS:
        workdir.mkdir()
        shutil.copy(DOCS / "figures" / "digit-7.png", workdir)
        env = {**os.environ, "SCRATCHCNN_OFFLINE": "1", "MPLBACKEND": "Agg"}
        outputs = []
        for command in commands:
            argv = command.split()
            assert argv[0] == "scratchcnn", command
            proc = subprocess.run(_scratchcnn() + argv[1:], cwd=workdir, env=env,
                                  capture_output=True, text=True)
            assert proc.returncode == 0, f"{command}\n{proc.stderr[-2000:]}"
            outputs.append(proc.stdout)
        _RUNS[commands] = outputs
    return _RUNS[commands]


#: the pages whose console blocks show commands the tests run (not only installs)
CONSOLE_PAGES = [p for p in PAGES if any(not c.startswith(NOT_RUN) for c, _ in sessions(p))]


def _trains(page) -> bool:
    return any(c.startswith("scratchcnn train") for c, _ in sessions(page))


@pytest.mark.parametrize("page", [pytest.param(p, marks=pytest.mark.slow) if _trains(p) else p
                                  for p in CONSOLE_PAGES], ids=[p.name for p in CONSOLE_PAGES])
def test_console_examples_print_what_the_page_shows(page, tmp_path):
    pairs = [(c, e) for c, e in sessions(page) if not c.startswith(NOT_RUN)]
    outputs = _run_page(tuple(c for c, _ in pairs), tmp_path / "work")
    checker = doctest.OutputChecker()
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    for (command, expected), got in zip(pairs, outputs):
        assert checker.check_output(expected, got, flags), \
            f"{page.name}: $ {command}\nexpected:\n{expected}\ngot:\n{got}"


def test_site_builds_strictly_in_both_languages(built_site):
    site = built_site
    for name in ("tutorial", "convolution", "pooling", "output-size", "filter-size"):
        english = (site / name / "index.html").read_text(encoding="utf-8")
        japanese = (site / "ja" / name / "index.html").read_text(encoding="utf-8")
        assert 'lang="ja"' in japanese and 'lang="en"' in english
        assert "/ja/" in english.replace('href="ja/', 'href="/ja/'), \
            f"{name}: no language switch to Japanese"
    assert "receptive_field" in (site / "api" / "index.html").read_text(encoding="utf-8")
    assert "dataset-fashion-mnist" in (site / "tutorial" / "index.html").read_text("utf-8")


def test_figures_come_from_the_script(tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("PIL")
    made = {"cnn-vs-fc.png", "explore.png"}
    for script in ("figures.py", "figures_topics.py", "figures_training.py"):
        proc = subprocess.run([sys.executable, str(DOCS / script), str(tmp_path), "--quick"],
                              capture_output=True, text=True)
        assert proc.returncode == 0, f"{script}: {proc.stderr[-3000:]}"
        made |= {pathlib.Path(line).name for line in proc.stdout.split()}
    # (cnn-vs-fc.png is drawn by cnn_vs_fc.py with its table: the test below runs it;
    # explore.png is the page in a real browser: tests/test_explore.py takes it)
    used = {m for page in PAGES
            for m in re.findall(r"\(figures/([\w.-]+\.png)\)", page.read_text("utf-8"))}
    assert used and used <= made, f"pages show figures the script does not draw: {used - made}"
    assert used <= {p.name for p in (DOCS / "figures").glob("*.png")}


def _accuracies(table: str) -> list[tuple[float, float]]:
    return [(float(a), float(b)) for a, b in
            re.findall(r"\| ([\d.]+) % \| ([\d.]+) % \|", table)]


@pytest.mark.slow
def test_the_cnn_vs_fc_table_is_what_the_script_measures(tmp_path):
    out = tmp_path / "table.md"
    proc = subprocess.run([sys.executable, str(DOCS / "cnn_vs_fc.py"), "--out", str(out),
                           "--figure", str(tmp_path / "cnn-vs-fc.png")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "cnn-vs-fc.png").stat().st_size > 10_000
    measured = _accuracies(out.read_text(encoding="utf-8"))
    published = _accuracies((DOCS / "generated" / "cnn-vs-fc.md").read_text(encoding="utf-8"))
    assert len(measured) == len(published) == 2
    (fc, fc_moved), (lenet, lenet_moved) = measured
    assert lenet > fc + 1 and lenet - lenet_moved < fc - fc_moved  # what the page concludes
    for got, shown in zip(measured, published):  # seeded; other CPUs round differently
        assert abs(got[0] - shown[0]) <= 1.0 and abs(got[1] - shown[1]) <= 2.0, (got, shown)


@pytest.mark.slow
def test_the_default_training_meets_its_target(tmp_path):
    """`scratchcnn train`, no options, offline: >= 98.0 % on the bundled held-out images.
    Measured 98.4-98.9 % (the CPU's rounding and, under load, the thread splits move it:
    98.9 % on 2026-12-03's machine, 98.4 and 98.5 % on an AMD EPYC, 98.5 % on a Xeon);
    the floor keeps 0.4 points below the lowest.  The tutorial's run, shared with its test."""
    tutorial = [(c, e) for c, e in sessions(DOCS / "tutorial.md") if not c.startswith(NOT_RUN)]
    outputs = _run_page(tuple(c for c, _ in tutorial), tmp_path / "work")
    train = dict(line.partition("=")[::2] for line in outputs[0].splitlines() if "=" in line)
    assert float(train["test_accuracy"]) >= 0.980, train["test_accuracy"]
