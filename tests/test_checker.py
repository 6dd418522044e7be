"""scratchcnn check: a learner's convolution and pooling run against the library, each
mistake named by the catalogue (issue 29)."""

import importlib.util
import pathlib
import re
import types

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import reference, textbook
from scratchcnn.checker import CATALOGUE, check
from scratchcnn.checker.messages import MISTAKES
from scratchcnn.cli import main

CASES = pathlib.Path(__file__).parent / "checker_cases"
NOTEBOOK = CASES / "notebook.py"   # the course notebook's classes, np.float -> float
COURSE = CASES / "course.py"       # right ones in the same signatures, and layers(bug)


def load(name):
    spec = importlib.util.spec_from_file_location(f"checker_case_{name}", CASES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


course, forms = load("course"), load("forms")


def first_keys(report):
    return report.findings[0].keys if report.findings else []


def by_check(report):
    """(subject kind, quantity) -> the finding's mistake keys."""
    return {(f.kind, f.quantity): f.keys for f in report.findings}


# ------------------------------------------------------------------ the course notebook

def test_the_notebook_is_diagnosed_with_its_real_mistakes():
    report = check(NOTEBOOK, lang="en")
    assert report.status == 1
    found = by_check(report)
    # its weights are (FN, FH, FW): one kernel per filter, no input-channel axis (and B = 1)
    assert found["conv", "setup"] == ["no_channel_axis", "one_bias"]
    # forward: i and j never advance, so every window lands in out[:, 0, 0] (the last
    # one stays: 2095) and the rest is whatever np.empty handed out
    assert found["conv", "out"] == ["first_pixel_only", "uninitialised"]
    forward = next(f for f in report.findings if f.quantity == "out")
    assert forward.case.key == "course" and forward.got[0, 0, 0, 0] == 2095.0
    # backward: W -= ir*dW and B -= ir*dB inside it; dB a mean; dW and dX wrong
    assert found["conv", "update"] == ["weights_updated_in_backward"]
    assert found["conv", "db"] == ["mean_not_sum"]
    assert ("conv", "dx") in found and found["conv", "dw"] == ["uninitialised"]
    # pooling: forward right on the course's example, its gradient transposed
    assert found["pool", "dx"] == ["pool_grad_transposed"]
    pool_dx = next(f for f in report.findings if (f.kind, f.quantity) == ("pool", "dx"))
    assert pool_dx.case_index == 1
    checks = {(c.kind, c.quantity): c for c in report.checks}
    assert checks["pool", "out"].failed_at > 1   # the course's own example passes
    assert checks["conv", "out"].skipped == {"channels": 3}
    text = str(report)
    assert "weights have no input-channel axis" in text and "[[2095    ?" in text
    assert text.endswith("result=fail mistakes=8")


def test_the_notebook_as_written_stops_at_np_float(tmp_path):
    source = NOTEBOOK.read_text(encoding="utf-8")
    original = source.replace("astype(float)", "astype(np.float)").replace(
        "astype(int)", "astype(np.int)")
    path = tmp_path / "sprint13.py"
    path.write_text(original, encoding="utf-8")
    report = check(path, lang="en")
    assert report.status == 1 and first_keys(report) == ["numpy_alias"]
    text = str(report)
    assert "np.float no longer exists in NumPy >= 1.24: use float" in text
    assert "np.int no longer exists in NumPy >= 1.24: use int" in text
    assert re.search(r"at sprint13.py line \d+: self.W = np.arange\(FN\*FH\*FW\)", text)
    assert "np.float は NumPy 1.24 以降にはありません" in report.text("ja")


def test_np_float_at_import_time_is_the_finding_too(tmp_path):
    path = tmp_path / "layers.py"
    path.write_text("import numpy as np\nx = np.arange(64).reshape(1, 8, 8).astype(np.float)\n")
    report = check(path, lang="en")
    assert report.status == 1 and first_keys(report) == ["numpy_alias"]
    assert "at layers.py line 2" in str(report)


# ------------------------------------------------------------------ one bug per entry

BUGS = [m.key for m in CATALOGUE if m.key != "numpy_alias"]


def test_every_mistake_has_a_hand_made_bug_and_words_in_both_languages():
    keys = [m.key for m in CATALOGUE]
    assert len(keys) == len(set(keys)) >= 15
    assert set(MISTAKES["en"]) == set(MISTAKES["ja"]) == set(keys)
    assert set(BUGS) | {"numpy_alias"} == set(keys)


@pytest.mark.parametrize("bug", BUGS)
def test_each_hand_made_bug_is_named_first_and_alone(bug):
    report = check(course.layers(bug), lang="en")
    assert report.status == 1
    assert first_keys(report) == [bug], str(report)
    for lang in ("en", "ja"):
        title = MISTAKES[lang][bug][0]
        assert title.split("{")[0] in report.text(lang)


def test_a_bug_in_a_batched_class_is_named_too():
    class Conv2d(forms.Conv2d):  # PyTorch's form, the bias forgotten
        def forward(self, x):
            return super().forward(x) - self.params["bias"][:, None, None]
    report = check(types.SimpleNamespace(Conv2d=Conv2d), lang="en")
    assert first_keys(report) == ["bias_wrong"]
    assert "The bias is not added" in str(report)


def test_a_pooling_that_ignores_its_stride_steps_by_its_window():
    Right = course.layers().MaxPool2D

    class MaxPool2D(Right):
        def __init__(self, FH, FW, padding=0, stride=None):
            super().__init__(FH, FW, padding)  # stride forgotten: S = FW
    report = check(types.SimpleNamespace(MaxPool2D=MaxPool2D), lang="en")
    assert first_keys(report) == ["stride_ignored"] and report.findings[0].case.key == "stride"


def test_uninitialised_memory_is_caught_every_time():
    for _ in range(5):
        assert first_keys(check(course.layers("uninitialised"))) == ["uninitialised"]


# ------------------------------------------------------------------ what passes

@pytest.mark.parametrize("target", [COURSE, str(COURSE), textbook, reference,
                                    "scratchcnn.reference", "scratchcnn.textbook",
                                    *forms.FORMS.values(),
                                    types.SimpleNamespace(Conv2d=sc.Conv2d,
                                                          MaxPool2d=sc.MaxPool2d)],
                         ids=["course-path", "course-str", "textbook", "reference",
                              "reference-name", "textbook-name", *forms.FORMS, "library"])
def test_right_implementations_pass(target):
    report = check(target, lang="en")
    assert report.status == 0, str(report)
    assert report.findings == [] and str(report).endswith("result=pass")
    assert {c.quantity for c in report.checks} == {"out", "update", "dx", "dw", "db"}
    assert all(c.run >= 6 and c.passed == c.run for c in report.checks)


def test_a_function_without_padding_skips_the_padding_case():
    report = check(forms.FORMS["functions"], lang="en")
    pool = [c for c in report.checks if c.kind == "pool"]
    assert pool and all(c.skipped == {"padding": 1} for c in pool)
    assert "1 skipped (no padding parameter)" in str(report)


# ------------------------------------------------------------------ what cannot be used

@pytest.mark.parametrize("source, says", [
    ("def conv2d(:\n", "syntax error at line 1"),
    ("x = 1\n", "found no convolution or max pooling"),
    ("class Conv2d:\n    def __init__(self, foo):\n        pass\n"
     "    def forward(self, x):\n        return x\n", "'foo'"),
    ("import numpy as np\nclass Conv2d:\n    def __init__(self, FN, FH, FW, padding, ir):\n"
     "        self.W = np.zeros((FH, FW, FN))\n    def forward(self, x):\n        return x\n",
     "W has shape (3, 3, 2)"),
    ("import missing_module_of_the_learner\n", "ModuleNotFoundError"),
])
def test_an_unusable_file_is_status_2(tmp_path, source, says):
    path = tmp_path / "mine.py"
    path.write_text(source)
    report = check(path, lang="en")
    assert report.status == 2 and says in str(report), str(report)
    assert str(report).endswith("result=error")


def test_an_error_in_the_learners_code_is_shown_at_its_line(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text("import numpy as np\n\ndef conv2d(x, w, b, stride, padding):\n"
                    "    return x @ w\n")
    report = check(path, lang="en")
    assert report.status == 1
    finding = report.findings[0]
    assert finding.quantity == "error" and finding.keys == []
    assert "forward raised ValueError" in str(report)
    assert "at mine.py line 4: return x @ w" in str(report)


def test_a_backward_that_returns_nothing_is_named(tmp_path):
    class Conv2d(course.Conv2d):
        def backward(self, delta):
            super().backward(delta)  # no return
    report = check(types.SimpleNamespace(Conv2d=Conv2d), lang="en")
    assert report.status == 1 and report.findings[0].quantity == "dx"
    assert "backward returned NoneType, not dX" in str(report)
    assert "no max pooling found" in str(report)


def test_what_the_learners_code_prints_goes_to_stderr(tmp_path, capsys):
    path = tmp_path / "noisy.py"
    path.write_text(COURSE.read_text().replace("    return types.SimpleNamespace",
                                               "    print('hello')\n"
                                               "    return types.SimpleNamespace"))
    assert check(path).status == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "hello" in captured.err


# ------------------------------------------------------------------ the command line

def test_cli_passes_with_status_0(capsys):
    assert main(["check", str(COURSE), "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("scratchcnn check course.py") and "result=pass" in out


def test_cli_names_the_notebooks_mistakes_in_japanese(capsys):
    assert main(["check", str(NOTEBOOK), "--lang", "ja"]) == 1
    out = capsys.readouterr().out
    for words in ("重みに入力チャンネルの軸がない", "出力の最初の画素しか書かれていない",
                  "逆伝搬の中で重みを更新している", "勾配で和の代わりに平均を取っている",
                  "プーリングの勾配が転置されている", "まとめ:"):
        assert words in out
    assert out.rstrip().endswith("result=fail mistakes=8")


def test_cli_language_comes_from_the_locale(capsys, monkeypatch):
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.setenv("LANG", "ja_JP.UTF-8")
    assert main(["check", "scratchcnn.reference"]) == 0
    assert "誤りは見つかりませんでした。" in capsys.readouterr().out
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    assert main(["check", "scratchcnn.reference"]) == 0
    assert "No mistakes found." in capsys.readouterr().out


def test_cli_unusable_file_is_status_2_on_stderr(tmp_path, capsys):
    assert main(["check", str(tmp_path / "missing.py")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("scratchcnn check: cannot use") and "no such file" in \
        captured.err
    with pytest.raises(SystemExit):
        main(["check", str(COURSE), "--lang", "fr"])


def test_cli_verbose_shows_the_traceback_of_the_learners_error(tmp_path, capsys):
    path = tmp_path / "mine.py"
    path.write_text("def conv2d(x, w, b, stride, padding):\n    return x @ w\n")
    assert main(["check", str(path), "-v"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "return x @ w" in err


@pytest.mark.parametrize("page", ["check.md", "check.ja.md"])
def test_the_guide_lists_the_whole_catalogue(page):
    text = (pathlib.Path(__file__).parent.parent / "docs" / page).read_text(encoding="utf-8")
    assert all(f"(`{m.key}`)" in text or f"（`{m.key}`）" in text for m in CATALOGUE)


def test_the_ladder_starts_with_the_course_example():
    from scratchcnn.checker.cases import conv_cases, pool_cases
    conv, pool = conv_cases(), pool_cases()
    assert conv[0].key == pool[0].key == "course"
    np.testing.assert_array_equal(conv[0].x[0, 0], np.arange(64).reshape(8, 8))
    assert conv[0].answers["out"][0, :, -1, -1].tolist() == [2095.0, 6469.0]
    assert pool[0].answers["out"][0, 0, 0].tolist() == [9, 11, 13, 15]
    assert [c.key for c in conv] == ["course", "stride", "padding", "stride_padding",
                                     "channels", "batch", "random"]
    assert pool[-1].key == "ties"
    x = pool[-1].x
    windows = x.reshape(1, 2, 3, 2, 3, 2).transpose(0, 1, 2, 4, 3, 5).reshape(-1, 4)
    assert any((w == w.max()).sum() > 1 for w in windows)  # ties there are
