"""The report: what was found, the first failing case of each check, expected and got on
a few rows, a hint for each mistake, and a summary ending in ``result=pass`` or
``result=fail mistakes=N`` (or ``result=error`` when the file could not be used)."""

from __future__ import annotations

import os
import textwrap
import unicodedata
from dataclasses import dataclass, field

import numpy as np

from .catalogue import Trial, uninitialised
from .messages import CASES, MISTAKES, TEXT, VARIANTS, resolve_lang
from .rules import close_mask

__all__ = ["Report"]

_ROWS, _COLS, _WIDTH = 6, 10, 88


@dataclass
class Report:
    """What :func:`scratchcnn.checker.check` found; ``str(report)`` is the text.

    ``status`` is 0 when every case passed, 1 when a mistake was found, 2 when the file
    could not be used; ``findings`` lists the mistakes (each with ``keys``, the catalogue
    entries that explain it, first the likeliest), ``checks`` the tallies of each check.
    """
    target: str
    lang: str = "en"
    subjects: list = field(default_factory=list)
    findings: list = field(default_factory=list)
    checks: list = field(default_factory=list)
    missing: list = field(default_factory=list)     # "conv" / "pool" not found
    problem: str | None = None                       # why the file cannot be used
    totals: dict = field(default_factory=dict)       # kind -> number of cases

    @property
    def status(self) -> int:
        return 2 if self.problem else (1 if self.findings else 0)

    @property
    def ok(self) -> bool:
        return self.status == 0

    def __str__(self) -> str:
        return self.text()

    def text(self, lang: str | None = None) -> str:
        """The report in English or Japanese (default: the language it was made in)."""
        t = TEXT[resolve_lang(lang or self.lang)]
        lang = resolve_lang(lang or self.lang)
        if self.problem:
            return t["cannot_use"].format(target=self.target, reason=self.problem) + \
                "\nresult=error"
        lines = [f"scratchcnn check {self.target}"]
        for subject in self.subjects:
            lines.append("  " + _describe(subject, t))
        lines += ["  " + t[f"missing_{kind}"] for kind in self.missing]
        if self.findings:
            lines.append(t["mistakes"])
            for number, finding in enumerate(self.findings, 1):
                lines += _finding(number, finding, self, lang)
        else:
            lines.append(t["none_found"])
        if self.checks:
            lines.append(t["summary"])
            lines += _summary(self, t)
        lines.append("result=pass" if self.ok else f"result=fail mistakes={len(self.findings)}")
        return "\n".join(lines)


def _describe(subject, t) -> str:
    if subject.form == "class":
        text = f"{subject.signature}: {t['class']}"
    else:
        back = f" {t['and']} {subject.backward.__name__}()" if subject.backward else \
            f" ({t['no_backward_fn']})"
        text = f"{subject.signature}{back}: {t['functions']}"
    if subject.batched is not None:
        text += t["sep"] + t["batched" if subject.batched else "single"]
    layout = getattr(subject, "layout", None)
    if layout is not None:
        labels = layout.labels
        text += t["sep"] + t["weights" if labels["bias"] else "no_bias_attr"].format(**labels)
    return text


def _case_lines(finding, report, t, lang) -> list[str]:
    case = finding.case
    (kh, kw), shape = case.kernel, tuple(case.x.shape)
    fields = {"x": shape, "k": f"{kh}x{kw}", "s": case.stride, "p": case.padding,
              "o": case.w.shape[0] if case.kind == "conv" else 0}
    return [t["case"].format(index=finding.case_index, total=report.totals[case.kind],
                             label=CASES[lang][case.key]),
            "   " + t[f"{case.kind}_case"].format(**fields)]


def _heading(number, finding, report, t, lang) -> list[str]:
    """``3. Conv2d dX: case 1 of 7, the course's example`` and the case's sizes."""
    key = finding.error[0] if finding.quantity == "error" else finding.quantity
    what = t["heading"].get(key, key)
    head = f"{number}. {os.path.basename(finding.subject)}" + (f" {what}" if what else "")
    if finding.quantity == "setup" or finding.case is None or not finding.case_index:
        return [head]
    first, sizes = _case_lines(finding, report, t, lang)
    return [f"{head}: {first}", sizes]


_NO_LINE_START = set("、。，．）」』】〕：！？ー・")


def _wrap(text: str, lang: str, indent: str) -> list[str]:
    """Lines of at most _WIDTH columns.  Japanese breaks between any two characters
    (never inside an ASCII word, never before a closing mark), English at spaces."""
    if lang != "ja":
        return textwrap.wrap(text, _WIDTH, initial_indent=indent, subsequent_indent=indent)
    import re
    lines, line = [], ""
    for token in re.findall(r"[!-~]+|\s+|.", text):
        if line and _width(indent + line + token.rstrip()) > _WIDTH and \
                token[0] not in _NO_LINE_START and not token.isspace():
            lines.append(indent + line.rstrip())
            line = ""
        line += "" if token.isspace() and not line else token
    return lines + ([indent + line.rstrip()] if line else [])


def _mistake_lines(key, details, finding, lang) -> list[str]:
    title, hint = MISTAKES[lang][key]
    t = TEXT[lang]
    fields = {k: str(v) for k, v in details.items()}
    for k, v in finding.info.items():
        if isinstance(v, str) or k.endswith("shape"):
            fields[k] = str(v)
        elif k == "names":  # the weights backward changed
            fields[k] = (" " + t["and"] + " " if lang == "en" else t["and"]).join(v)
    variant = details.get("how") or details.get("axis")
    if variant:
        fields["variant"] = VARIANTS[lang][variant].format(**fields)
    return ["   " + title.format(**fields)] + _wrap(hint.format(**fields), lang, "     ")


def _finding(number, finding, report, lang) -> list[str]:
    t = TEXT[lang]
    lines = _heading(number, finding, report, t, lang)
    for key, details in finding.mistakes:
        lines += _mistake_lines(key, details, finding, lang)
    if finding.error is not None:
        stage, err = finding.error
        if not finding.mistakes:
            lines.append("   " + t["raised"].format(stage=t["stage"].get(stage, stage),
                                                    error=f"{type(err).__name__}: {err}"
                                                    .splitlines()[0]))
        where = finding.info.get("line")
        if where:
            file, line, code = where
            lines.append("   " + t["at"].format(file=os.path.basename(file), line=line,
                                                code=code))
    if finding.error is None and finding.quantity not in ("setup", "update"):
        if finding.got is None:
            lines.append("   " + t["not_array"][finding.quantity].format(
                returned=finding.info.get("returned")))
            return lines
        if not finding.mistakes:
            lines.append("   " + t["unexplained"])
        lines += _arrays(finding, t)
    return lines


def _number(v: float) -> str:
    if np.isfinite(v) and float(v).is_integer() and abs(v) < 1e12:
        return str(int(v))
    return f"{v:.6g}"


def _format(plane: np.ndarray, unknown: np.ndarray | None) -> list[str]:
    """Rows of a 2-D (or 1-D) array as np.array2string would print them, ? for unknown."""
    flat = plane.ndim == 1
    plane = np.atleast_2d(plane)
    unknown = None if unknown is None else np.atleast_2d(unknown)
    cells = [["?" if unknown is not None and unknown[i, j] else _number(v)
              for j, v in enumerate(row)] for i, row in enumerate(plane)]
    width = max((len(c) for row in cells for c in row), default=1)
    rows = [" ".join(c.rjust(width) for c in row) for row in cells]
    if flat:
        return ["[" + rows[0] + "]"]
    return [("[[" if i == 0 else " [") + row + ("]]" if i == len(rows) - 1 else "]")
            for i, row in enumerate(rows)]


def _window(arr, index, unknown=None, rows_label=""):
    """A few rows and columns of the plane ``index`` of a (N, C, H, W) array, around
    the row ``index`` points at; also the label."""
    arr = np.asarray(arr, np.float64)
    if arr.ndim < 3:
        flat = arr.reshape(-1)[:_COLS]
        return flat, None if unknown is None else unknown.reshape(-1)[:_COLS], ""
    lead = tuple(min(i, s - 1) for i, s in zip(index[:-2], arr.shape[:-2]))
    plane = arr[lead]
    row = min(index[-2], plane.shape[0] - 1)
    start = max(0, min(row - 1, plane.shape[0] - _ROWS))
    part = plane[start:start + _ROWS, :_COLS]
    mask = None if unknown is None else unknown[lead][start:start + _ROWS, :_COLS]
    rows = "" if plane.shape[0] <= _ROWS and plane.shape[1] <= _COLS else \
        rows_label.format(start=start, end=start + len(part) - 1)
    return part, mask, f"[{', '.join(map(str, lead))}]{rows}"


def _arrays(finding, t) -> list[str]:
    got, exp = finding.got, finding.expected
    lines = []
    if got.shape != exp.shape:
        lines.append("   " + t["shape"].format(expected=exp.shape, got=got.shape))
        index = (0,) * exp.ndim
    else:
        wrong = np.argwhere(~close_mask(got, exp))
        index = tuple(wrong[0]) if len(wrong) else (0,) * exp.ndim
    unknown = None
    alt = finding.alt
    if got.dtype.kind == "f" and uninitialised(Trial(finding.case, finding.quantity, got,
                                                    alt)) is not None:
        unknown = np.isin(got, [v for v in _poison_values()])
        if alt is not None and np.shape(alt) == got.shape:
            unknown |= ~np.isclose(got, alt, rtol=1e-7, atol=0, equal_nan=True)
    for label, arr, mask in ((t["expected"], exp, None), (t["got"], got, unknown)):
        part, part_mask, where = _window(arr, index, mask, t["rows"])
        lines.append(f"   {label}{where}:")
        lines += ["     " + row for row in _format(part, part_mask)]
    if unknown is not None and unknown.any():
        lines.append("   " + t["unknown_mark"])
    return lines


def _poison_values():
    from .catalogue import POISON
    return [v for pair in POISON.values() for v in pair]


def _width(text: str) -> int:
    """Columns on a terminal: Japanese characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _summary(report, t) -> list[str]:
    rows = []
    for check in report.checks:
        name = f"{check.subject} {t['check'][check.quantity]}"
        if check.note:
            detail = f"{t['not_checked']}: {t['notes'].get(check.note, check.note)}"
        elif check.failed_at:
            detail = t["failed_at"].format(index=check.failed_at)
        else:
            detail = t["cases_passed"].format(passed=check.passed, run=check.run)
        if check.skipped and not check.note:
            detail += t["sep"] + t["sep"].join(t["skipped"][why].format(n=n)
                                               for why, n in check.skipped.items())
        rows.append((name, detail))
    width = max((_width(n) for n, _ in rows), default=0)
    return [f"  {n}{' ' * (width - _width(n))}  {d}" for n, d in rows]
