"""Batch grading of submitted notebooks (instructor side).

    python grade.py SUBMISSIONS_DIR --out OUT_DIR [--timeout 60] [--memory-mb 2048]
                    [--hidden hidden_cases.py] [--jobs 2] [--isolation auto|bwrap|none]

Every *.ipynb (any case) in SUBMISSIONS_DIR is graded on its own:
  1. Its code cells are read as Jupyter runs them, and only the code that defines things
     is kept: imports, functions, classes, aliases and constant expressions (see
     notebook_code.py). Training, rendering and any other top-level statement is not run.
  2. That code runs in a sandboxed child process (grader_child.py, grader_sandbox.py):
     with bubblewrap, it sees only the Python environment and the student-side modules,
     has no network, its own processes, /tmp and user, and memory, process, file-size and
     time caps. It receives the inputs of the cases and sends back only what the
     submission's compute_advantages() and compute_loss() returned (plain data, size-bounded).
  3. This process judges: the cases are drawn afresh from a secret seed on every run
     (the course's and the kit's case structures with new numbers, plus the --hidden
     cases), the expected values come from ppo_reference.py, and known mistakes are named
     by running ppo_mistakes.py's wrong variants on the same inputs. Nothing the
     submission's process says about itself counts, other than its outputs.
Writes OUT_DIR/gradebook.csv (one row per submission, written atomically by this process
only) and OUT_DIR/feedback/<submission>.md (the report the student would see).

Statuses: ok, timeout, error, no PPO class, not a notebook. `passed` and `failed` count
test cases; `score` is the percentage of cases passed; `isolated` says whether the
submission ran under bubblewrap (yes) or as a plain process (no: bubblewrap is missing or
cannot run here; grade.py says so at the start).
"""

import argparse
import collections
import concurrent.futures
import csv
import dataclasses
import hashlib
import io
import json
import os
import queue
import re
import secrets
import shutil
import stat
import sys
import tempfile
import threading
import time

import grader_sandbox
import notebook_code

COLUMNS = ['submission', 'status', 'passed', 'failed', 'score', 'first_mistake', 'isolated', 'detail']
CHILD_STATUSES = ('ok', 'error', 'no PPO class')  # what a child may report; the parent adds the others
DETAIL_LIMIT = 500             # characters of a gradebook detail
NOTE_LIMIT, NOTES_LIMIT = 500, 20  # characters of one note from a submission's process, and how many
NOTEBOOK_SIZE_LIMIT = 64 * 2**20
ERRORS = 'backslashreplace'    # how text that cannot be UTF-8 (lone surrogates) is written
ISOLATION_CHOICES = ('auto', 'bwrap', 'none')
CANARY_TIMEOUT = 60.0          # seconds for the empty job that checks a new template
SANDBOX_UID_BASE, UIDS_PER_RUN = 200_000, 64


# ------------------------------------------------------------------------------------
# What is judged: the cases, their expected outputs and the known mistakes' outputs
# ------------------------------------------------------------------------------------

def load_hidden_cases(path, rng):
    """The rl_tests.Case list of an instructor's file defining hidden_cases(rng).
    Raises ValueError naming what is wrong."""
    namespace = {'__name__': '__hidden_cases__'}
    with open(path, encoding='utf-8') as file:
        exec(compile(file.read(), path, 'exec'), namespace)
    if not callable(namespace.get('hidden_cases')):
        raise ValueError(f'{path} does not define hidden_cases(rng); define it to return a list of rl_tests.Case '
                         '(made with rl_tests.advantages_case or rl_tests.loss_case)')
    import rl_tests
    cases = list(namespace['hidden_cases'](rng))
    for case in cases:
        if not isinstance(case, rl_tests.Case):
            raise ValueError(f'hidden_cases(rng) in {path} returned a {type(case).__name__}; expected rl_tests.Case '
                             'objects (made with rl_tests.advantages_case or rl_tests.loss_case)')
        try:  # what the sandboxed child will do with it
            rl_tests.Case.from_data(json.loads(json.dumps(case.to_data())))
        except ValueError as exc:
            raise ValueError(f'hidden case {case.id!r} of {path} cannot be sent to a submission: {exc}') from None
    return cases


class Judge:
    """The instructor's side of every case of one run: drawn from the secret seed, with
    the reference's outputs computed once. The known mistakes' outputs on every case are
    computed in the background while grading runs (10-20 s of one core per run) and used
    from the first submission with a wrong value on."""

    def __init__(self, seed, hidden=None, base=None):
        """base: a Judge of the same seed without hidden cases, whose work is reused."""
        import numpy as np
        import torch
        import ppo_reference
        import rl_tests
        torch.set_num_threads(1)
        self.rl_tests = rl_tests
        if base is None:
            self.cases = rl_tests.make_cases(seed)
            self.expected, self._mistakes, self._locks = {}, {}, {}
        else:
            self.cases = list(base.cases)
            self.expected, self._mistakes, self._locks = dict(base.expected), base._mistakes, dict(base._locks)
        if hidden:
            extra = load_hidden_cases(hidden, np.random.default_rng([2, seed]))
            taken = {case.id for case in self.cases}
            for case in extra:
                if case.id in taken:
                    raise ValueError(f'hidden case id {case.id!r} is already used; give hidden cases their own ids')
                taken.add(case.id)
            self.cases += extra
        for case in [case for case in self.cases if case.id not in self.expected]:
            self.expected[case.id] = rl_tests.observe(ppo_reference.PPO, case)
            if self.expected[case.id].failure is not None:
                raise ValueError(f'the reference solution fails on case {case.id!r}: '
                                 f'{self.expected[case.id].failure.message}')
            self._locks[case.id] = threading.Lock()
        # the children receive exactly this: the inputs, never an expected value
        self.cases_json = json.dumps([case.to_data() for case in self.cases])
        self._background, self._stop = None, threading.Event()

    def start_background(self):
        """Computes the known mistakes' outputs of every case in a thread, until
        stop_background() (grade_folder stops it before it returns)."""
        if self._background is None or not self._background.is_alive():
            self._stop = threading.Event()
            self._background = threading.Thread(target=self._precompute, args=(self._stop,), daemon=True,
                                                name='known mistakes')
            self._background.start()

    def stop_background(self):
        self._stop.set()
        if self._background is not None:
            self._background.join()

    def _precompute(self, stop):
        for case in self.cases:
            if stop.is_set():
                return
            self.mistakes(case, stop)

    def mistakes(self, case, stop=None):
        """{mistake id: Observation} of the known mistakes on this case's inputs (None if
        `stop` was set before they were all computed)."""
        import ppo_mistakes
        with self._locks[case.id]:
            if case.id not in self._mistakes:
                found = {}
                for mistake in ppo_mistakes.applicable(case):
                    if stop is not None and stop.is_set():
                        return None
                    found[mistake] = self.rl_tests.observe(ppo_mistakes.mutant(mistake), case)
                self._mistakes[case.id] = found
            return self._mistakes[case.id]

    def judge(self, observations):
        """The rl_harness.Report of one submission's observations (list, one per case).
        Only values and gradients count: the child's claims about its outputs do not
        (judge(trusted=False)). Mistakes are matched as soon as one case has a wrong
        value, on every case, since evidence for and against them ranks them."""
        import rl_harness
        received = [self._observation(observations, index, case) for index, case in enumerate(self.cases)]

        def verdicts(with_mistakes):
            return [self.rl_tests.judge(case, observation, self.expected[case.id],
                                        self.mistakes(case) if with_mistakes else {}, trusted=False)
                    for case, observation in zip(self.cases, received)]

        results = verdicts(False)
        if any(failure.kind == rl_harness.Kind.WRONG_VALUE for result in results for failure in result.failures):
            results = verdicts(True)
        return rl_harness.Report(results)

    def _observation(self, observations, index, case):
        """The index-th observation, validated; garbage becomes a failed case."""
        import rl_harness
        problem = None
        if index >= len(observations):
            problem = 'no result came back for this case'
        else:
            try:
                observation = self.rl_tests.Observation.from_data(observations[index])
                if observation.case_id != case.id:
                    problem = 'the result that came back belongs to another case'
                else:
                    return observation
            except (ValueError, TypeError, KeyError, OverflowError, RecursionError) as exc:
                problem = f'the result that came back is malformed ({_clean(str(exc), 200)})'
        failure = rl_harness.Failure(rl_harness.Kind.NOT_RUN, problem, case.function)
        return self.rl_tests.Observation(case.id, failure)


# ------------------------------------------------------------------------------------
# One submission
# ------------------------------------------------------------------------------------

@dataclasses.dataclass
class Graded:
    row: dict
    notes: list
    report: object = None     # rl_harness.Report when the cases ran


def submission_names(paths):
    """The gradebook name of each path: the file's stem, or its whole name where two
    files share a stem (alice.ipynb and alice.IPYNB)."""
    stems = [os.path.splitext(os.path.basename(path))[0] for path in paths]
    counts = collections.Counter(stems)
    return [stem if counts[stem] == 1 else os.path.basename(path) for stem, path in zip(stems, paths)]


def empty_row(name, isolated):
    row = dict.fromkeys(COLUMNS, '')
    row.update(submission=name, passed=0, failed=0, score=0.0, isolated='yes' if isolated else 'no')
    return row


def _clean(text, limit):
    """One line of at most `limit` characters, without control characters."""
    text = re.sub(r'[\x00-\x1f\x7f]+', ' ', str(text)).strip()
    return text if len(text) <= limit else text[:limit - 1] + '…'


def read_submission(path, name, isolated):
    """(row, Definitions) of a readable notebook, or a finished Graded for one that is not.
    Never raises: whatever goes wrong while reading one notebook is that submission's row."""
    row = empty_row(name, isolated)
    try:
        start = time.monotonic()
        cells = notebook_code.read_notebook(_read_regular_file(path))
        # one budget for the whole notebook: what nbformat took counts too
        return row, notebook_code.definitions(cells, notebook_code.READ_BUDGET - (time.monotonic() - start))
    except (notebook_code.NotANotebook, OSError) as exc:
        row.update(status='not a notebook', detail=_clean(exc, DETAIL_LIMIT))
    except Exception as exc:  # noqa: BLE001 - one notebook must not stop the batch (RecursionError, MemoryError...)
        row.update(status='error', detail=_clean(f'the grader could not read this notebook: {type(exc).__name__}: '
                                                 f'{exc}', DETAIL_LIMIT))
    return Graded(row, [])


def _read_regular_file(path):
    """The bytes of a regular file (at most NOTEBOOK_SIZE_LIMIT); a symbolic link (e.g. to the
    instructor's solution), a FIFO or a device is refused with NotANotebook."""
    flags = os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_NONBLOCK', 0)
    if os.path.islink(path):
        raise notebook_code.NotANotebook('a symbolic link, not a regular file: not read (submit the notebook itself)')
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if os.path.islink(path):  # replaced by a link since
            raise notebook_code.NotANotebook('a symbolic link, not a regular file: not read') from None
        raise
    with open(fd, 'rb') as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise notebook_code.NotANotebook('not a regular file (a FIFO, device or socket): not read')
        data = file.read(NOTEBOOK_SIZE_LIMIT + 1)
    if len(data) > NOTEBOOK_SIZE_LIMIT:
        raise notebook_code.NotANotebook(f'larger than {NOTEBOOK_SIZE_LIMIT // 2**20} MB')
    return data


def grade_one(row, found, judge, template, timeout, memory_mb):
    """The Graded outcome of one readable submission (raises only on a failure of the grader itself)."""
    row['isolated'] = 'yes' if template.isolated else 'no'
    job = ('{"pieces": ' + json.dumps([piece.to_data() for piece in found.pieces])
           + ', "cases": ' + judge.cases_json + '}').encode()
    outcome = template.run(job, timeout, memory_mb)
    notes = list(found.notes)
    result = _parse(outcome.data)
    if outcome.timed_out:
        row.update(status='timeout', detail=f'did not finish within {timeout:g} s (an infinite loop?)')
        return Graded(row, notes)
    if outcome.too_large:
        row.update(status='error', detail=f'its grading process sent more than {grader_sandbox.RESULT_LIMIT // 2**20} '
                                          'MB of results')
        return Graded(row, notes)
    if result is None:
        how = (f'exited with code {outcome.exit_code}' if outcome.signal is None
               else f'was killed by signal {outcome.signal}')
        if outcome.data:
            how += ' after sending something that is not a result'
        row.update(status='error', detail=f'the grading process {how} before finishing (os._exit() or a crash)')
        return Graded(row, notes)
    notes += [_clean(note, NOTE_LIMIT) for note in result['notes'][:NOTES_LIMIT]]
    if result['status'] != 'ok':
        row.update(status=result['status'], detail=_clean(result['detail'], DETAIL_LIMIT))
        return Graded(row, notes)
    report = judge.judge(result['observations'])
    mistakes = report.mistakes
    row.update(status='ok', passed=report.cases_passed, failed=report.total - report.cases_passed,
               score=round(100 * report.score, 1), first_mistake=mistakes[0].title if mistakes else '')
    if not report:
        for name, (cell, line) in found.unrun_names().items():
            notes.append(f'`{name}` is assigned in cell {cell}, line {line}, which grading does not run: it runs only '
                         'imports, functions, classes, aliases and constants. If your code needs it, define it inside '
                         'your class or function.')
    return Graded(row, notes, report)


def _parse(data):
    """The child's result message, checked for shape; None for garbage."""
    try:
        result = json.loads(data.decode('utf-8'))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(result, dict) or result.get('status') not in CHILD_STATUSES:
        return None
    notes = result.get('notes', [])
    if not isinstance(notes, list) or not all(isinstance(note, str) for note in notes):
        return None
    if not isinstance(result.get('detail', ''), str):
        return None
    if result['status'] == 'ok' and not isinstance(result.get('observations'), list):
        return None
    result.setdefault('detail', '')
    result['notes'] = notes
    return result


def feedback_text(graded):
    row = graded.row
    lines = [f'# Feedback: {row["submission"]}', '']
    if row['status'] == 'ok':
        lines.append(f'Score: {row["score"]:g}% ({row["passed"]} of {row["passed"] + row["failed"]} test cases '
                     'passed).')
    else:
        lines.append(f'Your notebook could not be graded (status: {row["status"]}): {row["detail"]}.')
    if graded.notes:
        lines += ['', 'Notes:'] + [f'- {note}' for note in graded.notes]
    if graded.report is not None:
        lines += ['', graded.report.to_markdown()]
    return _no_html('\n'.join(lines).rstrip('\n') + '\n')


def _no_html(markdown):
    """The feedback with every `<` that could open an HTML tag, comment or declaration in
    Markdown (CommonMark: `<` then a letter, `/`, `!` or `?`) written as `&lt;`: a student's
    exception text or file name must not render as HTML in a learning platform. Our own
    text holds no HTML; `a < b` and `<=` stay as they are."""
    return re.sub(r'<(?=[A-Za-z/!?])', '&lt;', markdown)


# ------------------------------------------------------------------------------------
# The batch
# ------------------------------------------------------------------------------------

def _safe_filename(name):
    safe = re.sub(r'[^\w.\-]+', '_', name, flags=re.ASCII).strip('.') or 'submission'
    if safe != name:  # keep names that had to change apart from one another
        safe += '-' + hashlib.sha1(name.encode('utf-8', 'surrogateescape')).hexdigest()[:8]
    return safe


def feedback_filenames(names):
    """A distinct safe file name (without .md) for each gradebook name: a name that is
    itself the safe form of another (`Jos_Garc_a-f5364fde` beside `José García`), or equal
    to another but for case (on a case-insensitive disk), gets a number added."""
    taken, result = set(), []
    for name in names:
        base = candidate = _safe_filename(name)
        number = 1
        while candidate.lower() in taken:
            number += 1
            candidate = f'{base}-{number}'
        taken.add(candidate.lower())
        result.append(candidate)
    return result


def _spreadsheet_safe(value):
    """A text cell that a spreadsheet would run as a formula (a file named `=HYPERLINK(...)
    .ipynb`) gets a leading apostrophe, as OWASP recommends against CSV injection."""
    if isinstance(value, str) and value.startswith(('=', '+', '-', '@', '\t', '\r')):
        return "'" + value
    return value


def _write_atomically(path, text):
    folder = os.path.dirname(path)
    with tempfile.NamedTemporaryFile('w', encoding='utf-8', errors=ERRORS, dir=folder, delete=False, newline='',
                                     prefix='.' + os.path.basename(path)) as file:
        file.write(text)
        temporary = file.name
    os.replace(temporary, path)


def submission_paths(folder):
    """The notebooks of a folder (*.ipynb in any case), sorted; names that are not valid
    UTF-8 come as str with surrogate escapes."""
    names = [name for name in os.listdir(folder) if name.lower().endswith('.ipynb')]
    # not followed: a symbolic link (even to a folder) gets its row, refused by read_submission
    return sorted(os.path.join(folder, name) for name in names
                  if os.path.islink(os.path.join(folder, name)) or not os.path.isdir(os.path.join(folder, name)))


def _stderr(message):
    print(message, file=sys.stderr, flush=True)


def run_uids():
    """The uids this process gives its sandboxes when it runs as root: unprivileged ones of
    their own, so that a per-user process cap counts only theirs."""
    start = SANDBOX_UID_BASE + (os.getpid() % 50_000) * UIDS_PER_RUN
    return range(start, start + UIDS_PER_RUN)


class Slots:
    """The templates of the run, one per job slot; a template that fails is replaced."""

    def __init__(self, kit, isolated, count, log_folder):
        self.kit, self.isolated, self.log_folder = kit, isolated, log_folder
        self.free = queue.Queue()
        self.all = []
        templates = [self._new(slot) for slot in range(count)]
        for template in templates:
            template.start()
        self.ready = templates

    def _new(self, slot):
        uid = None
        if self.isolated and os.geteuid() == 0:  # its own unprivileged uid: process caps count per uid
            uid = run_uids()[slot % UIDS_PER_RUN]
        template = grader_sandbox.Template(self.kit, self.isolated, uid,
                                           os.path.join(self.log_folder, f'template-{slot}.log'))
        template.slot = slot
        self.all.append(template)
        return template

    def wait_ready(self):
        for template in self.ready:
            self.free.put(self._checked(template.wait_ready()))

    @staticmethod
    def _checked(template):
        """The template, once an empty job has run in a child: a sandbox that cannot be set
        up on this host (e.g. namespaces forbidden inside) shows here, not in every row."""
        outcome = template.run(b'{"pieces": [], "cases": []}', CANARY_TIMEOUT, 1024)
        result = _parse(outcome.data)
        if result is None or result['status'] != 'no PPO class':
            template.close()
            detail = result['detail'] if result else f'exit code {outcome.exit_code}, signal {outcome.signal}'
            raise grader_sandbox.SandboxError(f'an empty job failed in the sandbox: {_clean(detail, DETAIL_LIMIT)}')
        return template

    def replace(self, template):
        template.close()
        return self._checked(self._new(template.slot).start().wait_ready())

    def close(self):
        for template in self.all:
            template.close()


def choose_isolation(isolation, kit, log):
    """True to isolate with bubblewrap, False for plain processes (said in the log)."""
    if isolation not in ISOLATION_CHOICES:
        raise ValueError(f'isolation must be one of {ISOLATION_CHOICES}, got {isolation!r}')
    if isolation == 'none':
        log('isolation: none (--isolation none): submissions run as plain processes with resource caps only; '
            'every row is marked isolated=no')
        return False
    available, why = grader_sandbox.probe(kit)
    if available:
        log('isolation: bubblewrap (no network, only the Python environment and the student modules visible, '
            'own processes, /tmp and user, resource caps)')
        return True
    if isolation == 'bwrap':
        raise grader_sandbox.SandboxError(f'--isolation bwrap: {why}')
    log(f'WARNING: no isolation: {why}. Submissions run as plain processes with resource caps only, and could read '
        'files or reach the network; every row is marked isolated=no.')
    return False


_JUDGES = {}  # (seed, hidden file, its mtime): Judge -- runs of one process with the same seed share them


def get_judge(seed, hidden=None):
    key = (seed, hidden, hidden and os.path.getmtime(hidden))
    if key not in _JUDGES:
        _JUDGES[key] = Judge(seed, hidden, base=get_judge(seed) if hidden else None)
    return _JUDGES[key]


def grade_folder(submissions, out, timeout=60.0, memory_mb=2048, hidden=None, jobs=2, progress=None,
                 isolation='auto', seed=None, log=_stderr):
    """Grades every notebook of `submissions`; writes the gradebook and feedback; returns the rows.
    seed: the secret seed of the cases (default: a fresh random one; never written anywhere)."""
    paths = submission_paths(submissions)
    os.makedirs(os.path.join(out, 'feedback'), exist_ok=True)
    run_folder = tempfile.mkdtemp(prefix='grade-run-')
    slots = judge = None
    rows = [None] * len(paths)
    names = submission_names(paths)
    filenames = feedback_filenames(names)
    done = 0

    def finish(index, graded):
        nonlocal done
        rows[index] = graded.row
        done += 1
        _write_atomically(os.path.join(out, 'feedback', filenames[index] + '.md'),
                          feedback_text(graded))
        if progress:
            progress(done, len(paths), graded.row)

    try:
        kit = grader_sandbox.make_kit(run_folder)
        isolated = choose_isolation(isolation, kit, log)
        readable = {}
        for index, (path, name) in enumerate(zip(paths, names)):
            found = read_submission(path, name, isolated)
            if isinstance(found, Graded):
                finish(index, found)
            else:
                readable[index] = found
        if readable:  # the templates import torch while this process computes the expected values
            slots = Slots(kit, isolated, max(1, min(jobs, len(readable))), run_folder)
            judge = get_judge(secrets.randbits(62) if seed is None else seed, hidden)
            judge.start_background()
            try:
                slots.wait_ready()
            except grader_sandbox.SandboxError as exc:
                if isolation == 'bwrap' or not isolated:
                    raise
                log(f'WARNING: no isolation: the bubblewrap sandbox did not start ({exc}); every row is marked '
                    'isolated=no.')
                slots.close()
                isolated = False
                for row in rows:
                    if row is not None:
                        row['isolated'] = 'no'
                slots = Slots(kit, False, max(1, min(jobs, len(readable))), run_folder)
                slots.wait_ready()

        def work(row, found):
            template = slots.free.get()
            try:
                return grade_one(row, found, judge, template, timeout, memory_mb)
            except grader_sandbox.SandboxError:
                template = slots.replace(template)
                raise
            finally:
                slots.free.put(template)

        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(work, *found): index for index, found in readable.items()}
            for future in concurrent.futures.as_completed(futures):
                index = futures[future]
                try:
                    graded = future.result()
                except Exception as exc:  # noqa: BLE001 - one submission must not stop the batch
                    graded = Graded(readable[index][0], [])
                    graded.row.update(status='error', detail=_clean(f'the grader failed on this submission: '
                                                                    f'{type(exc).__name__}: {exc}', DETAIL_LIMIT))
                finish(index, graded)
    finally:
        if judge is not None:
            judge.stop_background()
        if slots is not None:
            slots.close()
        shutil.rmtree(run_folder, ignore_errors=True)
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=COLUMNS, lineterminator='\n')
    writer.writeheader()
    writer.writerows({key: _spreadsheet_safe(value) for key, value in row.items()} for row in rows)
    _write_atomically(os.path.join(out, 'gradebook.csv'), table.getvalue())
    return rows


def summary(rows):
    statuses = collections.Counter(row['status'] for row in rows)
    graded = [row for row in rows if row['status'] == 'ok']
    lines = [f'{len(rows)} submissions: ' + ', '.join(f'{count} {status}' for status, count in statuses.most_common())]
    if rows:
        lines.append(f'mean score {sum(float(row["score"]) for row in rows) / len(rows):.1f}% over all submissions'
                     + (f', {sum(row["score"] for row in graded) / len(graded):.1f}% over the {len(graded)} graded'
                        if graded else ''))
    mistakes = collections.Counter(row['first_mistake'] for row in graded if row['first_mistake'])
    if mistakes:
        lines.append('most common mistakes: ' + '; '.join(f'{title} ({count})' for title, count in mistakes.most_common(5)))
    isolated = collections.Counter(row['isolated'] for row in rows)
    if isolated.get('no'):
        lines.append(f'{isolated["no"]} submissions ran without isolation (isolated=no)')
    return '\n'.join(lines)


def main(argv=None):
    title = __doc__.split('\n\n')[0].rstrip('.')
    parser = argparse.ArgumentParser(description=f'{title}: notebooks in, gradebook out.')
    parser.add_argument('submissions', help='folder with the submitted .ipynb files')
    parser.add_argument('--out', required=True, help='folder for gradebook.csv and feedback/')
    parser.add_argument('--timeout', type=float, default=60.0, help='seconds per submission (default: %(default)s)')
    parser.add_argument('--memory-mb', type=int, default=2048,
                        help='memory cap per submission: its address space, including the ~0.7 GB of libraries '
                             '(torch) imported before it runs (default: %(default)s)')
    parser.add_argument('--hidden', help='a Python file defining hidden_cases(rng), a list of extra rl_tests.Case')
    parser.add_argument('--jobs', type=int, default=2, help='submissions graded at once (default: %(default)s)')
    parser.add_argument('--isolation', choices=ISOLATION_CHOICES, default='auto',
                        help='bwrap: require bubblewrap; none: plain processes; auto (default): bubblewrap if it '
                             'works here, else plain processes with a warning')
    args = parser.parse_args(argv)
    if not os.path.isdir(args.submissions):
        parser.error(f'not a folder: {args.submissions}')
    if args.timeout <= 0 or args.memory_mb <= 0 or args.jobs <= 0:
        parser.error('--timeout, --memory-mb and --jobs must be positive')
    hidden = os.path.abspath(args.hidden) if args.hidden else None
    if hidden is not None:
        try:
            import numpy as np
            load_hidden_cases(hidden, np.random.default_rng(0))
        except Exception as exc:  # noqa: BLE001 - any mistake in the instructor's file, said before grading
            parser.error(f'the hidden cases cannot be used: {type(exc).__name__}: {exc}')

    def progress(done, total, row):
        print(f'[{done}/{total}] {row["submission"]}: {row["status"]}'
              + (f', {row["score"]:g}%' if row['status'] == 'ok' else f' ({row["detail"][:100]})'), flush=True)

    start = time.perf_counter()
    try:
        rows = grade_folder(args.submissions, args.out, args.timeout, args.memory_mb, hidden, args.jobs, progress,
                            args.isolation)
    except grader_sandbox.SandboxError as exc:
        parser.exit(1, f'grade.py: {exc}\n')
    print(summary(rows))
    print(f'gradebook: {os.path.join(args.out, "gradebook.csv")} ({time.perf_counter() - start:.0f} s)')
    return 0


if __name__ == '__main__':
    sys.stdout.reconfigure(errors=ERRORS)
    sys.exit(main())
