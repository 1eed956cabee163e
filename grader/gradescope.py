"""The Gradescope autograder (instructor side): `python tools/build.py` writes autograder.zip,
which Gradescope runs for every submission (https://gradescope-autograders.readthedocs.io/en/latest/specs/):

    setup.sh         once, when Gradescope builds the image: bubblewrap, Python, the pinned
                     CPU torch and requirements.txt, into /autograder/venv
    run_autograder   per submission: `python -m grader.gradescope`, then, if that left no
                     valid results.json (killed, out of memory), one with score 0 that says so

This module grades the one .ipynb of $AUTOGRADER_ROOT/submission (default /autograder; the
tests point AUTOGRADER_ROOT at a temporary folder) with grade.py's grader (grader/batch.py),
on fresh secret cases, and writes $AUTOGRADER_ROOT/results/results.json: one test per group
of rl_tests.GROUPS, worth the points of the notebook's points cell of that group (all of
them when every case of the group passes, as nbgrader scores the cell; set partial_credit
to score the fraction of the cases passed), with the group's report as its output. A
submission that crashes, times out, has no PPO class, or zero or several notebooks gets a
results.json with score 0 and a message.

Isolation: the same as grade.py's. bubblewrap isolates each submission where it can run;
inside a Docker container (as Gradescope's) it usually cannot (no namespaces without
CAP_SYS_ADMIN), and then, when this runs as root, it makes the submission unable to reach
what it must not before anything of the submission runs: it reads the submission, imports
the grader and computes the cases' expected values, makes the reference solution and the
known mistakes' code readable by root only, opens results.json, and gives up root for an
unprivileged user (nobody). The submission then runs as that user: it cannot read the
solution, write a result or look into this process (which the kernel makes non-dumpable
when it changes user), but it has the network and sees the container's other files.
results.json's output says which isolation the submission had.

autograder_config.json (in the zip; edit it there: unzip, edit, zip -u) holds DEFAULTS' keys.
"""

import ctypes
import json
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time

from rl_kit.levels import LEVELS  # how much the feedback gives away

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the kit, /autograder/source on Gradescope
ROOT_VARIABLE, DEFAULT_ROOT = 'AUTOGRADER_ROOT', '/autograder'
CONFIG = 'autograder_config.json'
VISIBILITIES = ('hidden', 'after_due_date', 'after_published', 'visible')
ISOLATIONS = ('auto', 'bwrap', 'none')
DEFAULTS = {
    'feedback_level': 'fix',    # how much the feedback gives away (LEVELS)
    'timeout': 240.0,           # seconds for the submission's cases (grade.py --timeout)
    'deadline': 540.0,          # seconds after which results.json says time ran out: Gradescope stops at 600
    # the submission's address space (grade.py --memory-mb): the ~0.7 GB that torch maps before it runs,
    # plus ~300 MB, so that this process, the template and the submission stay within Gradescope's 768 MB
    'memory_mb': 1024,
    'isolation': 'auto',        # auto: bubblewrap where it runs; bwrap: require it (else score 0, said); none
    'partial_credit': False,    # False: a group's points when all its cases pass; True: by the fraction passed
    'visibility': 'visible',    # of the results (VISIBILITIES)
    'stdout_visibility': 'hidden',  # the grader's log: for the instructor
    'hidden': None,             # a file of hidden cases (grade.py --hidden), relative to the zip's root
    'points': None,             # {group: points}: tools/build.py writes the notebook's points cells here
}
UNPRIVILEGED = 65534            # nobody
SECRET_PATHS = ('ppo_reference.py', 'instructor')  # what the unprivileged submission must not read
SKIPPED_FOLDERS = ('.ipynb_checkpoints', '__MACOSX')
LINE_LIMIT = 2000               # characters of one line of a test's output
PR_SET_DUMPABLE = 4


class ConfigError(ValueError):
    """autograder_config.json cannot be used; the message says which key and what it accepts."""


def load_config(path):
    """DEFAULTS updated with the file's keys, checked."""
    import rl_tests
    try:
        with open(path, encoding='utf-8') as file:
            given = json.load(file)
    except FileNotFoundError:
        given = {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f'{CONFIG} cannot be read: {exc}') from None
    if not isinstance(given, dict):
        raise ConfigError(f'{CONFIG} must hold a JSON object with the keys {", ".join(DEFAULTS)}')
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f'{CONFIG}: unknown key(s) {", ".join(unknown)}; the keys are {", ".join(DEFAULTS)}')
    config = {**DEFAULTS, **given}
    choices = {'feedback_level': LEVELS, 'visibility': VISIBILITIES, 'stdout_visibility': VISIBILITIES,
               'isolation': ISOLATIONS}
    for key, allowed in choices.items():
        if config[key] not in allowed:
            raise ConfigError(f'{CONFIG}: {key} must be one of {", ".join(allowed)}; got {config[key]!r}')
    for key in ('timeout', 'deadline', 'memory_mb'):
        if isinstance(config[key], bool) or not isinstance(config[key], (int, float)) or config[key] <= 0:
            raise ConfigError(f'{CONFIG}: {key} must be a positive number; got {config[key]!r}')
    if not isinstance(config['partial_credit'], bool):
        raise ConfigError(f'{CONFIG}: partial_credit must be true or false; got {config["partial_credit"]!r}')
    points = config['points']
    numbers = isinstance(points, dict) and all(isinstance(value, (int, float)) and not isinstance(value, bool)
                                               and value >= 0 for value in points.values())
    if not numbers or set(points) != set(rl_tests.GROUPS):
        raise ConfigError(f'{CONFIG}: points must give the points of every group ({", ".join(rl_tests.GROUPS)}), '
                          f'numbers >= 0; got {points!r} (python tools/build.py writes them from the notebook)')
    if config['hidden'] is not None:
        hidden = os.path.join(ROOT, str(config['hidden']))
        if not os.path.isfile(hidden):
            raise ConfigError(f'{CONFIG}: hidden names {config["hidden"]!r}, which is not a file of the zip')
        config['hidden'] = hidden
    return config


# ------------------------------------------------------------------------------------
# results.json
# ------------------------------------------------------------------------------------

class ResultsFile:
    """results.json, opened at once (before the grader gives up root): the first write()
    wins, whether the grading's or the deadline's."""

    def __init__(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, 'O_CLOEXEC', 0), 0o644)
        self.lock = threading.Lock()
        self.written = False

    def write(self, results):
        with self.lock:
            if self.written:
                return False
            data = (json.dumps(results, indent=1, ensure_ascii=True) + '\n').encode()
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view):]
            os.close(self.fd)
            self.written = True
            return True


def _lines(text, limit=LINE_LIMIT):
    """A multi-line text, each line cleaned with grader.feedback's cleaning (student text inside)."""
    from grader.feedback import _clean
    return '\n'.join(_clean(line, limit) if line.strip() else '' for line in str(text).split('\n'))


def group_tests(config, report=None, why_not=None):
    """One Gradescope test per group of rl_tests.GROUPS."""
    import rl_tests
    tests = []
    for number, (group, title) in enumerate(rl_tests.GROUPS.items(), 1):
        points = config['points'][group]
        test = {'name': title, 'number': str(number), 'max_score': points, 'visibility': config['visibility'],
                'output_format': 'text'}
        cases = [case for case in report.cases if case.group == group] if report is not None else []
        if not cases:
            test.update(score=0, status='failed', output=why_not or 'no case of this group was run')
        else:
            passed = sum(case.passed for case in cases)
            fraction = passed / len(cases) if config['partial_credit'] else float(passed == len(cases))
            test.update(score=round(points * fraction, 2), status='passed' if passed == len(cases) else 'failed',
                        output=_lines(report.of_groups(group).to_text(config['feedback_level'])))
        tests.append(test)
    return tests


def results_json(config, tests, output, seconds, extra=None):
    total = round(sum(test['score'] for test in tests), 2)
    return {'score': total, 'execution_time': round(seconds), 'output': output, 'output_format': 'text',
            'visibility': config['visibility'], 'stdout_visibility': config['stdout_visibility'],
            'tests': tests, 'extra_data': extra or {}}


def _points(config):
    return sum(config['points'].values())


def zero(config, message, seconds, extra=None):
    """The results of a submission that could not be graded: every test 0, and why."""
    tests = group_tests(config, why_not=f'not graded: {message}')
    return results_json(config, tests, f'Score: 0 of {_points(config):g} points. {message}', seconds,
                        {'status': 'not graded', **(extra or {})})


def graded_results(config, graded, isolation_text, seconds):
    from grader.feedback import _clean
    row = graded.row
    extra = {key: row[key] for key in ('status', 'passed', 'failed', 'score', 'first_mistake', 'isolated')}
    if graded.report is not None:
        extra['mistakes'] = [mistake.id for mistake in graded.report.mistakes]
    if row['status'] != 'ok':
        message = f'Your notebook could not be graded (status: {row["status"]}): {_clean(row["detail"], 500)}.'
        results = zero(config, message, seconds, extra)
    else:
        tests = group_tests(config, graded.report)
        score = sum(test['score'] for test in tests)
        message = (f'Score: {score:g} of {_points(config):g} points (one test per group of cases below; the written '
                   f'answers are graded separately). {_clean(graded.report.summary_line(), 1000)}')
        results = results_json(config, tests, message, seconds, extra)
    notes = [_clean(note, 1000) for note in graded.notes]
    results['output'] += ''.join(f'\nNote: {note}' for note in notes) + f'\n{isolation_text}'
    return results


# ------------------------------------------------------------------------------------
# The submission, the isolation
# ------------------------------------------------------------------------------------

def find_notebook(folder):
    """(path, None) of the one notebook of a submission, or (None, message for the student)."""
    found = []
    for here, folders, names in os.walk(folder):
        folders[:] = sorted(name for name in folders if name not in SKIPPED_FOLDERS and not name.startswith('.'))
        found += [os.path.join(here, name) for name in sorted(names) if name.lower().endswith('.ipynb')]
    if len(found) == 1:
        return found[0], None
    if not found:
        return None, ('No notebook (.ipynb file) was found in your submission: upload your notebook, '
                      'ppo_lunarlander.ipynb.')
    listed = ', '.join(os.path.relpath(path, folder) for path in found[:10]) + (' …' if len(found) > 10 else '')
    return None, f'Your submission has {len(found)} notebooks ({listed}): upload only the one to grade.'


def _reachable_by_others(path):
    """Whether every folder down to `path` can be entered by any user, and the file read."""
    path = os.path.realpath(path)
    folder = os.path.dirname(path)
    while True:
        if not os.stat(folder).st_mode & 0o001:
            return False
        if folder == os.path.dirname(folder):
            break
        folder = os.path.dirname(folder)
    return bool(os.stat(path).st_mode & 0o004)


def can_give_up_root():
    """(True, '') if this process can hand grading to an unprivileged user, else (False, why)."""
    if not hasattr(os, 'geteuid') or os.geteuid() != 0:
        return False, 'the autograder does not run as root'
    import importlib.util
    needed = [sys.executable, os.__file__, importlib.util.find_spec('torch').origin,
              os.path.join(ROOT, 'rl_tests.py'), os.path.join(ROOT, 'grader', 'child.py')]
    for path in needed:
        if not _reachable_by_others(path):
            return False, f'{path} is not readable by an unprivileged user'
    return True, ''


def lock_secrets(root=ROOT, extra=()):
    """Makes the reference solution, the known mistakes' code, the hidden cases and every
    compiled module of the kit readable by root only."""
    paths = [os.path.join(root, name) for name in SECRET_PATHS] + [path for path in extra if path]
    for here, folders, _ in os.walk(root):
        paths += [os.path.join(here, name) for name in folders if name == '__pycache__']
    for path in paths:
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, 0o700)
        elif os.path.isfile(path):
            os.chmod(path, 0o600)


def give_up_root(uid=UNPRIVILEGED):
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    try:  # the kernel does it when the user changes; said once more, for kernels set otherwise
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    os.environ.update(HOME=tempfile.gettempdir(), MPLCONFIGDIR=tempfile.gettempdir())


def prepare_grading(seed, hidden):
    """Everything this process needs of the kit, imported and computed while it can read it."""
    import ppo_reference  # noqa: F401
    import rl_tests  # noqa: F401
    from grader import batch, report, shards  # noqa: F401
    from grader.judge import get_judge
    from instructor import ppo_mistakes  # noqa: F401
    get_judge(seed, hidden)
    shards.kit_identity()
    if hidden:
        shards.file_digest(hidden)


def choose_isolation(config, log):
    """(isolation for grade_folder, whether to give up root, sentence for results.json) or
    (None, False, why) when bubblewrap is required and cannot run."""
    from grader import sandbox
    why = 'isolation: none in autograder_config.json'
    if config['isolation'] != 'none':
        folder = tempfile.mkdtemp(prefix='probe-')
        try:
            available, why = sandbox.probe(sandbox.make_kit(folder))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if available:
            return 'bwrap', False, ('Isolation: bubblewrap (your code ran with no network, saw only the Python '
                                    'environment and the student modules, with its own processes, /tmp and user).')
        if config['isolation'] == 'bwrap':
            return None, False, f'the autograder requires bubblewrap, which cannot run here ({why})'
    log(f'bubblewrap is not used: {why}')
    reason = ('bubblewrap is not used (the autograder\'s configuration)' if config['isolation'] == 'none'
              else f'bubblewrap cannot run in this container ({why})')
    drop, cannot = can_give_up_root()
    if drop:
        return 'none', True, (f'Isolation: {reason}. Your code ran as an unprivileged user, with memory, file-size '
                              'and time caps, without access to the reference files or the results; it was not cut '
                              'off from the network.')
    log(f'the submission runs as this process\'s user: {cannot}')
    return 'none', False, (f'Isolation: none: {reason}; your code ran as the autograder\'s own user, with memory, '
                           'file-size and time caps only.')


# ------------------------------------------------------------------------------------
# One run
# ------------------------------------------------------------------------------------

def run(root=None, seed=None, log=None, config_path=None):
    """Grades $AUTOGRADER_ROOT/submission into $AUTOGRADER_ROOT/results/results.json; returns the results.
    seed and config_path: for tests only (the defaults: a fresh secret seed, never written; the
    zip's autograder_config.json)."""
    start = time.monotonic()
    root = root or os.environ.get(ROOT_VARIABLE, DEFAULT_ROOT)
    log = log or (lambda message: print(message, flush=True))
    results = ResultsFile(os.path.join(root, 'results', 'results.json'))
    try:
        config = load_config(config_path or os.path.join(ROOT, CONFIG))
    except ConfigError as exc:
        log(f'autograder_config.json: {exc}')
        output = {'score': 0, 'output': f'The autograder is misconfigured, so your notebook was not graded: {exc}. '
                  'Tell your instructor.', 'stdout_visibility': 'hidden', 'tests': []}
        results.write(output)
        return output

    def elapsed():
        return time.monotonic() - start

    def out_of_time():
        said = zero(config, f'The autograder ran out of time ({config["deadline"]:g} s) before your notebook was '
                            'graded: does your code loop or wait?', elapsed())
        if results.write(said):
            log('deadline: results.json says the run ran out of time')
            os._exit(0)  # the grading threads and processes end with this process

    watchdog = threading.Timer(max(1.0, config['deadline'] - elapsed()), out_of_time)
    watchdog.daemon = True
    watchdog.start()
    try:
        outcome = _grade(root, config, seed, log, elapsed)
    except Exception as exc:  # noqa: BLE001 - a failure of the grader still gives a results.json
        log(f'the grader failed: {type(exc).__name__}: {exc}')
        outcome = zero(config, f'The autograder failed on this submission ({type(exc).__name__}); tell your '
                               'instructor.', elapsed())
    watchdog.cancel()
    results.write(outcome)
    return outcome


def _grade(root, config, seed, log, elapsed):
    from grader import batch
    path, problem = find_notebook(os.path.join(root, 'submission'))
    if problem:
        log(problem)
        return zero(config, problem, elapsed())
    name = os.path.basename(path)
    try:
        with batch._open_regular_file(path) as file:
            data = file.read()
    except Exception as exc:  # noqa: BLE001 - a link, a FIFO, too large: said to the student
        return zero(config, f'Your notebook {name} could not be read: {exc}.', elapsed())
    isolation, drop, isolation_text = choose_isolation(config, log)
    if isolation is None:
        return zero(config, f'Your notebook was not graded: {isolation_text}. Tell your instructor.', elapsed())
    seed = secrets.randbits(62) if seed is None else seed
    prepare_grading(seed, config['hidden'])
    if drop:
        lock_secrets(ROOT, [config['hidden']])
        give_up_root()
        log(f'grading as uid {UNPRIVILEGED}: the reference and the known mistakes are readable by root only')
    work = tempfile.mkdtemp(prefix='gradescope-')
    try:
        submissions = os.path.join(work, 'submission')
        os.mkdir(submissions)
        with open(os.path.join(submissions, name), 'wb') as file:
            file.write(data)
        captured = []
        batch.grade_folder(submissions, os.path.join(work, 'out'), timeout=config['timeout'],
                           memory_mb=int(config['memory_mb']), hidden=config['hidden'], jobs=1,
                           isolation=isolation, seed=seed, log=log, on_graded=captured.append)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    graded = captured[0]
    log(f'{name}: {graded.row["status"]}, {graded.row["passed"]} cases passed, {graded.row["failed"]} failed'
        + (f' ({graded.row["detail"]})' if graded.row['detail'] else ''))
    return graded_results(config, graded, isolation_text, elapsed())


def main():
    sys.stdout.reconfigure(errors='backslashreplace')
    results = run()
    print(f'score {results["score"]}: {results["output"].splitlines()[0] if results["output"] else ""}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
