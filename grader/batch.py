"""A folder of submitted notebooks to a gradebook (instructor side): read each notebook,
run its code in a sandboxed child (grader/sandbox.py, grader/child.py), judge what comes
back (grader/judge.py), write the gradebook and the feedback (grader/feedback.py)."""

import collections
import concurrent.futures
import csv
import dataclasses
import io
import json
import os
import queue
import secrets
import shutil
import stat
import sys
import tempfile
import time

from grader import notebooks as notebook_code
from grader import sandbox as grader_sandbox
from grader.feedback import ERRORS, _clean, _safe_filename, _spreadsheet_safe, feedback_filenames, feedback_text  # noqa: F401
from grader.judge import get_judge

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
# One submission
# ------------------------------------------------------------------------------------

@dataclasses.dataclass
class Graded:
    row: dict
    notes: list
    report: object = None     # rl_kit.harness.Report when the cases ran


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


def grade_folder(submissions, out, timeout=60.0, memory_mb=2048, hidden=None, jobs=2, progress=None,
                 isolation='auto', seed=None, log=_stderr, feedback='fix'):
    """Grades every notebook of `submissions`; writes the gradebook and feedback; returns the rows.
    seed: the secret seed of the cases (default: a fresh random one; never written anywhere).
    feedback: how much the feedback files give away, a level of rl_kit.harness.LEVELS."""
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
                          feedback_text(graded, feedback))
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
