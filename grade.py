"""Batch grading of submitted notebooks (instructor side).

    python grade.py SUBMISSIONS_DIR --out OUT_DIR [--timeout 60] [--memory-mb 2048]
                    [--hidden hidden_tests.py] [--jobs 2]

Every *.ipynb in SUBMISSIONS_DIR is graded on its own:
  1. From its code cells, only the code that defines things is kept: imports, functions,
     classes and assignments of plain constants. Training, rendering and any other
     top-level statement is not run.
  2. That code runs in a separate Python process, in an empty temporary folder, with a
     wall-clock timeout and a memory cap; the process then runs rl_tests.test_ppo(PPO)
     (and the --hidden tests) on the submission's PPO class.
Writes OUT_DIR/gradebook.csv (one row per submission, written atomically) and
OUT_DIR/feedback/<submission>.md (the report the student would see in the notebook).

Statuses: ok, timeout, error, no PPO class, not a notebook. `passed` and `failed` count
test cases (groups of checks on one input); `score` is the percentage of cases passed.
The subprocess isolates faults (crashes, sys.exit, infinite loops, huge output, files
written); it is not a security sandbox against deliberately malicious code.
"""

import argparse
import ast
import collections
import concurrent.futures
import csv
import hashlib
import io
import json
import linecache
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.abspath(__file__))
COLUMNS = ['submission', 'status', 'passed', 'failed', 'score', 'first_mistake', 'detail']
LOG_LIMIT = 4 * 1024       # characters of the worker's error log shown in a detail
FILE_SIZE_LIMIT = 64 * 2**20


# ------------------------------------------------------------------------------------
# Taking the definitions out of a notebook
# ------------------------------------------------------------------------------------

class NotANotebook(Exception):
    pass


def definitions(notebook_text):
    """(pieces, notes, skipped): the defining statements of all code cells, in order, as
    (cell, line, code); notes on cells that could not be parsed; and {name: (cell, line)}
    of the names assigned by statements that are not run. Raises NotANotebook for
    anything but a notebook."""
    try:
        notebook = json.loads(notebook_text)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise NotANotebook(f'not valid JSON ({exc})') from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get('cells'), list):
        raise NotANotebook('valid JSON, but not a notebook (no list of cells)')
    pieces, notes, skipped = [], [], {}
    for number, cell in enumerate(notebook['cells'], 1):
        if not isinstance(cell, dict) or cell.get('cell_type') != 'code':
            continue
        source = cell.get('source', '')
        source = ''.join(source) if isinstance(source, list) else str(source)
        # IPython syntax is not Python: drop magics and shell escapes
        source = '\n'.join('' if line.lstrip().startswith(('%', '!')) else line for line in source.splitlines())
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            notes.append(f'cell {number} was skipped: it does not parse ({type(exc).__name__}: {exc})')
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                    or _is_constant_assignment(node):
                decorators = getattr(node, 'decorator_list', [])
                code = ''.join(f'@{ast.get_source_segment(source, d)}\n' for d in decorators)
                code += ast.get_source_segment(source, node)
                pieces.append((number, decorators[0].lineno if decorators else node.lineno, code))
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for name in ast.walk(target):
                        if isinstance(name, ast.Name):
                            skipped.setdefault(name.id, (number, node.lineno))
    return pieces, notes, skipped


def _is_constant_assignment(node):
    if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
        return False
    try:
        ast.literal_eval(node.value)
        return True
    except (ValueError, TypeError, SyntaxError, RecursionError):
        return False


# ------------------------------------------------------------------------------------
# The worker: runs in its own process, one submission
# ------------------------------------------------------------------------------------

class _Discard(io.TextIOBase):
    """stdout and stderr of the submission: printing costs nothing and goes nowhere."""

    def writable(self):
        return True

    def write(self, text):
        return len(text)


def worker(job_path):
    """Grades one submission described by the JSON file job_path; writes job_path + '.result'."""
    with open(job_path, encoding='utf-8') as file:
        job = json.load(file)
    # limits set here, in the worker itself: a preexec_fn is not safe in a threaded parent
    _limit_resources(job['memory_mb'])
    result_path = job_path + '.result'
    sys.path.insert(0, ROOT)
    import torch
    torch.set_num_threads(1)
    import rl_tests
    rl_tests.HARNESS_FILES.add(os.path.abspath(__file__))  # feedback quotes the student's lines only

    def finish(**result):
        temporary = result_path + '.partial'
        with open(temporary, 'w', encoding='utf-8') as file:
            json.dump(result, file)
        os.replace(temporary, result_path)

    real_stdout, real_stderr = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = _Discard()
    namespace = {'__name__': '__submission__', '__builtins__': __builtins__}
    notes = list(job['notes'])
    try:
        for cell, line, code in job['pieces']:
            filename = f'<cell {cell}>'
            # line numbers as in the cell, so that feedback quotes the student's line
            padded = '\n' * (line - 1) + code
            linecache.cache[filename] = (len(padded), None, padded.splitlines(True), filename)
            compiled = compile(padded, filename, 'exec')
            try:
                exec(compiled, namespace)
            except ImportError as exc:
                if code.startswith(('import ', 'from ')):
                    notes.append(f'skipped `{code.splitlines()[0]}` (cell {cell}): {exc}')
                    continue
                raise
    except BaseException as exc:  # noqa: BLE001 - includes SystemExit from the submission
        sys.stdout, sys.stderr = real_stdout, real_stderr
        what = 'called sys.exit()' if isinstance(exc, SystemExit) else 'raised an exception'
        return finish(status='error', notes=notes,
                      detail=f'the notebook {what} while defining its code: ' + rl_tests.describe_exception(exc))

    PPO = namespace.get('PPO')
    if not isinstance(PPO, type):
        sys.stdout, sys.stderr = real_stdout, real_stderr
        return finish(status='no PPO class', notes=notes, detail='no class named PPO is defined')

    tests = [rl_tests.test_ppo(PPO)]
    if job.get('hidden'):
        tests.append(load_hidden_tests(job['hidden'])(PPO))

    def all_tests():
        for generator in tests:
            yield from generator

    try:
        report = rl_tests.collect(all_tests())
    except BaseException as exc:  # noqa: BLE001 - e.g. sys.exit() inside a method
        sys.stdout, sys.stderr = real_stdout, real_stderr
        return finish(status='error', notes=notes,
                      detail='the tests could not finish: ' + rl_tests.describe_exception(exc))
    sys.stdout, sys.stderr = real_stdout, real_stderr
    # a name the tests missed that the notebook assigns in a statement grading does not run
    messages = [message for case in report.cases for message in case.failures] + [report.stopped or '']
    for name in sorted({match for message in messages for match in re.findall(r"name '(\w+)' is not defined", message)}):
        if name in job['skipped']:
            cell, line = job['skipped'][name]
            notes.append(f'`{name}` is assigned in cell {cell}, line {line}, which grading does not run: it runs '
                         'only imports, functions, classes and constants. Define it inside your class or function.')
    finish(status='error' if report.stopped else 'ok', detail=report.stopped or '', notes=notes,
           passed=report.cases_passed, failed=len(report.cases) - report.cases_passed,
           score=round(100 * report.score, 1), mistakes=report.mistakes, feedback=report.to_markdown())


def load_hidden_tests(path):
    """The hidden_tests(PPO) generator function defined by an instructor's file."""
    namespace = {'__name__': '__hidden_tests__'}
    with open(path, encoding='utf-8') as file:
        exec(compile(file.read(), path, 'exec'), namespace)
    if not callable(namespace.get('hidden_tests')):
        raise ValueError(f'{path} does not define hidden_tests(PPO)')
    return namespace['hidden_tests']


def _limit_resources(memory_mb):
    """Caps this (worker) process: address space, and the size of any file it writes."""
    import resource
    memory = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails instead of killing


# ------------------------------------------------------------------------------------
# The batch
# ------------------------------------------------------------------------------------

def _empty_row(path):
    """(name, row): a submission's gradebook row before anything is known of it."""
    name = os.path.splitext(os.path.basename(path))[0]
    row = dict.fromkeys(COLUMNS, '')
    row.update(submission=name, passed=0, failed=0, score=0.0)
    return name, row


def grade_one(path, timeout, memory_mb, hidden):
    """The gradebook row and the feedback text of one submission."""
    name, row = _empty_row(path)
    try:
        with open(path, encoding='utf-8') as file:
            pieces, notes, skipped = definitions(file.read())
    except (NotANotebook, UnicodeDecodeError, OSError) as exc:
        row.update(status='not a notebook', detail=str(exc))
        return row, _feedback(name, row, [])

    with tempfile.TemporaryDirectory(prefix='grade-') as folder:
        job_path = os.path.join(folder, 'job.json')
        with open(job_path, 'w', encoding='utf-8') as file:
            json.dump({'pieces': pieces, 'notes': notes, 'skipped': skipped, 'hidden': hidden,
                       'memory_mb': memory_mb}, file)
        work = os.path.join(folder, 'work')
        os.mkdir(work)
        log_path = os.path.join(folder, 'worker.log')
        environment = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONHASHSEED='0',
                           PYTHONDONTWRITEBYTECODE='1')
        with open(log_path, 'wb') as log:
            process = subprocess.Popen([sys.executable, os.path.abspath(__file__), '--worker', job_path],
                                       cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                                       env=environment, start_new_session=True)  # its own process group
            try:
                process.wait(timeout=timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
            try:  # also whatever the submission started and left running
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
        result_path = job_path + '.result'
        if timed_out and not os.path.exists(result_path):
            row.update(status='timeout', detail=f'did not finish within {timeout:g} s (an infinite loop?)')
            return row, _feedback(name, row, notes)
        if not os.path.exists(result_path):
            with open(log_path, 'rb') as log:
                tail = log.read()[-LOG_LIMIT:].decode('utf-8', 'replace').strip()
            last = tail.splitlines()[-1] if tail else ''
            memory = ' (out of memory?)' if 'MemoryError' in tail else ''
            row.update(status='error', detail=f'the grading process exited with code {process.returncode} before '
                                              f'finishing (os._exit() or a crash){memory}' + (f': {last}' if last else ''))
            return row, _feedback(name, row, notes)
        with open(result_path, encoding='utf-8') as file:
            result = json.load(file)

    row['status'] = result['status']
    row['detail'] = result.get('detail', '')
    if 'passed' in result:
        row.update(passed=result['passed'], failed=result['failed'], score=result['score'],
                   first_mistake=(result['mistakes'] or [''])[0])
    return row, _feedback(name, row, result.get('notes', []), result.get('feedback'))


def _feedback(name, row, notes, report=None):
    lines = [f'# Feedback: {name}', '']
    if row['status'] == 'ok':
        lines.append(f'Score: {row["score"]:g}% ({row["passed"]} of {row["passed"] + row["failed"]} test cases '
                     f'passed).')
    else:
        lines.append(f'Your notebook could not be graded (status: {row["status"]}): {row["detail"]}.')
    if notes:
        lines += ['', 'Notes:'] + [f'- {note}' for note in notes]
    if report:
        lines += ['', report]
    return '\n'.join(lines).rstrip('\n') + '\n'


def _safe_filename(name):
    safe = re.sub(r'[^\w.\-]+', '_', name).strip('.') or 'submission'
    if safe != name:  # keep names that had to change apart from one another
        safe += '-' + hashlib.sha1(name.encode('utf-8')).hexdigest()[:8]
    return safe


def _write_atomically(path, text):
    folder = os.path.dirname(path)
    with tempfile.NamedTemporaryFile('w', encoding='utf-8', dir=folder, delete=False, newline='',
                                     prefix='.' + os.path.basename(path)) as file:
        file.write(text)
        temporary = file.name
    os.replace(temporary, path)


def grade_folder(submissions, out, timeout=60.0, memory_mb=2048, hidden=None, jobs=2, progress=None):
    """Grades every *.ipynb of `submissions`; writes the gradebook and feedback; returns the rows."""
    paths = sorted(os.path.join(submissions, name) for name in os.listdir(submissions) if name.endswith('.ipynb'))
    os.makedirs(os.path.join(out, 'feedback'), exist_ok=True)
    rows = [None] * len(paths)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(grade_one, path, timeout, memory_mb, hidden): index for index, path in enumerate(paths)}
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            index = futures[future]
            try:
                row, feedback = future.result()
            except Exception as exc:  # noqa: BLE001 - one submission must not stop the batch
                name, row = _empty_row(paths[index])
                row.update(status='error', detail=f'the grader failed on this submission: {type(exc).__name__}: {exc}')
                feedback = _feedback(name, row, [])
            rows[index] = row
            _write_atomically(os.path.join(out, 'feedback', _safe_filename(row['submission']) + '.md'), feedback)
            if progress:
                progress(done, len(paths), row)
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=COLUMNS, lineterminator='\n')
    writer.writeheader()
    writer.writerows(rows)
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
    return '\n'.join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ['--worker']:
        worker(argv[1])
        os._exit(0)  # do not wait for threads or children the submission left running
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0] + ': notebooks in, gradebook out.')
    parser.add_argument('submissions', help='folder with the submitted .ipynb files')
    parser.add_argument('--out', required=True, help='folder for gradebook.csv and feedback/')
    parser.add_argument('--timeout', type=float, default=60.0, help='seconds per submission (default: %(default)s)')
    parser.add_argument('--memory-mb', type=int, default=2048, help='memory cap per submission (default: %(default)s)')
    parser.add_argument('--hidden', help='a Python file defining hidden_tests(PPO), a generator of extra cases')
    parser.add_argument('--jobs', type=int, default=2, help='submissions graded at once (default: %(default)s)')
    args = parser.parse_args(argv)
    if not os.path.isdir(args.submissions):
        parser.error(f'not a folder: {args.submissions}')
    if args.hidden is not None:
        try:
            load_hidden_tests(args.hidden)
        except Exception as exc:  # noqa: BLE001
            parser.error(f'the hidden tests cannot be used: {type(exc).__name__}: {exc}')
    if args.timeout <= 0 or args.memory_mb <= 0:
        parser.error('--timeout and --memory-mb must be positive')
    hidden = os.path.abspath(args.hidden) if args.hidden else None

    def progress(done, total, row):
        print(f'[{done}/{total}] {row["submission"]}: {row["status"]}'
              + (f', {row["score"]:g}%' if row['status'] == 'ok' else f' ({row["detail"][:100]})'), flush=True)

    start = time.perf_counter()
    rows = grade_folder(args.submissions, args.out, args.timeout, args.memory_mb, hidden, args.jobs, progress)
    print(summary(rows))
    print(f'gradebook: {os.path.join(args.out, "gradebook.csv")} ({time.perf_counter() - start:.0f} s)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
