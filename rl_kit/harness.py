"""A small grading harness: typed failures, cases, and a report a student reads at a glance.

Generic: nothing here knows about PPO (rl_tests.py is the exercise built on it).

A test is a generator. It yields
  - a string: the heading of a new section,
  - (passed: bool, message: str): one check; the message says what is wrong if it failed,
  - None: the end of a case (a group of checks about one input),
  - a CaseResult: a whole case, already judged (rl_tests.judge() makes these),
and may use `yield from check_torch_tensor(...)`, which returns True when the tensor has
the right type, shape and dtype. collect(test) runs it into a Report; run_tests(test)
also shows the report.
"""

import enum
import html
import linecache
import math
import os
import re
import sys
import traceback
from dataclasses import dataclass, field

import numpy as np
import torch

from rl_kit.levels import LEVELS, check_level

__all__ = ['Kind', 'Failure', 'Mistake', 'Finding', 'CaseResult', 'Report', 'LEVELS', 'WrongCall',
           'check_torch_tensor', 'call', 'FAILED', 'describe_exception', 'collect', 'run_tests', 'fmt']


def fmt(x):
    """A number as a student reads it: 4 significant digits (and 0, never -0)."""
    return f'{x + 0.0:.4g}'


# ------------------------------------------------------------------------------------
# Typed results
# ------------------------------------------------------------------------------------

class Kind(enum.Enum):
    """What went wrong in a failed check. Code decides by kind, never by message text."""
    NOT_IMPLEMENTED = 'not implemented'  # the student's function raises NotImplementedError
    RAISED = 'raised'                    # the student's code raised another exception
    NOT_RUN = 'not run'                  # the case could not run (e.g. the networks were changed)
    WRONG_TYPE = 'wrong type'            # not a tensor, or the wrong number of return values
    WRONG_SHAPE = 'wrong shape'
    WRONG_DTYPE = 'wrong dtype'
    NOT_FINITE = 'not finite'            # NaN or infinity
    GRADIENT = 'gradient'                # detached when it must not be, or the other way round, or wrong
    IN_PLACE = 'in place'                # the inputs were changed
    WRONG_VALUE = 'wrong value'
    CHECK = 'check'                      # a plain (passed, message) check of a test generator failed
    WRONG_CALL = 'wrong call'            # the tests were called with the wrong thing (test_ppo(PPO(...)))
    STOPPED = 'stopped'                  # the test generator itself crashed


@dataclass(frozen=True)
class Failure:
    kind: Kind
    message: str
    function: str = None   # the student's function it concerns, e.g. 'compute_loss'

    def to_data(self):
        return {'kind': self.kind.name, 'message': self.message, 'function': self.function}

    @classmethod
    def from_data(cls, data, limit=2000):
        """Validates a Failure that crossed a process boundary; ValueError on anything else."""
        if not isinstance(data, dict) or set(data) != {'kind', 'message', 'function'}:
            raise ValueError('a failure must be a dict with kind, message and function')
        if data['kind'] not in Kind.__members__ or not isinstance(data['message'], str):
            raise ValueError(f'not a failure: {str(data)[:100]}')
        if data['function'] is not None and not (isinstance(data['function'], str)
                                                 and re.fullmatch(r'[A-Za-z_][\w.]{0,99}', data['function'])):
            raise ValueError('failure.function must be a Python name or None')
        return cls(Kind[data['kind']], _cap(data['message'], limit), data['function'])  # a name: at most 100 long


@dataclass(frozen=True)
class Mistake:
    """A known mistake, put into words: what it is, and how to fix it. parts: the ids of
    mistakes it is made of (a mistake named with all its parts is named instead of them)."""
    id: str
    title: str
    fix: str
    parts: tuple = ()

    def explain(self):
        return f'{self.title}: {self.fix}'


@dataclass(frozen=True)
class Finding:
    """A behaviour read off a case (a probe's reading): one sentence, and the known mistake it
    is (None when it has no name)."""
    mistake: Mistake
    detail: str
    outputs: tuple = ()   # the outputs of the case it explains


@dataclass
class CaseResult:
    """One judged case: the failed checks; for each wrong output the known mistakes (or pairs of
    mistakes) that reproduce it exactly (options) and the behaviour read off it (findings); and
    notes on what kind of difference it is. The Report names, for every case, the mistakes
    that explain it best across all cases (mistakes, details, partial)."""
    section: str                 # heading it is shown under
    group: str = ''              # for points: cases of a group are scored together
    title: str = ''              # what the case is about, shown next to its number
    failures: list = field(default_factory=list)   # [Failure]
    mistakes: list = field(default_factory=list)   # [Mistake] named for this case (set by the Report)
    ruled_out: list = field(default_factory=list)  # ids of known mistakes the output shows it does not make
    notes: list = field(default_factory=list)      # [str] what kind of difference it is (where, which steps)
    checks: int = 0
    number: int = 0              # 1, 2, ... within its section (set by the Report)
    options: dict = field(default_factory=dict)    # {output: [(Mistake, ...)]} each reproduces it exactly
    findings: list = field(default_factory=list)   # [Finding]
    wrong: list = field(default_factory=list)      # names of the outputs whose values are wrong
    details: dict = field(default_factory=dict)    # {mistake id: [sentence]} what was read (set by the Report)
    observed: list = field(default_factory=list)   # [sentence] read, with no name (set by the Report)
    partial: str = ''            # what the named mistakes do not explain (set by the Report)
    chosen: dict = field(default_factory=dict)     # {output: (mistake id, ...)} named for it (set by the Report)
    scalar: set = field(default_factory=set)       # outputs that are single numbers (a match may be chance)
    composites: list = field(default_factory=list)  # [Mistake] made of parts, to name where all parts are named
    follows: dict = field(default_factory=dict)    # {output: output it is wrong only through} (critic_targets)
    noted: dict = field(default_factory=dict)      # {note: the output it is about, None if several}

    @property
    def passed(self):
        return not self.failures


def _cap(text, limit):
    return text if len(text) <= limit else text[:limit - 1] + '…'


# ------------------------------------------------------------------------------------
# Checks and calls of student code
# ------------------------------------------------------------------------------------

def tensor_problem(x, name, shape=None, dtype=None, requires_grad=None, finite=True):
    """None if x is a torch.Tensor as required, else a Failure saying what is wrong."""
    if isinstance(x, np.ndarray):
        return Failure(Kind.WRONG_TYPE, f'{name} is a numpy array; return a torch.Tensor (e.g. torch.as_tensor(...))')
    if not isinstance(x, torch.Tensor):
        return Failure(Kind.WRONG_TYPE, f'{name} must be a torch.Tensor, got {type(x).__name__}')
    return shape_problem(name, tuple(x.shape), str(x.dtype), x.requires_grad,
                         bool(torch.isfinite(x.detach()).all()) if x.is_floating_point() else True,
                         shape, dtype and str(dtype), requires_grad, finite, sample=x)


def shape_problem(name, got_shape, got_dtype, got_requires_grad, got_finite, shape=None, dtype=None,
                  requires_grad=None, finite=True, sample=None):
    """The checks of tensor_problem() on a tensor's description (shape, dtype, ...)."""
    if shape is not None and tuple(got_shape) != tuple(shape):
        problem = f'{name} has shape {tuple(got_shape)}, expected {tuple(shape)}'
        if math.prod(got_shape) == math.prod(shape):
            problem += ' (same number of elements: reshape or squeeze it)'
        return Failure(Kind.WRONG_SHAPE, problem)
    if dtype is not None and got_dtype != dtype:
        return Failure(Kind.WRONG_DTYPE, f'{name} has dtype {got_dtype}, expected {dtype}')
    if finite and not got_finite:
        values = f': {short(sample)}' if sample is not None else ''
        return Failure(Kind.NOT_FINITE, f'{name} contains NaN or infinity{values}')
    if requires_grad is True and not got_requires_grad:
        return Failure(Kind.GRADIENT, f'{name} does not require gradients: it was detached (or computed under '
                                      'torch.no_grad()), so training could not learn from it')
    if requires_grad is False and got_requires_grad:
        return Failure(Kind.GRADIENT, f'{name} requires gradients; it should be detached (.detach())')
    return None


def check_torch_tensor(x, name, shape=None, dtype=None, requires_grad=None, finite=True):
    """Yields one check that x is a torch.Tensor with the given shape and dtype; returns
    True if it is, so that value checks can be skipped when it is not.

    requires_grad=True/False also checks that gradients do/do not flow through x;
    finite=True checks for NaN and infinity.
    """
    problem = tensor_problem(x, name, shape, dtype, requires_grad, finite)
    yield (problem is None, problem.message if problem else f'{name} is a well-formed tensor')
    return problem is None


class _Failed:
    """Returned by call() when the student's function raised or returned the wrong kind of thing."""

    def __repr__(self):
        return 'FAILED'


FAILED = _Failed()


def call(function, *args, returns=None, **kwargs):
    """Calls student code: (result, None), or (FAILED, Failure) if it raised or, with
    returns=k, did not return a tuple of k values. Never raises (SystemExit included)."""
    name = getattr(function, '__name__', 'the function')
    try:
        result = function(*args, **kwargs)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - student code may raise anything
        return FAILED, exception_failure(exc, name)
    if returns is not None and not (isinstance(result, (tuple, list)) and len(result) == returns):
        got = f'a {type(result).__name__}' if not isinstance(result, (tuple, list)) else f'{len(result)} values'
        return FAILED, Failure(Kind.WRONG_TYPE, f'{name}() must return {returns} values, got {got}', name)
    return result, None


# files whose frames are never the student's code (rl_tests adds itself, a grader its own)
HARNESS_FILES = {os.path.abspath(__file__)}


def exception_failure(exc, function_name=None):
    kind = Kind.NOT_IMPLEMENTED if isinstance(exc, NotImplementedError) else Kind.RAISED
    return Failure(kind, describe_exception(exc, function_name), function_name)


UNSHOWN = '(its message could not be shown)'   # for an exception whose __str__ raises


def describe_exception(exc, function_name=None):
    """One line: what was raised (by function_name, if given), with the student's line."""
    where = _student_frame(exc)
    if isinstance(exc, NotImplementedError):
        name = where.name if where is not None else function_name or 'a function'
        return f'{name}() is not implemented yet: fill in its TODO, run the cell, then run the tests again'
    try:
        message = str(exc)
    except Exception:   # an exception class of the student's whose __str__ itself fails
        message = UNSHOWN
    text = f'{type(exc).__name__}: {message}'.rstrip(': ')
    if function_name:
        text = f'{function_name}() raised {text}'
    if where is not None:
        line = (where.line or linecache.getline(where.filename, where.lineno)).strip()
        cell = f'{where.filename[1:-1]}, ' if where.filename.startswith('<cell ') else ''
        text += f' ({cell}in {where.name}, line {where.lineno}' + (f': {line})' if line else ')')
    return text


def _student_frame(exc):
    # the deepest frame of the traceback that is not in the harness, a library or Python itself
    libraries = {os.path.dirname(os.__file__), os.path.dirname(torch.__file__), os.path.dirname(np.__file__)}
    harness = {os.path.abspath(path) for path in HARNESS_FILES}
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.startswith('<frozen'):
            continue
        path = os.path.abspath(frame.filename) if not frame.filename.startswith('<') else frame.filename
        if path in harness or 'site-packages' in path or any(path.startswith(lib) for lib in libraries):
            continue
        return frame
    return None


def short(x, limit=6):
    """The first values of a tensor or a sequence of numbers, as a student reads them."""
    values = x.detach().flatten().tolist() if isinstance(x, torch.Tensor) else list(x)
    text = ', '.join(fmt(v) for v in values[:limit])
    return f'[{text}{", ..." if len(values) > limit else ""}]'


# ------------------------------------------------------------------------------------
# The report
# ------------------------------------------------------------------------------------

VALUE_KINDS = {Kind.WRONG_VALUE, Kind.GRADIENT}   # failures whose message says where a value is wrong


class WrongCall(Exception):
    """Raised by a test generator that was called with the wrong thing (one line, no cases)."""


@dataclass
class Report:
    """What the tests found. Truthy only when every case passed. Creating it names, for every
    case, the mistakes that explain it best across all cases."""
    cases: list = field(default_factory=list)   # [CaseResult]
    stopped: Failure = None                     # set if the tests could not run to the end

    def __post_init__(self):
        counts = {}
        for case in self.cases:
            counts[case.section] = counts.get(case.section, 0) + 1
            case.number = counts[case.section]
        self._scores = self._score()
        self._support = self._count_support()
        for case in self.cases:
            if case.options or case.findings:
                self._name(case)
        self._compose()

    def __bool__(self):
        return bool(self.cases) and self.stopped is None and all(case.passed for case in self.cases)

    def of_groups(self, *groups):
        """The part of this report about the cases of some groups (one test of an autograder):
        its own summary, with the names this whole report gave."""
        part = Report.__new__(Report)
        part.cases = [case for case in self.cases if case.group in groups]
        part.stopped = self.stopped
        part._scores, part._support, part._read = self._scores, self._support, self._read
        return part

    @property
    def total(self):
        return len(self.cases)

    @property
    def cases_passed(self):
        return sum(case.passed for case in self.cases)

    @property
    def score(self):
        """Fraction of cases that passed."""
        return self.cases_passed / self.total if self.cases else 0.0

    # -- naming: one bug, one name ---------------------------------------------------

    def _score(self):
        """{mistake id: evidence}: the cases it explains (as an option for some output, or
        read off a probe) less the cases that rule it out. Two mistakes can give the same
        output on one case, but rarely on all."""
        score = {}
        for case in self.cases:
            ids = {m.id for options in case.options.values() for option in options for m in option}
            ids |= {f.mistake.id for f in case.findings if f.mistake is not None}
            ids |= {m.id for m in case.mistakes}
            for mistake_id in ids:
                score[mistake_id] = score.get(mistake_id, 0) + 1
        for case in self.cases:
            for mistake_id in set(case.ruled_out):
                if mistake_id in score:
                    score[mistake_id] -= 1
        return score

    def _count_support(self):
        """{mistake id: the number of cases where it explains an output or was read}."""
        support = {}
        for case in self.cases:
            ids = {m.id for options in case.options.values() for option in options for m in option}
            ids |= {f.mistake.id for f in case.findings if f.mistake is not None}
            for mistake_id in ids:
                support[mistake_id] = support.get(mistake_id, 0) + 1
        self._read = {f.mistake.id for case in self.cases for f in case.findings if f.mistake is not None}
        return support

    def _compose(self):
        """A mistake whose parts are all named somewhere (one on a case, one on another) is named
        instead of them everywhere: one bug, one name."""
        named = {m.id: m for case in self.cases for m in case.mistakes}
        known = {m.id: m for case in self.cases for options in case.options.values() for option in options
                 for m in option}
        known.update({m.id: m for case in self.cases for m in case.composites})
        for composite in list(known.values()):
            if not composite.parts or not set(composite.parts) <= set(named):
                continue
            for case in self.cases:
                if any(m.id in composite.parts for m in case.mistakes):
                    kept = [m for m in case.mistakes if m.id not in composite.parts and m.id != composite.id]
                    case.mistakes = kept + [composite]
                    details = [d for part in composite.parts for d in case.details.pop(part, [])]
                    if details:
                        case.details.setdefault(composite.id, []).extend(details)
                    case.chosen = {output: tuple(dict.fromkeys(composite.id if i in composite.parts else i
                                                               for i in ids)) for output, ids in case.chosen.items()}

    def _name(self, case):
        """Chooses the mistakes named for a case: for each wrong output the option with the most
        evidence over the whole report, among those that agree with what was read off it."""
        chosen = []
        known = {}
        for output in case.wrong or list(case.options):
            if output in case.follows:   # wrong only through another output: what explains that explains it
                continue
            read = [f.mistake for f in case.findings if f.mistake is not None and output in f.outputs]
            options = list(case.options.get(output, []))
            # one number can match a mistake by chance: not one that the rest rules out; nor can one case
            # (where λ = 0, say, two mistakes give the same values) name a mistake that others rule out
            options = [option for option in options if all(
                self._support.get(m.id, 0) > 1 or m.id in self._read or self._scores.get(m.id, 0) > 0
                for m in option)]
            for option in options:
                for mistake in option:
                    known.setdefault(mistake.id, mistake)
            if read:   # each behaviour read off the case is a bug of its own: name each, in the best agreeing option
                picks = []
                for r in dict.fromkeys(read):
                    agree = [option for option in options if any(r.id == m.id or r.id in m.parts for m in option)]
                    picks.append(self._best(agree) if agree else (r,))
            elif options:
                picks = [self._best(options)]
            else:
                continue
            case.chosen[output] = tuple(dict.fromkeys(m.id for pick in picks for m in pick))
            for mistake in (m for pick in picks for m in pick):
                known[mistake.id] = mistake
                if mistake.id not in [m.id for m in chosen]:
                    chosen.append(mistake)
        ids = {m.id for m in chosen}
        for mistake in list(known.values()):   # a mistake and its parts: the mistake alone
            if mistake.parts and set(mistake.parts) <= ids | {mistake.id} and mistake.id not in ids \
                    and any(p in ids for p in mistake.parts):
                chosen = [m for m in chosen if m.id not in mistake.parts] + [mistake]
                ids = {m.id for m in chosen}
        case.mistakes = chosen
        for finding in case.findings:
            owner = next((m for m in chosen if finding.mistake is not None and (
                m.id == finding.mistake.id or finding.mistake.id in m.parts)), None)
            if owner is not None:
                case.details.setdefault(owner.id, []).append(finding.detail)
            elif finding.detail not in case.observed:
                case.observed.append(finding.detail)
        explained = {output for output in case.wrong
                     if any(all(m.id in ids for m in option) for option in case.options.get(output, []))
                     or any(f.mistake is not None and f.mistake.id in ids and output in f.outputs
                            for f in case.findings)}
        explained |= {output for output, source in case.follows.items() if source in explained}
        for output, source in case.follows.items():
            if source in case.chosen:
                case.chosen[output] = case.chosen[source]
        unexplained = [output for output in case.wrong if output not in explained]
        if chosen and explained and unexplained:
            titles = '; '.join(m.title for m in chosen)
            case.partial = (f'{titles}: {"this explains" if len(chosen) == 1 else "these explain"} '
                            f'{" and ".join(sorted(explained))}, not {" and ".join(unexplained)}, which '
                            f'{"is" if len(unexplained) == 1 else "are"} wrong in another way too')

    def _best(self, options):
        """The option that agrees most with what the probes read anywhere in the report, then
        with the most evidence (by its weakest mistake); of equals, the smaller."""
        return max(options, key=lambda option: (sum(m.id in self._read for m in option),
                                                min(self._scores.get(m.id, 0) for m in option), -len(option)))

    @property
    def mistakes(self):
        """The named mistakes, most likely first ([Mistake]): by their evidence over all cases,
        ties in order of appearance."""
        first = {}
        for case in self.cases:
            for mistake in case.mistakes:
                first.setdefault(mistake.id, mistake)
        return [first[i] for i in sorted(first, key=lambda i: -self._scores.get(i, 0))]  # stable sort

    def failures(self, kind=None):
        """Every Failure of every case (of the given Kind)."""
        return [failure for case in self.cases for failure in case.failures if kind is None or failure.kind == kind]

    def group_counts(self):
        """{group: (cases passed, cases)}."""
        counts = {}
        for case in self.cases:
            passed, total = counts.get(case.group, (0, 0))
            counts[case.group] = (passed + case.passed, total + 1)
        return counts

    def summary_line(self, level='fix'):
        """The report's first line: what passes and, from level 'named' on, the likely mistakes."""
        rank = check_level(level)
        if self:
            return f'All {self.total} cases pass. Well done!'
        if not self.cases:
            return 'No cases were run' + (f': {self.stopped.message}' if self.stopped else '.')
        line = f'{self.cases_passed} of {self.total} cases pass'
        mistakes = self.mistakes
        missing = sorted({failure.function or 'a function' for failure in self.failures(Kind.NOT_IMPLEMENTED)})
        if mistakes and rank >= LEVELS.index('named'):
            line += '; likely mistakes: ' + '; '.join(mistake.title for mistake in mistakes[:4])
        elif missing:
            line += '; not implemented yet: ' + ', '.join(f'{name}()' for name in missing)
        elif rank >= LEVELS.index('located'):
            functions = sorted({failure.function for case in self.cases for failure in case.failures
                                if failure.function})
            if functions:
                line += '; the failing cases test ' + ' and '.join(f'{name}()' for name in functions)
        return line + '.'

    def __repr__(self):
        return f'Report({self.cases_passed} of {self.total} cases pass)'

    # -- rendering ----------------------------------------------------------------------

    def _lines(self, level):
        """(kind, text) with kind in summary, heading, pass, fail, more, note, hint, fix: every
        line of the report at a level (hint from 'named' on, fix at 'fix')."""
        rank = check_level(level)
        yield 'summary', self.summary_line(level)
        section, seen = None, {}
        cases = self.cases
        index = 0
        while index < len(cases):
            case = cases[index]
            if case.section != section:
                section = case.section
                yield 'heading', section
            # a run of cases that fail the same way, with nothing else to say, is one line
            run = index + 1
            while (run < len(cases) and cases[run].section == section and not case.passed
                   and _same_failure(case, cases[run])):
                run += 1
            label = f'case {case.number}' + (f' ({case.title})' if case.title else '')
            if run - index > 1:
                label = f'cases {case.number}-{cases[run - 1].number}'
            index = run
            if case.passed:
                yield 'pass', label
                continue
            shown = [f for f in case.failures if rank >= 1 or f.kind not in VALUE_KINDS]
            first, rest = (shown[0], shown[1:]) if shown else (None, [])
            yield 'fail', label + (f': {first.message}' if first is not None else '')
            for failure in rest:
                yield 'more', failure.message
            if rank >= 1:
                for note in case.notes:
                    yield 'note', note
            if rank >= 2:
                for mistake in case.mistakes:
                    details = case.details.get(mistake.id, [])
                    if mistake.id in seen and not details:
                        yield 'hint', f'{mistake.title} (as above)'
                        continue
                    yield 'hint', mistake.title + (f': {"; ".join(details)}' if details else '')
                    if rank >= 3 and mistake.id not in seen:
                        yield 'fix', mistake.fix
                    seen[mistake.id] = True
                for sentence in case.observed:
                    yield 'hint', sentence
                if case.partial and case.partial not in seen:
                    yield 'hint', case.partial
                    seen[case.partial] = True
        if self.stopped is not None and self.cases and self.stopped not in self.cases[-1].failures:
            yield 'fail', self.stopped.message

    def to_text(self, level='fix'):
        """The report as plain text at a level of LEVELS (default 'fix': everything)."""
        marks = {'summary': '', 'heading': '', 'pass': '  ✓ ', 'fail': '  ✗ ', 'more': '    ', 'note': '      · ',
                 'hint': '      → ', 'fix': '        Fix: '}
        lines = []
        for kind, text in self._lines(level):
            if kind == 'heading':
                lines.append('')
            lines.append(marks[kind] + text)
        return '\n'.join(lines)

    def to_markdown(self, level='fix'):
        """The report as Markdown at a level of LEVELS (the grader's feedback files)."""
        marks = {'summary': '**', 'heading': '\n### ', 'pass': '- ✓ ', 'fail': '- ✗ ', 'more': '  ', 'note': '  - ',
                 'hint': '  - → ', 'fix': '    Fix: '}
        return '\n'.join(marks[kind] + text + ('**' if kind == 'summary' else '')
                         for kind, text in self._lines(level)) + '\n'

    def to_html(self, level='fix'):
        """The report as HTML at a level of LEVELS: the names behind a "Hint" and the fixes
        behind a "Fix" (HTML <details>, which need no kernel), for a student to open on purpose."""
        rank = check_level(level)
        styles = {'summary': 'font-weight:bold', 'heading': 'font-weight:bold;margin-top:0.6em',
                  'pass': 'color:#1a7f37', 'fail': 'color:#cf222e', 'more': 'color:#cf222e;margin-left:1.5em',
                  'note': 'color:#57606a;margin-left:2.5em', 'hint': 'color:#6e5200', 'fix': 'color:#0a3069'}
        marks = {'summary': '', 'heading': '', 'pass': '✓ ', 'fail': '✗ ', 'more': '', 'note': '· ', 'hint': '→ ',
                 'fix': ''}
        rows, folded = [], []

        def fold():
            for kind, title in (('hint', 'Hint'), ('fix', 'Fix')):
                texts = [text for k, text in folded if k == kind]
                if texts:
                    body = ''.join(f'<div style="{styles[kind]}">{marks[kind]}{html.escape(t)}</div>' for t in texts)
                    rows.append(f'<details style="margin-left:2.5em"><summary style="cursor:pointer;color:#57606a">'
                                f'{title}</summary>{body}</details>')
            folded.clear()

        for kind, text in self._lines(level):
            if kind == 'summary' and rank >= 2 and self.mistakes:
                rows.append(f'<div style="{styles[kind]}">{html.escape(self.summary_line("located"))}</div>')
                folded.append(('hint', 'likely mistakes: ' + '; '.join(m.title for m in self.mistakes[:4]) + '.'))
                fold()
                continue
            if kind in ('hint', 'fix'):
                folded.append((kind, text))
                continue
            fold()
            rows.append(f'<div style="{styles[kind]}">{marks[kind]}{html.escape(text)}</div>')
        fold()
        return '<div style="font-family:monospace;line-height:1.5">' + ''.join(rows) + '</div>'


def _same_failure(a, b):
    """Two failed cases with the same failures of a kind that says nothing of values, and
    nothing else to say (a crash, a function not implemented)."""
    return (not b.passed and [(f.kind, f.message) for f in a.failures] == [(f.kind, f.message) for f in b.failures]
            and all(f.kind not in VALUE_KINDS for f in a.failures)
            and not (a.notes or b.notes or a.options or b.options or a.findings or b.findings))


def collect(tests):
    """Runs a test generator and returns its Report, without printing anything."""
    cases, section, case = [], 'tests', None
    stopped = None
    to_send = None
    try:
        while True:
            item = tests.send(to_send)
            to_send = None
            if item is None:
                case = None
            elif isinstance(item, str):
                section, case = item, None
            elif isinstance(item, CaseResult):
                cases.append(item)
                section, case = item.section, None
            else:
                passed, message = item
                if case is None:
                    case = CaseResult(section)
                    cases.append(case)
                case.checks += 1
                if not passed:
                    case.failures.append(Failure(Kind.CHECK, str(message)))
    except StopIteration:
        pass
    except WrongCall as exc:
        stopped = Failure(Kind.WRONG_CALL, str(exc))
    except Exception as exc:  # noqa: BLE001 - the tests must never crash the grading cell
        stopped = Failure(Kind.STOPPED, 'the tests stopped early: ' + describe_exception(exc))
        cases.append(CaseResult(section, failures=[stopped]))
    if stopped is None and not cases:
        stopped = Failure(Kind.STOPPED, 'no checks were run')
    return Report(cases, stopped)


def in_kernel():
    """True inside a Jupyter kernel, where rich output can be displayed."""
    ipython = sys.modules.get('IPython')
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, 'kernel', None) is not None


def show(report, level='fix'):
    """Shows a report at a level of LEVELS: coloured, with the hints and fixes folded, in
    Jupyter; plain text elsewhere."""
    check_level(level)
    if in_kernel():
        from IPython.display import display
        display({'text/plain': report.to_text(level), 'text/html': report.to_html(level)}, raw=True)
    else:
        print(report.to_text(level))


def run_tests(tests, level='fix'):
    """Runs a test generator and shows its report at a level of LEVELS. Returns nothing, so
    that a notebook does not echo the report object under it; use collect() to get the Report."""
    check_level(level)
    show(collect(tests), level)
