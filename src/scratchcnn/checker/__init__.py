"""Check a learner's own convolution and max pooling against the library.

``scratchcnn check FILE.py`` (or ``scratchcnn.checker.check(path)``) imports the file,
finds its convolution and its max pooling (classes or functions, :mod:`.subjects`), sets
known weights into them (:mod:`.weights`) and runs them up a ladder of cases
(:mod:`.cases`): the course's own 8x8 ``np.arange`` example, then stride, padding,
several channels, a batch, random values and, for pooling, ties.  On each it compares
the forward output (shape and values), dX, dW, db and the pooling's gradient with
:mod:`scratchcnn.reference`, and checks that backward leaves the weights alone.  The
first failing case of each check is explained by the catalogue (:mod:`.catalogue`): one
detector per mistake, each recomputing the case under its mistaken rule.

Reading order: ``cases.py`` (what is run), ``catalogue.py`` and ``rules.py`` (what is
recognised), ``subjects.py``, ``binding.py`` and ``weights.py`` (how the learner's code is
called), ``runner.py`` (the two runs of each case), ``report.py`` and ``messages.py``.
"""

from __future__ import annotations

from .cases import conv_cases, pool_cases
from .catalogue import CATALOGUE, Trial, explain
from .load import LoadFailure, learner_code, load
from .messages import resolve_lang
from .report import Report
from .runner import CannotUse, Finding, learner_line, run_subject
from .subjects import find_subjects

__all__ = ["check", "Report", "Finding", "CATALOGUE"]


def check(target, *, lang: str | None = None) -> Report:
    """Run a learner's convolution and max pooling up the ladder of cases.

    Returns a :class:`Report`: ``print(report)`` shows it, ``report.status`` is 0 when
    every case passes, 1 when a mistake was found, 2 when the target cannot be used.

    Parameters
    ----------
    target : str, module or object
        A path to a Python file (its code runs: check your own files only), a module
        name (``"scratchcnn.reference"``), or a module or namespace object holding the
        classes or functions.
    lang : str or None
        ``"en"`` or ``"ja"`` for the report's text; None: from the locale (LC_ALL / LANG
        starting with ``ja``: Japanese).
    """
    report = Report(str(target), resolve_lang(lang))
    try:
        module, report.target = load(target)
    except LoadFailure as failure:
        found = explain(Trial(None, "error", failure.error)) if failure.error else []
        if not found:
            report.problem = failure.reason
            return report
        line = learner_line(failure.error)
        report.findings.append(Finding(str(target), None, "error", mistakes=found,
                                       error=("import", failure.error),
                                       info={"line": line}))
        return report
    subjects = find_subjects(module)
    if not subjects:
        report.problem = ("found no convolution or max pooling: name a class or function "
                          "with 'conv' or 'pool' in it (scratchcnn check --help)")
        return report
    report.missing = [k for k in ("conv", "pool") if k not in {s.kind for s in subjects}]
    ladders = {"conv": conv_cases(), "pool": pool_cases()}
    report.totals = {kind: len(cases) for kind, cases in ladders.items()}
    with learner_code():
        for subject in subjects:
            try:
                findings, checks = run_subject(subject, ladders[subject.kind])
            except CannotUse as err:
                report.problem = f"{subject.name}: {err}"
                return report
            report.subjects.append(subject)
            report.findings += findings
            report.checks += checks
    return report
