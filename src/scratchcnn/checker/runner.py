"""Running a learner's layer up the ladder of cases and turning failures into findings.

Each case runs twice.  Before every call of the learner's code, freed memory of the
sizes the layer will ask for is filled with a byte pattern, a different one each run, so
that an ``np.empty`` array left unwritten shows that pattern and differs between the two
runs.  Then, check by check (the forward output; whether backward left the weights
alone; dX; dW; db), the first case that fails becomes a :class:`Finding`, with the
catalogue's mistakes that explain it.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass, field

import numpy as np

from .binding import Unbindable
from .catalogue import Trial, explain
from .rules import close
from .subjects import Run
from .weights import LayoutError

__all__ = ["Finding", "CheckResult", "CannotUse", "run_subject", "learner_line"]

CHECKS = {"conv": ("out", "update", "dx", "dw", "db"), "pool": ("out", "dx")}
_BACKWARD_STAGES = ("backward",)
_HERE = os.path.dirname(os.path.abspath(__file__))
_NUMPY = os.path.dirname(os.path.abspath(np.__file__))


class CannotUse(ValueError):
    """The learner's code cannot be run at all (status 2)."""


@dataclass
class Finding:
    subject: str
    kind: str | None
    quantity: str                     # setup error out update dx dw db
    case: object = None
    case_index: int = 0               # 1-based place of the case on its ladder
    mistakes: list = field(default_factory=list)
    got: object = None
    alt: object = None
    error: tuple | None = None        # (stage, exception)
    info: dict = field(default_factory=dict)

    @property
    def keys(self) -> list[str]:
        return [key for key, _ in self.mistakes]

    @property
    def expected(self):
        return None if self.case is None else self.case.answers.get(self.quantity)


@dataclass
class CheckResult:
    subject: str
    kind: str
    quantity: str
    run: int = 0
    passed: int = 0
    skipped: dict = field(default_factory=dict)   # why -> how many cases were not run
    failed_at: int = 0                # 1-based case index of the first failure, 0: none
    note: str | None = None           # why it was not checked


def learner_line(err: BaseException) -> tuple[str, int, str] | None:
    """(file, line, code) of the last traceback frame in the learner's code."""
    frames = [f for f in traceback.extract_tb(err.__traceback__)
              if not os.path.abspath(f.filename).startswith((_HERE, _NUMPY))]
    if not frames:
        return None
    last = frames[-1]
    return last.filename, last.lineno, (last.line or "").strip()


def _poisoner(case, byte):
    if byte is None:
        return lambda: None
    n = case.x.shape[0]
    sizes = set()
    for a in list(case.answers.values()) + [case.x]:
        for nbytes in (a.nbytes, a.nbytes // 2):
            sizes.update((nbytes, nbytes // n))

    def poison():
        buffers = [np.full(s, byte, np.uint8) for s in sorted(sizes) if s for _ in range(7)]
        del buffers
    return poison


def _combine(runs: list[Run]) -> Run:
    """One image at a time -> the batch: outputs and dX stacked, dW and db summed."""
    first_error = next((r.error for r in runs if r.error), None)
    out = Run(error=first_error, changed=tuple(dict.fromkeys(c for r in runs for c in r.changed)),
              notes=tuple(dict.fromkeys(n for r in runs for n in r.notes)))
    try:
        for name, join in (("out", np.stack), ("dx", np.stack), ("dw", sum), ("db", sum)):
            parts = [getattr(r, name) for r in runs]
            if all(p is not None for p in parts):
                setattr(out, name, join([np.asarray(p, np.float64) for p in parts]))
    except (ValueError, TypeError) as err:
        out.error = out.error or ("combine", err)
    return out


def _run(subject, case, byte) -> Run:
    poison = _poisoner(case, byte)
    if subject.batched:
        return subject.run(case, case.x, case.dout, poison)
    return _combine([subject.run(case, case.x[n], case.dout[n], poison)
                     for n in range(case.x.shape[0])])


def _decide_mode(subject, case) -> Run | None:
    """Batches or single images?  Returns the failed run when neither works."""
    batch = subject.run(case, case.x, None, lambda: None)
    if batch.error is None and np.ndim(batch.out) == 4:
        subject.batched = True
        return None
    if batch.error and batch.error[0] in ("init", "setup"):
        return batch  # never got as far as an image: undecided
    single = subject.run(case, case.x[0], None, lambda: None)
    if single.error is None or (batch.error and "unpack" in str(batch.error[1])):
        subject.batched = False
        return single if single.error else None
    subject.batched = True
    return batch


def _stage_failed(run: Run, quantity: str) -> bool:
    if not run.error:
        return False
    return quantity != "out" or run.error[0] not in _BACKWARD_STAGES


def _error_finding(subject, case, index, run) -> Finding:
    trial = Trial(case, "error", run.error[1])
    return Finding(subject.name, subject.kind, "error", case, index, explain(trial),
                   error=run.error, info={"line": learner_line(run.error[1])})


def _as_array(value):
    try:
        arr = np.asarray(value)
    except Exception:  # a learner's odd return value: it is simply wrong
        return None
    return arr if arr.dtype.kind in "biuf" else None


def _evaluate(subject, quantity, case, index, a: Run, b: Run) -> Finding | None:
    """None if the quantity is right on this case, else the finding."""
    if _stage_failed(a, quantity):
        return _error_finding(subject, case, index, a)
    if quantity == "update":
        if not a.changed:
            return None
        trial = Trial(case, "update", True, info={"names": a.changed})
        return Finding(subject.name, subject.kind, "update", case, index, explain(trial),
                       info=trial.info)
    got = _as_array(getattr(a, quantity))
    if close(got, case.answers[quantity]):
        return None
    alt = _as_array(getattr(b, quantity))
    trial = Trial(case, quantity, got, alt)
    mistakes = explain(trial) if got is not None else []
    return Finding(subject.name, subject.kind, quantity, case, index, mistakes, got=got,
                   alt=alt, info={"returned": type(getattr(a, quantity)).__name__})


def _not_checked(subject, quantity, runs) -> str | None:
    if quantity != "out" and not subject.has_backward:
        return "no_backward"
    if quantity in ("dw", "db"):
        notes = {n for a, _ in runs for n in a.notes if n.startswith(quantity)
                 or (quantity == "db" and n == "no_bias")}
        if notes and all(getattr(a, quantity) is None for a, _ in runs if not a.error):
            return sorted(notes)[0]
    return None


def run_subject(subject, cases) -> tuple[list[Finding], list[CheckResult]]:
    """Findings (setup first, then one per failing check) and the checks' tallies."""
    findings: list[Finding] = []
    try:
        failed = _decide_mode(subject, cases[0])
        if failed is not None and failed.error[0] in ("init", "setup"):
            return [_error_finding(subject, cases[0], 1, failed)], []
        layout = subject.layout
        if layout is not None and (layout.no_channel_axis or layout.one_bias):
            trial = Trial(cases[0], "setup", info={"weight_shape": layout.weight_shape,
                                                   "bias_shape": layout.bias_shape})
            findings.append(Finding(subject.name, subject.kind, "setup", cases[0], 0,
                                    explain(trial), info={**trial.info, **layout.labels}))
        runs, skipped = [], {}
        for case in cases:
            reason = subject.skip_reason(case)
            adapted = None if reason else layout.adapt(case) if layout is not None else case
            if adapted is None:
                skipped[reason or "channels"] = skipped.get(reason or "channels", 0) + 1
            runs.append(None if adapted is None else
                        (adapted, _run(subject, adapted, 0x7F), _run(subject, adapted, 0x5A)))
    except (Unbindable, LayoutError) as err:
        raise CannotUse(str(err)) from err
    checks = []
    seen_errors = set()
    for quantity in CHECKS[subject.kind]:
        result = CheckResult(subject.name, subject.kind, quantity, skipped=skipped)
        done = [r[1:] for r in runs if r is not None]
        result.note = _not_checked(subject, quantity, done)
        if result.note is None:
            for index, entry in enumerate(runs, 1):
                if entry is None:
                    continue
                case, a, b = entry
                result.run += 1
                finding = _evaluate(subject, quantity, case, index, a, b)
                if finding is None:
                    result.passed += 1
                elif not result.failed_at:
                    result.failed_at = index
                    if finding.error is None or id(finding.error[1]) not in seen_errors:
                        findings.append(finding)
                    if finding.error is not None:
                        seen_errors.add(id(finding.error[1]))
        checks.append(result)
    return findings, checks
