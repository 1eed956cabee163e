"""A folder of submitted notebooks to a gradebook (instructor side): each notebook's bytes
go, unread, to a sandboxed child that runs it (grader/sandbox.py, grader/child.py); what
comes back is judged here (grader/judge.py); the gradebook and the feedback are written
here (grader/feedback.py)."""

import collections
import concurrent.futures
import csv
import dataclasses
import importlib.util
import io
import itertools
import json
import os
import queue
import secrets
import shutil
import stat
import sys
import tempfile
import threading

from grader import sandbox as grader_sandbox
from grader import shards
from grader.child import NOTEBOOK_LIMIT as NOTEBOOK_SIZE_LIMIT, too_large
from grader.feedback import (ERRORS, _clean, _safe_filename, _spreadsheet_safe, feedback_filenames,  # noqa: F401
                             feedback_text, name_text)
from grader.judge import get_judge

COLUMNS = ['submission', 'status', 'passed', 'failed', 'score', 'first_mistake', 'isolated', 'detail']
CHILD_STATUSES = ('ok', 'error', 'no PPO class', 'not a notebook')  # what a child may report; the parent adds timeout
DETAIL_LIMIT = 500             # characters of a gradebook detail
NOTE_LIMIT, NOTES_LIMIT = 500, 20  # characters of one note from a submission's process, and how many
CELL_TIMEOUT = 10.0            # seconds one cell may run (the kit's own long cells skip while grading)
CASES_SHARE = 0.25             # of --timeout, kept for the cases after the cells (see cells_seconds)
CASES_SECONDS = 5.0
ISOLATION_CHOICES = ('auto', 'bwrap', 'none')
CANARY_TIMEOUT = 60.0          # seconds for the empty job that checks a new template
CANARY_NOTEBOOK = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
SANDBOX_UID_BASE, UIDS_PER_RUN = 2**20, 2**16  # as root: each submission of a run gets a uid of its own


class NotANotebook(Exception):
    """The file is not one grading reads (a link, a FIFO, too large)."""


# ------------------------------------------------------------------------------------
# One submission
# ------------------------------------------------------------------------------------

@dataclasses.dataclass
class Graded:
    row: dict
    notes: list
    report: object = None     # rl_kit.harness.Report when the cases ran


def submission_names(paths):
    """The gradebook name of each path: the file's stem, or its whole name where two
    files share a stem (alice.ipynb and alice.IPYNB), with control characters shown as
    escapes (feedback.name_text): a name is written to the terminal and the gradebook."""
    stems = [os.path.splitext(os.path.basename(path))[0] for path in paths]
    counts = collections.Counter(stems)
    return [name_text(stem if counts[stem] == 1 else os.path.basename(path)) for stem, path in zip(stems, paths)]


def empty_row(name, isolated):
    row = dict.fromkeys(COLUMNS, '')
    row.update(submission=name, passed=0, failed=0, score=0.0, isolated='yes' if isolated else 'no')
    return row


def read_submission(path, name, isolated):
    """(row, path) of a file to grade, or a finished Graded for one that is refused before its
    bytes are read (a symbolic link, a FIFO or device, larger than NOTEBOOK_SIZE_LIMIT). Never
    raises: whatever goes wrong with one file is that submission's row."""
    row = empty_row(name, isolated)
    try:
        _check_regular(os.lstat(path))
    except NotANotebook as exc:
        row.update(status='not a notebook', detail=_clean(exc, DETAIL_LIMIT))
    except OSError as exc:
        row.update(status='not a notebook', detail=_clean(f'cannot be read: {exc.strerror}', DETAIL_LIMIT))
    else:
        return row, path
    return Graded(row, [])


def _check_regular(status):
    if stat.S_ISLNK(status.st_mode):
        raise NotANotebook('a symbolic link, not a regular file: not read (submit the notebook itself)')
    if not stat.S_ISREG(status.st_mode):
        raise NotANotebook('not a regular file (a FIFO, device or socket): not read')
    if status.st_size > NOTEBOOK_SIZE_LIMIT:
        raise NotANotebook(too_large(status.st_size))


def _open_regular_file(path):
    """The open file (binary) of a regular file of at most NOTEBOOK_SIZE_LIMIT bytes, opened
    without following a link; NotANotebook otherwise (e.g. replaced by a link since)."""
    flags = os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_NONBLOCK', 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if os.path.islink(path):
            raise NotANotebook('a symbolic link, not a regular file: not read') from None
        raise
    file = open(fd, 'rb')
    try:
        _check_regular(os.fstat(fd))
    except BaseException:
        file.close()
        raise
    return file


def cells_seconds(timeout):
    """Of a submission's timeout, the seconds its cells may run in all: the rest is the cases'
    (a quarter, at least CASES_SECONDS, at most half)."""
    return timeout - min(max(CASES_SECONDS, CASES_SHARE * timeout), timeout / 2)


def grade_one(row, path, judge, template, timeout, memory_mb, cell_timeout=CELL_TIMEOUT, uid=None):
    """The Graded outcome of one submission: its notebook file's bytes are sent, unread, to a
    fresh child, which runs it and observes its PPO on the cases; the observations are judged
    here (raises only on a failure of the grader itself)."""
    row['isolated'] = 'yes' if template.isolated else 'no'
    job = ('{"cells_seconds": ' + json.dumps(cells_seconds(timeout)) + ', "cell_timeout": '
           + json.dumps(cell_timeout) + ', "cases": ' + judge.cases_json + '}').encode()
    try:
        with _open_regular_file(path) as notebook:
            outcome = template.run(job, timeout, memory_mb, notebook, uid)
    except (NotANotebook, OSError) as exc:
        row.update(status='not a notebook', detail=_clean(exc, DETAIL_LIMIT))
        return Graded(row, [])
    result = _parse(outcome.data)
    if outcome.timed_out:
        row.update(status='timeout', detail=f'did not finish within {timeout:g} s (an infinite loop?)')
        return Graded(row, [])
    if outcome.too_large:
        row.update(status='error', detail=f'its grading process sent more than {grader_sandbox.RESULT_LIMIT // 2**20} '
                                          'MB of results')
        return Graded(row, [])
    if result is None:
        how = (f'exited with code {outcome.exit_code}' if outcome.signal is None
               else f'was killed by signal {outcome.signal}')
        if outcome.data:
            how += ' after sending something that is not a result'
        row.update(status='error', detail=f'the grading process {how} before finishing (os._exit() or a crash)')
        return Graded(row, [])
    notes = [_clean(note, NOTE_LIMIT) for note in result['notes'][:NOTES_LIMIT]]
    more = result['more_notes'] + max(0, len(result['notes']) - NOTES_LIMIT)
    if more:
        notes.append(f'and {more} more notes (not shown)')
    if result['status'] != 'ok':
        row.update(status=result['status'], detail=_clean(result['detail'], DETAIL_LIMIT))
        return Graded(row, notes)
    report = judge.judge(result['observations'])
    mistakes = report.mistakes
    row.update(status='ok', passed=report.cases_passed, failed=report.total - report.cases_passed,
               score=round(100 * report.score, 1), first_mistake=mistakes[0].title if mistakes else '')
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
    more = result.setdefault('more_notes', 0)
    if not (isinstance(more, int) and not isinstance(more, bool) and 0 <= more < 2**31):
        return None
    if result['status'] == 'ok' and not isinstance(result.get('observations'), list):
        return None
    result.setdefault('detail', '')
    result['notes'] = notes
    return result


# ------------------------------------------------------------------------------------
# The batch
# ------------------------------------------------------------------------------------

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
    their own, so that a per-user process cap counts only theirs, and a new one for every
    submission, so that nothing a uid owns (a kernel keyring, a process) reaches the next."""
    start = SANDBOX_UID_BASE + (os.getpid() % 60_000) * UIDS_PER_RUN  # below 2**32 - 1
    return range(start, start + UIDS_PER_RUN)


class Slots:
    """The templates of the run, one per job slot; a template that fails is replaced."""

    def __init__(self, kit, isolated, count, log_folder):
        self.kit, self.isolated, self.log_folder = kit, isolated, log_folder
        self.free = queue.Queue()
        self.all = []
        self._uids, self._uids_lock = itertools.count(), threading.Lock()
        templates = [self._new(slot) for slot in range(count)]
        for template in templates:
            template.start()
        self.ready = templates

    def next_uid(self):
        """The uid of the next child (None: the template's, when grade.py is not root)."""
        if not (self.isolated and os.geteuid() == 0):
            return None
        with self._uids_lock:
            return run_uids()[next(self._uids) % UIDS_PER_RUN]

    def _new(self, slot):
        template = grader_sandbox.Template(self.kit, self.isolated, self.next_uid(),
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
        job = json.dumps({'cells_seconds': CANARY_TIMEOUT / 2, 'cell_timeout': CANARY_TIMEOUT / 2, 'cases': []})
        outcome = template.run(job.encode(), CANARY_TIMEOUT, 1024, CANARY_NOTEBOOK)
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


# packages with a GAE or a PPO loss of their own: importable by a submission if the grading
# environment has them (grader/README.md, "What a submission may import")
SOLVER_PACKAGES = ('stable_baselines3', 'sb3_contrib', 'torchrl', 'tianshou', 'rlax', 'cleanrl', 'skrl', 'rl_games',
                   'ray.rllib', 'pfrl', 'tensordict', 'elegantrl')


def importable_solvers():
    """The SOLVER_PACKAGES installed in this Python environment, which the sandbox exposes."""
    found = []
    for name in SOLVER_PACKAGES:
        try:
            if importlib.util.find_spec(name) is not None:
                found.append(name)
        except (ImportError, ValueError):  # a parent package missing ('ray' for 'ray.rllib')
            pass
    return found


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


def grade_folder(submissions, out, timeout=60.0, memory_mb=2048, hidden=None, jobs=2, progress=None,
                 isolation='auto', seed=None, log=_stderr, cell_timeout=CELL_TIMEOUT, shard=None, roster=None,
                 on_graded=None, feedback='fix'):
    """Grades every notebook of `submissions`; writes the gradebook, the feedback and the run's
    other outputs (grader/shards.py: batch.json, class_report.html, lms_grades.csv); returns the rows.
    seed: the secret seed of the cases (default: a fresh random one; never written anywhere);
    cell_timeout: the seconds one cell of a notebook may run; shard: (K, N) grades only the K-th
    of N shares of the folder; roster: a roster CSV file (grader/lms.py), read before grading;
    on_graded(graded) is called with each Graded; feedback: how much the feedback files give
    away, a level of rl_kit.levels.LEVELS."""
    paths = submission_paths(submissions)
    names = submission_names(paths)  # of the whole folder: a shard's rows are named as in a single run
    filenames = feedback_filenames(names)
    run = shards.Run(submissions, paths, shard, dict(timeout=timeout, memory_mb=memory_mb, hidden=hidden,
                                                     cell_timeout=cell_timeout), roster)
    paths, names, filenames = run.mine(paths), run.mine(names), run.mine(filenames)
    os.makedirs(os.path.join(out, 'feedback'), exist_ok=True)
    run_folder = tempfile.mkdtemp(prefix='grade-run-')
    slots = judge = None
    rows = [None] * len(paths)
    done = 0

    def finish(index, graded):
        nonlocal done
        rows[index] = graded.row
        done += 1
        _write_atomically(os.path.join(out, 'feedback', filenames[index] + '.md'),
                          feedback_text(graded, feedback))
        run.add(index, filenames[index], graded)
        if on_graded:
            on_graded(graded)
        if progress:
            progress(done, len(paths), graded.row)

    try:
        kit = grader_sandbox.make_kit(run_folder)
        isolated = choose_isolation(isolation, kit, log)
        solvers = importable_solvers()
        if solvers:
            log(f'WARNING: submissions can import {", ".join(solvers)} from this Python environment, with a GAE '
                'or PPO loss of its own: grade in an environment made from requirements.txt alone')
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

        def work(row, path):
            template = slots.free.get()
            try:
                return grade_one(row, path, judge, template, timeout, memory_mb, cell_timeout, slots.next_uid())
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
    write_gradebook(os.path.join(out, 'gradebook.csv'), rows)
    run.write(out, rows)
    return rows


def write_gradebook(path, rows):
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=COLUMNS, lineterminator='\n')
    writer.writeheader()
    writer.writerows({key: _spreadsheet_safe(value) for key, value in row.items()} for row in rows)
    _write_atomically(path, table.getvalue())
