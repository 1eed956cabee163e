"""Submissions that try to fool the grader or harm the batch, written the way a student
who has read rl_tests.py, rl_kit/ and grader/ would write them.

Each cheat scores no more than the same code without it (an empty solution with a cheat
scores 0); each batch attack leaves a complete gradebook, the honest rows unchanged,
and no process or file behind. The folder is graded once for the module, with
bubblewrap required (these attacks must never run unsandboxed: one of them kills every
process it can see)."""

import csv
import glob
import os
import socket
import time

import nbformat
import pytest

from grader import batch as grade
from test_grade import CELL_TIMEOUT, HIDDEN, SEED, TIMEOUT, SUBMISSIONS  # the same seed: the run shares its cases' work
from test_grade import needs_bubblewrap
from markdown_check import rendered

pytestmark = needs_bubblewrap  # never run these unsandboxed

MARKER = 'grade-attack-survivor'
SECRET = 'do-not-leak-4711'
EMPTY = SUBMISSIONS['erin_not_started']
WRONG = SUBMISSIONS['bob_no_lambda']


def student_ppo_cell(notebook):
    return next(cell for cell in notebook.cells if cell.cell_type == 'code' and 'class PPO' in cell.source)


def with_class_body(text, base=EMPTY, extra_cell=None, at_end=False):
    """A notebook whose PPO class body starts (or ends) with `text` (indented by 4)."""
    notebook = nbformat.reads(base, as_version=4)
    cell = student_ppo_cell(notebook)
    body = ''.join('    ' + line + '\n' for line in text.strip('\n').splitlines())
    if at_end:  # after the methods, so that it replaces them
        assert cell.source.rstrip().splitlines()[-1].startswith('    '), 'the PPO cell must end inside the class'
        cell.source = cell.source.rstrip() + '\n\n' + body
    else:
        cell.source = cell.source.replace('class PPO(nn.Module):\n', 'class PPO(nn.Module):\n' + body, 1)
    if extra_cell:
        notebook.cells.append(nbformat.v4.new_code_cell(extra_cell))
    return nbformat.writes(notebook)


def with_methods(text, base=EMPTY):
    """The notebook with the PPO class's compute_advantages / compute_loss replaced by
    methods defined after the class (`text` defines functions cheat_advantages / cheat_loss)."""
    notebook = nbformat.reads(base, as_version=4)
    cell = student_ppo_cell(notebook)
    cell.source += ('\n\n' + text.strip('\n') + '\n\nPPO.compute_advantages = cheat_advantages\n'
                    'PPO.compute_loss = cheat_loss\n')
    return nbformat.writes(notebook)


PATCH_HARNESS = '''
import rl_tests, rl_harness
rl_tests.judge = lambda case, observed, expected, mistakes=None: rl_harness.CaseResult(section='x', checks=1)
rl_tests.test_ppo = lambda PPO, groups=None: iter(())
rl_harness.Report.score = property(lambda self: 1.0)
rl_harness.Report.cases_passed = property(lambda self: len(self.cases))
rl_harness.Report.__bool__ = lambda self: True
'''

PATCH_TORCH = '''
import builtins, numpy, torch
torch.allclose = lambda *args, **kwargs: True
torch.isclose = lambda a, b, *args, **kwargs: torch.ones_like(a, dtype=torch.bool)
torch.equal = lambda *args: True
numpy.allclose = lambda *args, **kwargs: True
numpy.isclose = lambda a, b, *args, **kwargs: numpy.ones(numpy.shape(a), dtype=bool)
builtins.abs = lambda x: 0 * x
'''

# compute_* return the values rl_kit/expected.json stores for the case being observed, found in
# the caller's frames (observe(PPO, case) has `case` as a local)
STORED_VALUES = '''
import inspect
import torch

def _stored(names):
    import rl_tests
    for info in inspect.stack():
        case = info.frame.f_locals.get('case')
        if hasattr(case, 'id') and case.id in rl_tests.stored()['expected']:
            values = rl_tests.stored()['expected'][case.id]
            loss_inputs = rl_tests.stored()['course_loss_inputs']
            return tuple(torch.tensor(values.get(name, loss_inputs.get(case.id, {}).get(name, [0.0])),
                                      requires_grad=name.endswith('loss')) for name in names)
    raise RuntimeError('no case found')

def cheat_advantages(self, states, rewards, next_states, terminations, truncations=None):
    return _stored(('advantages', 'critic_targets'))

def cheat_loss(self, states, actions, advantages, critic_targets, log_probs_old):
    actor, critic = _stored(('actor_loss', 'critic_loss'))
    return actor.reshape(()), critic.reshape(())
'''

# anything in the callers' frames that looks like an expected value
STACK_EXPECTED = '''
import sys
import torch

def _look(*names):
    frame = sys._getframe(1)
    while frame is not None:
        for key, value in frame.f_locals.items():
            if 'expect' in key.lower() or key in ('want', 'stored', 'reference'):
                found = getattr(value, 'values', lambda: value)()
                if isinstance(found, dict) and all(name in found for name in names):
                    return tuple(torch.as_tensor(found[name]).float() for name in names)
        frame = frame.f_back
    raise RuntimeError('nothing found')

def cheat_advantages(self, states, rewards, next_states, terminations, truncations=None):
    return _look('advantages', 'critic_targets')

def cheat_loss(self, states, actions, advantages, critic_targets, log_probs_old):
    return _look('actor_loss', 'critic_loss')
'''

# the reference is next to grade.py and rl_tests.py: look beside rl_tests, in the usual places, and in the
# working folders and command lines of every ancestor process
IMPORT_REFERENCE = '''
import os, sys
import rl_tests
_places = {os.path.dirname(rl_tests.__file__), '/work/main', os.getcwd(), '..', '../..', '/kit'}
_pid = os.getpid()
while _pid > 1:
    try:
        _places.add(os.readlink(f'/proc/{_pid}/cwd'))
        _places.update(os.path.dirname(os.path.abspath(part)) for part in
                       open(f'/proc/{_pid}/cmdline', 'rb').read().decode().split('\\0') if part.endswith('.py'))
        _pid = int(open(f'/proc/{_pid}/stat').read().rsplit(')', 1)[1].split()[1])
    except (OSError, ValueError):
        break
for _place in _places:
    _path = os.path.join(_place, 'ppo_reference.py')
    if os.path.exists(_path):
        sys.path.insert(0, _place)
        from ppo_reference import PPO as _Reference
        compute_advantages = _Reference.compute_advantages
        compute_loss = _Reference.compute_loss
        break
'''

# the old grader trusted a result file; write a perfect one to every pipe, then leave
FORGED_RESULT = '''
import json, os
def _forge():
    import rl_tests
    observations = []
    for case_id, values in rl_tests.stored()['expected'].items():
        outputs = [{'name': name, 'type': 'Tensor', 'shape': [len(v)] if isinstance(v, list) else [],
                    'dtype': 'torch.float32', 'requires_grad': name.endswith('loss'),
                    'values': v if isinstance(v, list) else [v]}
                   for name, v in values.items()]
        observations.append({'case_id': case_id, 'failure': None, 'outputs': outputs, 'gradients': {},
                             'gradient_errors': {}, 'inputs_changed': False})
    message = json.dumps({'status': 'ok', 'notes': [], 'observations': observations, 'passed': 17, 'failed': 0,
                          'score': 100.0, 'mistakes': [], 'feedback': 'All cases pass'}).encode()
    for fd in range(3, 64):
        try:
            if 'pipe' in os.readlink(f'/proc/self/fd/{fd}') or 'socket' in os.readlink(f'/proc/self/fd/{fd}'):
                os.write(fd, message)
        except OSError:
            pass
    os._exit(0)
_forge()
'''

OBSERVE_PATCH = '''
import rl_tests
_original = rl_tests.observe
def _observe(PPO, case):
    import rl_tests
    observation = _original(PPO, case)
    stored = rl_tests.stored()['expected'].get(case.id, {})
    outputs = tuple(rl_tests.Output(name, 'Tensor', (len(stored[name]),) if isinstance(stored[name], list) else (),
                                    'torch.float32', name.endswith('loss'),
                                    tuple(stored[name]) if isinstance(stored[name], list) else (stored[name],))
                    for name in stored)
    return rl_tests.Observation(case.id, None, outputs, {}, {}, False)
rl_tests.observe = _observe
'''

GARBAGE_RESULT = '''
import os
for fd in range(3, 64):
    try:
        os.write(fd, b'\\xff\\xfe{"status": "ok", "observations": [[[[' + b'9' * 1000)
    except OSError:
        pass
os._exit(0)
'''

HUGE_RESULT = '''
import os
for fd in range(3, 64):
    try:
        for _ in range(20):
            os.write(fd, b' ' * 2**20)
    except OSError:
        pass
'''

KILL_EVERYTHING = '''
import os, signal
for target in (os.getppid(), 1, -1, 0):
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        try:
            os.kill(target, sig)
        except OSError:
            pass
'''

SURVIVOR = f'''
import os, subprocess, time
script = ('sleep 4; for f in /tmp/*/gradebook.csv /tmp/*/*/gradebook.csv /tmp/*/*/*/gradebook.csv '
          '/tmp/*/*/*/*/gradebook.csv; do echo hacked > "$f"; done; echo hacked > /tmp/{MARKER}')
subprocess.Popen(['setsid', 'sh', '-c', script + ' # {MARKER}'], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(4)
        open('/tmp/{MARKER}-python', 'w').write('hacked')
        os._exit(0)
    os._exit(0)
'''

FORK_BOMB = '''
import os, time
children = 0
for _ in range(5000):
    try:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        children += 1
    except OSError:
        break
'''

FILL_DISKS = '''
for folder in ('/tmp', '/dev/shm', '.'):
    try:
        with open(folder + '/fill', 'wb') as file:
            for _ in range(2048):
                file.write(b'x' * 2**20)
    except OSError:
        pass
'''

# memory is capped per process: a second process (or a thread) would multiply the cap
SECOND_PROCESS = '''
import os, threading
try:
    pid = os.fork()
except OSError:
    pid = None
if pid == 0:
    os._exit(0)
if pid:
    raise RuntimeError('a second process started')
try:
    threading.Thread(target=print).start()
    raise RuntimeError('a thread started')
except RuntimeError as exc:
    if 'started' in str(exc):
        raise
'''

SURROGATES = '''
raise ValueError('\\udcff\\ud800 lone surrogates ' + chr(0xdfff))
'''

CSV_INJECTION = '''
raise ValueError('x"\\n,alice_correct,ok,17,0,100.0,,yes,\\r\\n=cmd|"/c calc"!A1')
'''

POISON_KIT = '''
import os, glob, rl_tests
for path in [rl_tests.__file__, '/kit/rl_harness.py'] + glob.glob('/kit/*'):
    try:
        with open(path, 'a') as file:
            file.write('\\nraise SystemExit("poisoned")\\n')
    except OSError:
        pass
'''


def probe_view(port):
    """Class-body code that raises an exception summarising what the sandbox lets it see."""
    return f'''
def _found():
    import os, socket, sys
    seen = {{'ipynb': 0, 'reference': 0, 'pytest': 0, 'gradebook': 0, 'hidden': 0}}
    for root, dirs, files in os.walk('/'):
        # the Python environment is meant to be seen (read-only); where it lies under a hidden
        # folder (/tmp, as a CI clone's venv does) the sandbox binds it at /.python too
        if root.startswith(('/proc', '/sys', '/usr', '/dev', '/.python', sys.prefix, sys.base_prefix)):
            dirs[:] = []
            continue
        seen['pytest'] += 'pytest-of' in root or 'attacks' in root
        for name in files:
            seen['ipynb'] += name.lower().endswith('.ipynb')
            seen['reference'] += name in ('ppo_reference.py', 'ppo_mistakes.py')
            seen['gradebook'] += name == 'gradebook.csv'
            seen['hidden'] += 'hidden_cases' in name
    network = 0
    for address in (('127.0.0.1', {port}), ('1.1.1.1', 53)):
        try:
            socket.create_connection(address, timeout=1).close()
            network += 1
        except OSError:
            pass
    status = open('/proc/self/status').read()
    capabilities = [line.split()[1] for line in status.splitlines() if line.startswith('CapEff')][0]
    try:
        open('/kit/rl_tests.py', 'a').close()
        kit_writable = 1
    except OSError:
        kit_writable = 0
    others = [pid for pid in os.listdir('/proc') if pid.isdigit() and int(pid) != os.getpid()]
    import ctypes
    userns = int(ctypes.CDLL(None).unshare(0x10000000) == 0)  # CLONE_NEWUSER
    report = dict(seen, network=network, caps=int(capabilities, 16), root=int(os.getuid() == 0),
                  secret=int('{SECRET}' in str(os.environ)), kit_writable=kit_writable, parent=os.getppid(),
                  processes=len(others), userns=userns)
    return 'VIEW ' + ' '.join(f'{{key}}={{value}}' for key, value in sorted(report.items())) + ' END'
raise RuntimeError(_found())
'''


CHEATS_ON_EMPTY = {
    'cheat_patch_harness': with_class_body(PATCH_HARNESS),
    'cheat_patch_torch': with_class_body(PATCH_TORCH),
    'cheat_stored_values': with_methods(STORED_VALUES),
    'cheat_stack_expected': with_methods(STACK_EXPECTED),
    'cheat_import_reference': with_class_body(IMPORT_REFERENCE, at_end=True),
    'cheat_forged_result': with_class_body('pass', extra_cell=FORGED_RESULT.replace('_forge()\n', '') +
                                           '\nclass Forger:\n    _forge()\n'),
    'cheat_observe_patch': with_class_body('pass', extra_cell=OBSERVE_PATCH),
}
CHEATS_ON_WRONG = {
    'wrong_patch_harness': with_class_body(PATCH_HARNESS, base=WRONG),
    'wrong_patch_torch': with_class_body(PATCH_TORCH, base=WRONG),
}
BATCH_ATTACKS = {
    'attack_garbage_result': with_class_body(GARBAGE_RESULT),
    'attack_huge_result': with_class_body(HUGE_RESULT),
    'attack_kill_everything': with_class_body(KILL_EVERYTHING, base=SUBMISSIONS['alice_correct']),
    'attack_survivor': with_class_body(SURVIVOR),
    'attack_fork_bomb': with_class_body(FORK_BOMB),
    'attack_second_process': with_class_body(SECOND_PROCESS, base=SUBMISSIONS['alice_correct']),
    'attack_fill_disks': with_class_body(FILL_DISKS),
    'attack_surrogates': with_class_body(SURROGATES),
    'attack_csv_injection': with_class_body(CSV_INJECTION),
    'aaa_attack_poison_kit': with_class_body(POISON_KIT),
}
CONTROLS = ['alice_correct', 'bob_no_lambda', 'erin_not_started', 'heidi_os_exit']


# --- the red team: attacks on the notebook run itself (IPython, signals, modules, magics) ----

def with_cells(*sources, base=SUBMISSIONS['alice_correct'], first=False):
    """The notebook with code cells added at the end (or before everything, first=True)."""
    notebook = nbformat.reads(base, as_version=4)
    cells = [nbformat.v4.new_code_cell(source.strip('\n')) for source in sources]
    notebook.cells = cells + notebook.cells if first else notebook.cells + cells
    return nbformat.writes(notebook)


GC_HUNT = """
import gc, torch
import rl_tests
# anything in this process that looks like an expected value: never here, the parent keeps them
_found = [o for o in gc.get_objects() if isinstance(o, dict) and {'advantages', 'critic_targets'} <= set(o)]
def _lookup(self, states, *args):
    for found in _found:
        values = found['advantages']
        if hasattr(values, '__len__') and len(values) == len(states):
            return torch.as_tensor(values).float(), torch.as_tensor(found['critic_targets']).float()
    raise RuntimeError(f'{len(_found)} candidates, none fits')
PPO.compute_advantages = _lookup
"""

# the child's own json.dumps answers for it: a perfect-looking result with the values rl_kit stores
JSON_PATCH = """
import json, sys
import rl_tests
_dumps = json.dumps
def _forged(result, **kwargs):
    if isinstance(result, dict) and 'observations' in result:
        stored = rl_tests.stored()['expected']
        result['observations'] = [
            {'case_id': case_id, 'failure': None, 'gradients': {}, 'gradient_errors': {}, 'inputs_changed': False,
             'outputs': [{'name': name, 'type': 'Tensor', 'shape': [len(v)] if isinstance(v, list) else [],
                          'dtype': 'torch.float32', 'requires_grad': name.endswith('loss'),
                          'values': v if isinstance(v, list) else [v]} for name, v in values.items()
                         if not name.endswith('.grad')]}
            for case_id, values in stored.items()]
    return _dumps(result, **kwargs)
json.dumps = _forged
sys.modules['json'].dumps = _forged
"""

ATEXIT = """
import atexit, os
atexit.register(lambda: [os.write(fd, b'{"status": "ok", "observations": []}') for fd in range(3, 30)])
"""

# the cell-timer's signal blocked, and setitimer made a no-op: later cells cannot be interrupted
UNINTERRUPTIBLE = """
import signal
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
signal.setitimer = lambda *args: (0.0, 0.0)
"""

SWALLOWS_INTERRUPTS = """
%%capture
import time
while True:
    try:
        time.sleep(1)
    except KeyboardInterrupt:
        pass
"""

RUN_MAGICS = """
%run /kit/grader_child.py 3
%load /kit/rl_tests.py
%env GRADER_REBIND=[["/", "/"]]
get_ipython().ask_exit()
exit()
"""

HUGE_OUTPUT = """
for _ in range(200):
    print('x' * 10**6)
'y' * 10**8
"""

DEEP_RECURSION = """
import sys
sys.setrecursionlimit(10**7)
def down(n):
    return down(n + 1) + 1
down(0)
"""

CLOSE_EVERYTHING = """
import os
os.closerange(3, 1024)
"""

SHADOW_RL_TESTS = """
%%writefile rl_tests.py
def observe(PPO, case):
    raise SystemExit('the grader is now mine')
"""
SHADOW_IMPORT = """
import sys
sys.modules.pop('rl_tests', None)
import rl_tests  # the one just written, first on the path
"""

UNPRINTABLE = '''
class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError('no text for you')

def _raise(self, *args):
    raise Unprintable()
raise Unprintable()
'''
UNPRINTABLE_METHOD = 'PPO.compute_advantages = _raise'

RED_TEAM = {  # name: (notebook, status, score)
    'red_gc_hunt_for_expected_values': (with_cells(GC_HUNT, base=EMPTY), 'ok', 0.0),
    'red_json_dumps_patched': (with_cells(JSON_PATCH, base=EMPTY), 'ok', 0.0),
    'red_atexit_writes_a_result': (with_cells(ATEXIT), 'ok', 100.0),
    'red_uninterruptible_then_loops': (with_cells(UNINTERRUPTIBLE, 'while True:\n    pass'), 'timeout', 0.0),
    'red_swallows_every_interrupt': (with_cells(SWALLOWS_INTERRUPTS), 'timeout', 0.0),
    # it is its PID namespace's first process: a SIGSTOP from inside does not stop it
    'red_stops_itself': (with_cells('import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)'), 'ok', 100.0),
    'red_processes_and_threads': (with_cells('import multiprocessing\nmultiprocessing.Pool(2).map(abs, [1, 2])',
                                             'import ctypes\nassert ctypes.CDLL(None).fork() == -1'), 'ok', 100.0),
    'red_run_and_load_magics': (with_cells(RUN_MAGICS), 'ok', 100.0),
    'red_undoes_the_grading_flag': (with_cells('%env NBGRADER_EXECUTION=no', first=True), 'ok', 100.0),
    'red_huge_output': (with_cells(HUGE_OUTPUT), 'ok', 100.0),
    # millions of frames in 3 s; unwinding them after the interrupt takes longer than the submission has
    'red_deep_recursion': (with_cells(DEEP_RECURSION), 'timeout', 0.0),
    'red_closes_the_result_pipe': (with_cells(CLOSE_EVERYTHING), 'error', 0.0),
    'red_shadows_rl_tests': (with_cells(SHADOW_RL_TESTS, SHADOW_IMPORT, base=EMPTY), 'ok', 0.0),
    'red_keyboard_interrupt_and_sys_exit': (with_cells('raise KeyboardInterrupt', 'import sys\nsys.exit(0)'), 'ok',
                                           100.0),
    'red_three_thousand_cells_first': (with_cells(*['x = 1'] * 3000, first=True), 'ok', 100.0),
    # its exception cannot be put into words: said without its text; its correct compute_loss counts
    'red_unprintable_exception': (with_cells(UNPRINTABLE, UNPRINTABLE_METHOD), 'ok', 'part'),
}


def sandbox_processes():
    """Live processes running as a sandbox uid of this process's runs, or with the survivor's mark."""
    ours = grade.run_uids()
    found = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/status') as file:
                status = dict(line.split(':', 1) for line in file if ':' in line)
            with open(f'/proc/{pid}/cmdline', 'rb') as file:
                command = file.read().replace(b'\0', b' ').decode('utf-8', 'replace')
        except OSError:
            continue
        uid = int(status['Uid'].split()[0])
        if status['State'].split()[0] != 'Z' and (uid in ours or MARKER in command):
            found.append((pid, uid, command))
    return found


@pytest.fixture(scope='module')
def attacked(tmp_path_factory):
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen()
    port = listener.getsockname()[1]
    folder = tmp_path_factory.mktemp('attacks')
    submissions = {**CHEATS_ON_EMPTY, **CHEATS_ON_WRONG, **BATCH_ATTACKS,
                   **{name: notebook for name, (notebook, _, _) in RED_TEAM.items()},
                   'attack_probe_view': with_class_body(probe_view(port)),
                   **{name: SUBMISSIONS[name] for name in CONTROLS}}
    for name, text in submissions.items():
        (folder / f'{name}.ipynb').write_text(text, encoding='utf-8')
    out = tmp_path_factory.mktemp('attacks-out')
    hidden = tmp_path_factory.mktemp('instructor') / 'hidden_cases_secret.py'
    hidden.write_text(HIDDEN)
    run_folders = []  # the grader's temporary folders of this run

    def mkdtemp(*args, **kwargs):
        run_folders.append(real_mkdtemp(*args, **kwargs))
        return run_folders[-1]

    real_mkdtemp = grade.tempfile.mkdtemp
    grade.tempfile.mkdtemp = mkdtemp
    os.environ['GRADER_TEST_SECRET'] = SECRET
    try:
        rows = grade.grade_folder(str(folder), str(out), timeout=TIMEOUT, cell_timeout=CELL_TIMEOUT, jobs=2, seed=SEED,
                                  isolation='bwrap',
                                  hidden=str(hidden))
    finally:
        grade.tempfile.mkdtemp = real_mkdtemp
        del os.environ['GRADER_TEST_SECRET']
        listener.close()
    finished = time.monotonic()
    controls = tmp_path_factory.mktemp('controls')
    for name in CONTROLS:
        (controls / f'{name}.ipynb').write_text(SUBMISSIONS[name], encoding='utf-8')
    clean = grade.grade_folder(str(controls), str(tmp_path_factory.mktemp('controls-out')), timeout=TIMEOUT,
                               cell_timeout=CELL_TIMEOUT,
                               jobs=2, seed=SEED, isolation='bwrap', hidden=str(hidden))
    time.sleep(max(0.0, finished + 6 - time.monotonic()))  # a survivor would have acted by now
    return dict(folder=folder, out=out, rows={row['submission']: row for row in rows}, submissions=submissions,
                clean={row['submission']: row for row in clean}, run_folders=run_folders)


@pytest.mark.parametrize('name', sorted(CHEATS_ON_EMPTY))
def test_a_cheat_on_an_empty_solution_scores_nothing(attacked, name):
    row = attacked['rows'][name]
    assert row['score'] == 0.0 and row['passed'] == 0, row


@pytest.mark.parametrize('name', sorted(CHEATS_ON_WRONG))
def test_a_cheat_adds_nothing_to_a_wrong_solution(attacked, name):
    assert attacked['rows'][name]['score'] <= attacked['clean']['bob_no_lambda']['score'], attacked['rows'][name]


def test_the_sandbox_hides_everything_but_the_kit(attacked):
    detail = attacked['rows']['attack_probe_view']['detail']
    assert 'VIEW ' in detail and ' END' in detail, detail
    view = dict(item.split('=') for item in detail.split('VIEW ')[1].split(' END')[0].split())
    assert view == {'ipynb': '0', 'reference': '0', 'pytest': '0', 'hidden': '0', 'gradebook': '0', 'network': '0',
                    'caps': '0', 'root': '0', 'secret': '0', 'kit_writable': '0', 'parent': '0', 'processes': '0',
                    'userns': '0'}, view


def test_batch_attacks_leave_a_complete_gradebook(attacked):
    with open(attacked['out'] / 'gradebook.csv', newline='', encoding='utf-8') as file:
        table = list(csv.DictReader(file))
    assert [row['submission'] for row in table] == sorted(attacked['submissions'])
    assert all(row['isolated'] == 'yes' for row in table)
    assert 'hacked' not in (attacked['out'] / 'gradebook.csv').read_text()
    feedback = list((attacked['out'] / 'feedback').iterdir())
    assert len(feedback) == len(attacked['submissions'])
    assert not any('SECRET-MARKER' in path.read_text(encoding='utf-8') for path in feedback)


def test_the_honest_rows_are_unchanged(attacked):
    for name in CONTROLS:
        assert attacked['rows'][name] == attacked['clean'][name], name


@pytest.mark.parametrize('name,status', [
    ('attack_garbage_result', 'error'),
    ('attack_huge_result', 'error'),
    ('attack_surrogates', 'no PPO class'),  # they raise in the class body: the class is not defined
    ('attack_csv_injection', 'no PPO class'),
])
def test_what_a_batch_attack_gets(attacked, name, status):
    row = attacked['rows'][name]
    assert row['status'] == status and row['score'] == 0.0, row
    assert len(row['detail']) <= grade.DETAIL_LIMIT and '\n' not in row['detail']


@pytest.mark.parametrize('name', sorted(RED_TEAM))
def test_the_red_team_gets_the_right_row(attacked, name):
    _, status, score = RED_TEAM[name]
    row = attacked['rows'][name]
    if score == 'part':   # the cases of one function fail, the other's pass
        assert row['status'] == status and 0 < row['score'] < 100, row
    else:
        assert (row['status'], row['score']) == (status, score), row
    assert len(row['detail']) <= grade.DETAIL_LIMIT and '\n' not in row['detail']


def test_the_red_team_rows_say_why(attacked):
    rows = attacked['rows']
    assert rows['red_deep_recursion']['detail'] == f'did not finish within {TIMEOUT} s (an infinite loop?)'
    assert rows['red_closes_the_result_pipe']['detail'].startswith('the grading process exited with code 71')
    unprintable = rendered(attacked['out'] / 'feedback' / 'red_unprintable_exception.md')
    assert 'raised Unprintable: (its message could not be shown)' in unprintable
    feedback = rendered(attacked['out'] / 'feedback' / 'red_undoes_the_grading_flag.md')
    assert 'was interrupted after' in feedback  # it trained: its training cell ran until its cap


def test_a_submission_is_one_process(attacked):
    """It can start no process and no thread (it would raise and score nothing), so its
    memory cap, per process, is the whole submission's."""
    assert attacked['rows']['attack_second_process']['score'] == 100.0, attacked['rows']['attack_second_process']


def test_a_killer_only_kills_its_own_sandbox(attacked):
    assert attacked['rows']['attack_kill_everything']['score'] <= 100.0
    assert attacked['rows']['alice_correct']['score'] == 100.0


def live_children():
    """This process's children that are still running (not zombies)."""
    found = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/stat') as file:
                fields = file.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != 'Z':
            found.append(pid)
    return found


def test_nothing_survives_the_run(attacked):
    assert sandbox_processes() == []
    assert live_children() == []  # the templates and their sandboxes are gone too
    assert not glob.glob(f'/tmp/{MARKER}*')
    assert attacked['run_folders'] and not any(os.path.exists(path) for path in attacked['run_folders'])
    assert sorted(os.listdir(attacked['folder'])) == sorted(f'{name}.ipynb' for name in attacked['submissions'])


def test_lone_surrogates_are_written_safely(attacked):
    text = (attacked['out'] / 'gradebook.csv').read_text(encoding='utf-8')
    assert '\\udcff' in text
    feedback = (attacked['out'] / 'feedback' / 'attack_surrogates.md').read_text(encoding='utf-8')
    assert 'lone surrogates' in feedback


# --- no channel between two submissions ---------------------------------------------------

# x86_64 and aarch64 numbers of add_key and keyctl (asm/unistd.h)
KEY_CALLS = "{'x86_64': (248, 250), 'aarch64': (217, 219)}[__import__('platform').machine()]"
CHANNEL_PLACES = "['/tmp/channel', '/dev/shm/channel', os.path.expanduser('~/channel'), 'channel', '../channel', " \
                 "'/kit/channel', '/channel']"

LEAVE = f'''
def _leave():
    import ctypes, os
    libc = ctypes.CDLL(None, use_errno=True)
    add_key, _ = {KEY_CALLS}
    key = libc.syscall(add_key, b'user', b'grader-channel', b'{SECRET}', {len(SECRET)}, -4)  # the user keyring
    key_errno = ctypes.get_errno()
    written = 0
    for place in {CHANNEL_PLACES}:
        try:
            with open(place, 'w') as file:
                file.write('{SECRET}')
            written += open(place).read() == '{SECRET}'
        except OSError:
            pass
    shm = libc.shmget(4711, 4096, 0o1666)  # System V shared memory, IPC_CREAT
    return f'LEFT key={{key}} errno={{key_errno}} written={{written}} shm={{int(shm >= 0)}} uid={{os.getuid()}} ' \\
           f'hash={{hash("grader")}} END'
raise RuntimeError(_leave())
'''

READ = f'''
def _read():
    import ctypes, os
    libc = ctypes.CDLL(None, use_errno=True)
    _, keyctl = {KEY_CALLS}
    key = libc.syscall(keyctl, 10, -4, b'user', b'grader-channel', 0)  # KEYCTL_SEARCH in the user keyring
    found = int(key >= 0)
    for place in {CHANNEL_PLACES}:
        try:
            found += '{SECRET}' in open(place).read()
        except OSError:
            pass
    found += libc.shmget(4711, 0, 0) >= 0
    return f'READ found={{found}} uid={{os.getuid()}} hash={{hash("grader")}} END'
raise RuntimeError(_read())
'''


def fields(detail, start):
    return dict(item.split('=') for item in detail.split(start + ' ')[1].split(' END')[0].split())


def test_one_submission_leaves_nothing_the_next_can_read(tmp_path):
    folder = tmp_path / 'channel'
    folder.mkdir()
    (folder / 'a_leaves.ipynb').write_text(with_class_body(LEAVE), encoding='utf-8')
    (folder / 'b_reads.ipynb').write_text(with_class_body(READ), encoding='utf-8')
    rows = grade.grade_folder(str(folder), str(tmp_path / 'out'), timeout=TIMEOUT, cell_timeout=CELL_TIMEOUT, jobs=1,
                              seed=SEED, isolation='bwrap')  # one slot: b runs right after a, in the same template
    left, read = fields(rows[0]['detail'], 'LEFT'), fields(rows[1]['detail'], 'READ')
    assert (left['key'], left['errno']) == ('-1', '1'), left  # add_key: EPERM
    assert int(left['written']) >= 2 and left['shm'] == '1', left  # it could write: /tmp, /dev/shm, its folder...
    assert read['found'] == '0', read  # ...and none of it reaches the next submission
    if os.geteuid() == 0:
        assert left['uid'] != read['uid']  # a uid of its own: nothing a uid owns outlives the submission
    assert left['hash'] == read['hash']  # PYTHONHASHSEED is fixed: runs are deterministic
