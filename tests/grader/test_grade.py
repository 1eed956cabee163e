"""Batch grading: synthetic submissions for the common cases, the bad ones and the
dangerous ones; honest notebooks written in unusual ways; odd files and names; the
gradebook rows, the feedback, the timeouts, fresh cases on every run, hidden cases.

The folder is graded once for the module (the `graded` fixture); the tests read its rows."""

import copy
import csv
import json
import os
import subprocess
import sys
import tempfile
import textwrap

import nbformat
import pytest

import build  # tools/, on the path via conftest
import rl_tests
from markdown_check import parts, rendered
from grader import batch as grade
from grader import sandbox as grader_sandbox

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def bubblewrap_here():
    """(True, '') if the isolated sandbox runs on this machine, else (False, why not)."""
    with tempfile.TemporaryDirectory() as folder:
        return grader_sandbox.probe(grader_sandbox.make_kit(folder))


BUBBLEWRAP, NO_BUBBLEWRAP = bubblewrap_here()
needs_bubblewrap = pytest.mark.skipif(not BUBBLEWRAP, reason=f'no isolation here: {NO_BUBBLEWRAP}')
TIMEOUT = 15
CELL_TIMEOUT = 3  # seconds a cell may run (grade.py's default is 10)
SEED = 1
CASES = len(rl_tests.make_cases())  # the course's six, the kit's own and the probes


def completed():
    return nbformat.read(os.path.join(ROOT, 'ppo_lunarlander.ipynb'), as_version=4)


def ppo_cell(notebook):
    return next(cell for cell in notebook.cells if cell.cell_type == 'code' and cell.source.startswith('class PPO'))


def ppo_cell_number():
    """The position of the PPO cell in the completed notebook, from 1, as feedback names it."""
    notebook = completed()
    return notebook.cells.index(ppo_cell(notebook)) + 1


def ppo_line(text):
    """The line number, in the PPO cell, of the line `text`."""
    return ppo_cell(completed()).source.splitlines(True).index(text) + 1


def with_ppo_patch(old, new, extra_cell=None):
    """The completed notebook with one change in the PPO cell (a student's edit)."""
    notebook = copy.deepcopy(completed())
    cell = ppo_cell(notebook)
    assert old in cell.source, old
    cell.source = cell.source.replace(old, new)
    if extra_cell:
        notebook.cells.append(nbformat.v4.new_code_cell(extra_cell))
    return nbformat.writes(notebook)


GAE_LINE = '            next_advantage = deltas[:, t] + gamma * lmbda * episode_continues[:, t] * next_advantage\n'
LOSS_LINE = '        actor_loss = -torch.min(l1, l2).mean()\n'
N_LINE = '        N = num_states // T\n'


# --- honest notebooks written the way Jupyter allows -------------------------------------

def future_annotations():
    """`from __future__ import annotations` in the first cell; a `-> PPO` annotation in the class."""
    notebook = copy.deepcopy(completed())
    first = next(cell for cell in notebook.cells if cell.cell_type == 'code')
    first.source = 'from __future__ import annotations\n' + first.source
    cell = ppo_cell(notebook)
    cell.source = cell.source.replace('    def select_actions(self, states):\n',
                                      '    def copy(self) -> PPO:\n        return self\n\n'
                                      '    def select_actions(self, states):\n')
    return nbformat.writes(notebook)


def alias():
    """class MyPPO ... then PPO = MyPPO."""
    notebook = copy.deepcopy(completed())
    cell = ppo_cell(notebook)
    cell.source = cell.source.replace('class PPO(nn.Module):', 'class MyPPO(nn.Module):') + '\n\nPPO = MyPPO\n'
    return nbformat.writes(notebook)


def method_assigned():
    """compute_advantages as a top-level function, then PPO.compute_advantages = gae."""
    notebook = copy.deepcopy(completed())
    cell = ppo_cell(notebook)
    start = cell.source.index('    def compute_advantages(')
    end = cell.source.index('    def compute_loss(')
    method = cell.source[start:end]
    cell.source = cell.source[:start] + cell.source[end:]
    function = textwrap.dedent(method).replace('def compute_advantages(', 'def gae(', 1)
    index = notebook.cells.index(cell)
    notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(function + '\n\nPPO.compute_advantages = gae\n'))
    return nbformat.writes(notebook)


def constant_expression():
    """EPS = 2 ** -20 in its own cell, used by the class body."""
    notebook = copy.deepcopy(completed())
    cell = ppo_cell(notebook)
    cell.source = cell.source.replace('class PPO(nn.Module):\n', 'class PPO(nn.Module):\n    eps = EPS / 2\n')
    notebook.cells.insert(notebook.cells.index(cell), nbformat.v4.new_code_cell('EPS = 2 ** -20\n'))
    return nbformat.writes(notebook)


def percent_continuation():
    """A magic, and a continuation line inside parentheses that starts with `%`."""
    notebook = copy.deepcopy(completed())
    cell = ppo_cell(notebook)
    cell.source = '%matplotlib inline\nWIDTH = (130\n         % 128)\n\n' + cell.source
    return nbformat.writes(notebook)


def version_3():
    """The completed notebook saved in nbformat v3 (worksheets, `input`)."""
    return nbformat.writes(nbformat.convert(completed(), 3))


def top_level_helpers():
    """A device and an epsilon made by calls at top level, used in the class."""
    notebook = copy.deepcopy(completed())
    cell = ppo_cell(notebook)
    cell.source = cell.source.replace('class PPO(nn.Module):\n',
                                      'class PPO(nn.Module):\n    where = DEVICE\n    tiny = EPS * 0\n')
    notebook.cells.insert(notebook.cells.index(cell), nbformat.v4.new_code_cell(
        "import torch\nDEVICE = torch.device('cpu')\nEPS = torch.finfo(torch.float32).tiny\n"))
    return nbformat.writes(notebook)


def try_import():
    """try: from torch.nn.functional import mse_loss / except ImportError: mse_loss = None; used in the class."""
    notebook = copy.deepcopy(completed())
    cell = ppo_cell(notebook)
    cell.source = cell.source.replace('class PPO(nn.Module):\n', 'class PPO(nn.Module):\n    loss = mse_loss\n')
    notebook.cells.insert(notebook.cells.index(cell), nbformat.v4.new_code_cell(
        'try:\n    from torch.nn.functional import mse_loss\nexcept ImportError:\n    mse_loss = None\n'))
    return nbformat.writes(notebook)


HONEST_ODD = {
    'odd_top_level_calls': top_level_helpers(),
    'odd_try_import': try_import(),
    'odd_future_annotations': future_annotations(),
    'odd_alias': alias(),
    'odd_method_assigned': method_assigned(),
    'odd_constant_expression': constant_expression(),
    'odd_percent_continuation': percent_continuation(),
    'odd_nbformat_v3': version_3(),
}

SUBMISSIONS = {
    'alice_correct': nbformat.writes(completed()),
    'bob_no_lambda': with_ppo_patch(GAE_LINE, GAE_LINE.replace('gamma * lmbda', 'gamma')),
    'carol_max': with_ppo_patch(LOSS_LINE, LOSS_LINE.replace('torch.min', 'torch.max')),
    'dan_across_envs': with_ppo_patch(N_LINE, '        N, T = 1, num_states\n'),
    'erin_not_started': build.targets()[f'{build.RELEASE}/{build.STUDENT}'],
    'frank_infinite_loop': with_ppo_patch(N_LINE, '        while True:\n            pass\n'),
    'grace_exit_in_method': with_ppo_patch(LOSS_LINE, '        import sys; sys.exit(3)\n'),
    'heidi_os_exit': with_ppo_patch(LOSS_LINE, '        import os; os._exit(7)\n'),
    'ivan_exit_at_import': with_ppo_patch('class PPO(nn.Module):\n', 'class PPO(nn.Module):\n    import sys; sys.exit(1)\n'),
    'judy_crash_at_import': with_ppo_patch('class PPO(nn.Module):\n', 'class PPO(nn.Module):\n    scale = 1 / 0\n'),
    'mallory_prints_megabytes': with_ppo_patch(N_LINE, '        print("x" * 2_000_000)\n' + N_LINE),
    # SCALE is assigned after a line that raises: the cell is noted, the run goes on without SCALE
    'kevin_uses_a_global': with_ppo_patch(N_LINE, '        N = num_states // T * SCALE\n',
                                          extra_cell='load_settings()\nSCALE = 1\n'),
    'nina_memory_hog': with_ppo_patch(N_LINE, '        hog = bytearray(16 * 2**30)\n' + N_LINE),
    'oscar_writes_files': with_ppo_patch(N_LINE, '        open("gradebook.csv", "w").write("hacked")\n'
                                                 '        open("../gradebook.csv", "w").write("hacked")\n' + N_LINE),
    'peggy_training_cell_interrupted': with_ppo_patch(N_LINE, N_LINE, extra_cell='while True:\n    pass\n'),
    'trent_no_ppo': nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('import torch')])),
    'victor_garbage': '{"cells": [ this is not json',
    'walter_json_not_notebook': json.dumps({'hello': 'world'}),
    # 600 operators: deeper than a recursive reader can go (it once stopped the whole batch)
    'olga_deep_expressions': with_ppo_patch(N_LINE, N_LINE, extra_cell='\n'.join([
        'SCALE = ' + ' + '.join(['1'] * 600), 'x = a' + '[0]' * 600, 'y = ' + '1 if 1 else ' * 600 + '1',
        's = ' + '+'.join(['"a"'] * 600)])),
    **HONEST_ODD,
}
# files whose names are odd: (file name as bytes, content, gradebook name)
ODD_NAMES = [
    (b'yvonne_upper.IPYNB', SUBMISSIONS['alice_correct'], 'yvonne_upper'),
    (b'zoe_caf\xe9_latin1.ipynb', SUBMISSIONS['erin_not_started'], 'zoe_caf\udce9_latin1'),
    (b'zed.ipynb', SUBMISSIONS['victor_garbage'], 'zed.ipynb'),
    (b'zed.IPYNB', SUBMISSIONS['trent_no_ppo'], 'zed.IPYNB'),
    (b'=HYPERLINK("http:x").ipynb', SUBMISSIONS['victor_garbage'], '=HYPERLINK("http:x")'),
    # the second is the first's safe file name: their feedback files must stay apart
    ('José García.ipynb'.encode(), SUBMISSIONS['victor_garbage'], 'José García'),
    (b'Jos_Garc_a-f5364fde.ipynb', SUBMISSIONS['walter_json_not_notebook'], 'Jos_Garc_a-f5364fde'),
]
# symbolic links in the folder: (link name, target) -- refused, never followed
LINKS = [('linus_link_to_solution.ipynb', os.path.join(ROOT, 'ppo_lunarlander.ipynb'))]
DETERMINISTIC = ['alice_correct', 'bob_no_lambda', 'carol_max', 'erin_not_started', 'heidi_os_exit', 'victor_garbage']


def write_folder(folder, names=None):
    for name, text in SUBMISSIONS.items():
        if names is None or name in names:
            (folder / f'{name}.ipynb').write_text(text, encoding='utf-8')


@pytest.fixture(scope='module')
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp('submissions')
    write_folder(folder)
    for name, text, _ in ODD_NAMES:
        with open(os.path.join(os.fsencode(folder), name), 'w', encoding='utf-8') as file:
            file.write(text)
    for name, target in LINKS:
        os.symlink(target, folder / name)
    (folder / 'README.txt').write_text('not a submission')
    (folder / 'folder.ipynb').mkdir()  # a folder is not a submission
    out = tmp_path_factory.mktemp('out')
    rows = grade.grade_folder(str(folder), str(out), timeout=TIMEOUT, cell_timeout=CELL_TIMEOUT, memory_mb=2048, jobs=2,
                              seed=SEED)
    return folder, out, {row['submission']: row for row in rows}


def gradebook(out):
    with open(out / 'gradebook.csv', newline='', encoding='utf-8', errors='surrogateescape') as file:
        return list(csv.DictReader(file))


def test_every_submission_gets_a_row_in_order(graded):
    folder, out, rows = graded
    table = gradebook(out)
    assert list(table[0]) == grade.COLUMNS
    assert len(table) == len(SUBMISSIONS) + len(ODD_NAMES) + len(LINKS)
    assert set(rows) == set(SUBMISSIONS) | {name for _, _, name in ODD_NAMES} | {name[:-6] for name, _ in LINKS}
    assert '\'=HYPERLINK("http:x")' in {row['submission'] for row in table}  # not a formula in a spreadsheet


@needs_bubblewrap
def test_isolation_is_on_here_and_marked(graded):
    assert {row['isolated'] for row in graded[2].values()} == {'yes'}


@pytest.mark.parametrize('name,status,score,mistake', [
    ('alice_correct', 'ok', 100.0, ''),
    ('bob_no_lambda', 'ok', None, 'λ is missing'),
    ('carol_max', 'ok', None, 'max instead of min in L^clip'),
    ('dan_across_envs', 'ok', None, 'GAE runs across environment boundaries'),
    ('erin_not_started', 'ok', 0.0, ''),
    ('frank_infinite_loop', 'timeout', 0.0, ''),
    ('grace_exit_in_method', 'ok', None, ''),
    ('heidi_os_exit', 'error', 0.0, ''),
    ('ivan_exit_at_import', 'no PPO class', 0.0, ''),
    ('judy_crash_at_import', 'no PPO class', 0.0, ''),
    ('mallory_prints_megabytes', 'ok', 100.0, ''),
    ('kevin_uses_a_global', 'ok', None, ''),
    ('nina_memory_hog', 'ok', None, ''),
    ('oscar_writes_files', 'ok', 100.0, ''),
    ('peggy_training_cell_interrupted', 'ok', 100.0, ''),
    ('trent_no_ppo', 'no PPO class', 0.0, ''),
    ('victor_garbage', 'not a notebook', 0.0, ''),
    ('walter_json_not_notebook', 'not a notebook', 0.0, ''),
    ('olga_deep_expressions', 'ok', 100.0, ''),
    ('linus_link_to_solution', 'not a notebook', 0.0, ''),
    *[(name, 'ok', 100.0, '') for name in HONEST_ODD],
    ('yvonne_upper', 'ok', 100.0, ''),
    ('zoe_caf\udce9_latin1', 'ok', 0.0, ''),
    ('zed.ipynb', 'not a notebook', 0.0, ''),
    ('zed.IPYNB', 'no PPO class', 0.0, ''),
    ('=HYPERLINK("http:x")', 'not a notebook', 0.0, ''),
    ('José García', 'not a notebook', 0.0, ''),
    ('Jos_Garc_a-f5364fde', 'not a notebook', 0.0, ''),
])
def test_gradebook_rows(graded, name, status, score, mistake):
    row = graded[2][name]
    assert row['status'] == status, row
    if score is not None:
        assert row['score'] == score, row
    else:
        assert 0 < row['score'] < 100, row
    assert row['first_mistake'] == mistake
    if status == 'ok':
        assert row['passed'] + row['failed'] == CASES


def test_details_say_what_happened(graded):
    rows = graded[2]
    assert rows['frank_infinite_loop']['detail'] == f'did not finish within {TIMEOUT} s (an infinite loop?)'
    assert rows['heidi_os_exit']['detail'].startswith('the grading process exited with code 7 before finishing')
    cell = ppo_cell_number()
    assert rows['ivan_exit_at_import']['detail'] == (
        f'no class named PPO is defined when the notebook has run (the first error: cell {cell} raised SystemExit: 1 '
        f'(cell {cell}, in PPO, line 2: import sys; sys.exit(1)))')
    assert rows['judy_crash_at_import']['detail'] == (
        f'no class named PPO is defined when the notebook has run (the first error: cell {cell} raised '
        f'ZeroDivisionError: division by zero (cell {cell}, in PPO, line 2: scale = 1 / 0))')
    assert rows['victor_garbage']['detail'].startswith('not valid JSON')
    assert rows['walter_json_not_notebook']['detail'] == 'valid JSON, but not a notebook (no list of cells)'
    assert rows['trent_no_ppo']['detail'] == 'no class named PPO is defined when the notebook has run'
    assert rows['linus_link_to_solution']['detail'].startswith('a symbolic link, not a regular file: not read')


def test_feedback_is_the_students_report(graded):
    out = graded[1]
    feedback = rendered(out / 'feedback' / 'bob_no_lambda.md')
    assert feedback.startswith('Feedback: bob_no_lambda\nScore: ')
    assert '\n✗ case 1' in feedback and '→ λ is missing' in feedback
    assert 'compute_loss() raised SystemExit: 3' in rendered(out / 'feedback' / 'grace_exit_in_method.md')
    assert 'compute_advantages() raised MemoryError' in rendered(out / 'feedback' / 'nina_memory_hog.md')
    kevin = rendered(out / 'feedback' / 'kevin_uses_a_global.md')
    assert (f"NameError: name 'SCALE' is not defined (cell {ppo_cell_number()}, in compute_advantages, "
            f"line {ppo_line(N_LINE)}") in kevin
    last_cell = len(completed().cells) + 1
    assert (f"cell {last_cell} raised NameError: name 'load_settings' is not defined (cell {last_cell}, in "
            "<module>, line 1: load_settings())") in kevin
    peggy = rendered(out / 'feedback' / 'peggy_training_cell_interrupted.md')
    assert f'cell {last_cell} was interrupted after {CELL_TIMEOUT:.3g} s' in peggy
    assert 'not implemented yet' in (out / 'feedback' / 'erin_not_started.md').read_text()
    assert 'could not be graded (status: timeout)' in (out / 'feedback' / 'frank_infinite_loop.md').read_text()
    assert len(list((out / 'feedback').iterdir())) == len(SUBMISSIONS) + len(ODD_NAMES) + len(LINKS)
    # a name that is another's safe file name does not overwrite its feedback
    assert 'not valid JSON' in (out / 'feedback' / 'Jos_Garc_a-f5364fde-2.md').read_text()
    assert 'valid JSON, but not a notebook' in rendered(out / 'feedback' / 'Jos_Garc_a-f5364fde.md')


def test_honest_notebooks_get_no_notes(graded):
    for name in ['alice_correct', *HONEST_ODD]:
        assert 'Notes:' not in (graded[1] / 'feedback' / f'{name}.md').read_text(), name


def test_written_files_stay_in_the_sandbox(graded):
    folder, out, _ = graded
    assert 'hacked' not in (out / 'gradebook.csv').read_text()
    assert sorted(os.listdir(folder)) == sorted([f'{name}.ipynb' for name in SUBMISSIONS] + ['README.txt',
                                                'folder.ipynb'] + [os.fsdecode(name) for name, _, _ in ODD_NAMES]
                                               + [name for name, _ in LINKS])


def test_fresh_cases_give_the_same_gradebook(graded, tmp_path):
    """Another secret seed, fresh numbers: deterministic submissions get the same rows."""
    subset = tmp_path / 'subset'
    subset.mkdir()
    write_folder(subset, DETERMINISTIC)
    rows = grade.grade_folder(str(subset), str(tmp_path / 'out'), timeout=TIMEOUT, cell_timeout=CELL_TIMEOUT, jobs=2,
                              seed=SEED + 1)
    assert {row['submission']: row for row in rows} == {name: graded[2][name] for name in DETERMINISTIC}


def test_the_children_get_fresh_inputs_every_run():
    cases = {seed: grade.get_judge(seed, None).cases_json for seed in (SEED, SEED + 1)}
    assert cases[SEED] != cases[SEED + 1]
    stored = json.dumps(rl_tests.stored()['expected'])[:2000]
    assert all(value not in cases[SEED] for value in stored.split(', ')[5:50])  # no stored number reaches a child


HIDDEN = '''
# SECRET-MARKER: the instructor's hidden cases; this text never reaches a student
import rl_tests

def hidden_cases(rng):
    return [rl_tests.advantages_case('hidden_gae', 'hidden: two environments, one termination', rng,
                                     N=2, T=4, gamma=0.9, lmbda=0.7, terminations=[(0, None)]),
            rl_tests.loss_case('hidden_loss', 'hidden: a larger batch', rng, batch_size=40, epsilon=0.3)]
'''


def test_hidden_cases_add_cases(tmp_path):
    subset = tmp_path / 'subset'
    subset.mkdir()
    write_folder(subset, ['alice_correct', 'bob_no_lambda'])
    hidden = tmp_path / 'hidden.py'
    hidden.write_text(HIDDEN)
    rows = grade.grade_folder(str(subset), str(tmp_path / 'out'), timeout=TIMEOUT, cell_timeout=CELL_TIMEOUT,
                              hidden=str(hidden), seed=SEED)
    assert (rows[0]['passed'], rows[0]['failed']) == (CASES + 2, 0)
    assert rows[1]['passed'] + rows[1]['failed'] == CASES + 2
    bob = (tmp_path / 'out' / 'feedback' / 'bob_no_lambda.md').read_text()
    assert 'hidden: two environments, one termination' in bob
    assert 'SECRET-MARKER' not in bob and 'hidden_cases' not in bob and str(hidden) not in bob


BAD_TENSOR = {'name': 'advantages', 'type': 'Tensor', 'shape': [10**9], 'values': [1.0]}
HUGE_LOSS = {'name': 'actor_loss', 'type': 'Tensor', 'shape': [], 'values': [10**400]}
GARBAGE_OBSERVATIONS = [
    None, 5, 'x', [], {}, {'case_id': 3}, {'case_id': 'gae_course_1'},
    {'case_id': 'gae_course_2', 'failure': None, 'outputs': [BAD_TENSOR], 'gradients': {}, 'gradient_errors': {},
     'inputs_changed': False},
    {'case_id': 'gae_course_3', 'failure': {'kind': 'NOPE', 'message': 'x', 'function': None}, 'outputs': [],
     'gradients': {}, 'gradient_errors': {}, 'inputs_changed': False},
    {'case_id': 'loss_course_1', 'failure': None, 'outputs': [HUGE_LOSS],
     'gradients': {'actor_loss': [float('nan')] * 10**4}, 'gradient_errors': {}, 'inputs_changed': 'yes'}]


def test_garbage_from_a_child_fails_its_cases():
    """Whatever a child sends, the parent neither crashes nor counts it: each case fails."""
    judge = grade.get_judge(SEED)
    sent = lambda observation: json.loads(json.dumps(observation.to_data()))  # noqa: E731 - as over the pipe
    shifted = [sent(judge.expected[case.id]) for case in judge.cases[1:] + judge.cases[:1]]
    for observations in [GARBAGE_OBSERVATIONS, shifted, [], [None] * 1000]:
        report = judge.judge(observations)
        assert report.total == CASES and report.cases_passed == 0
    assert judge.judge([sent(judge.expected[case.id]) for case in judge.cases]).cases_passed == CASES
    for data in [b'', b'\xff\xfe', b'[' * 100_000, b'{"status": "ok"}', b'{"status": "ok", "notes": [1]}',
                 b'{"status": "hacked"}', b'{"status": "error", "detail": 5}', b'"ok"']:
        assert grade._parse(data) is None, data


def test_without_bubblewrap_it_says_so_and_marks_every_row(tmp_path, monkeypatch):
    monkeypatch.setattr(grader_sandbox.shutil, 'which', lambda name: None)
    monkeypatch.setattr(grade, 'SOLVER_PACKAGES', ('nbformat', 'not_installed.at_all'))  # as if it had a GAE
    subset = tmp_path / 'subset'
    subset.mkdir()
    write_folder(subset, ['alice_correct', 'victor_garbage'])
    said = []
    rows = grade.grade_folder(str(subset), str(tmp_path / 'out'), timeout=TIMEOUT, cell_timeout=CELL_TIMEOUT, seed=SEED,
                              log=said.append)
    assert [(row['submission'], row['score'], row['isolated']) for row in rows] == [('alice_correct', 100.0, 'no'),
                                                                                   ('victor_garbage', 0.0, 'no')]
    assert said[0].startswith('WARNING: no isolation: bubblewrap (bwrap) is not installed')
    assert said[1].startswith('WARNING: submissions can import nbformat from this Python environment, with a GAE')
    with pytest.raises(grader_sandbox.SandboxError, match='--isolation bwrap'):
        grade.grade_folder(str(subset), str(tmp_path / 'out2'), isolation='bwrap', seed=SEED, log=said.append)


@needs_bubblewrap
def test_a_sandbox_that_fails_here_falls_back_and_says_so(tmp_path, monkeypatch):
    """bubblewrap runs, but the per-submission sandbox cannot be set up (e.g. nested
    namespaces forbidden): the check of each new template finds it before any row."""
    failing = grader_sandbox.Outcome(b'{"status": "error", "detail": "the sandbox failed: unshare failed"}', False, 70)
    real_run = grader_sandbox.Template.run
    monkeypatch.setattr(grader_sandbox.Template, 'run',
                        lambda self, *args: failing if self.isolated else real_run(self, *args))
    subset = tmp_path / 'subset'
    subset.mkdir()
    write_folder(subset, ['alice_correct'])
    said = []
    rows = grade.grade_folder(str(subset), str(tmp_path / 'out'), timeout=TIMEOUT, cell_timeout=CELL_TIMEOUT, seed=SEED,
                              log=said.append)
    assert (rows[0]['score'], rows[0]['isolated']) == (100.0, 'no')
    assert 'the bubblewrap sandbox did not start (an empty job failed in the sandbox: the sandbox failed: unshare ' \
           'failed)' in said[-1]


def test_feedback_files_of_similar_names_stay_apart():
    assert grade._safe_filename('alice') == 'alice'
    assert grade._safe_filename('a b') != grade._safe_filename('a_b') == 'a_b'
    assert grade._safe_filename('caf\udce9') != grade._safe_filename('caf_')


def test_feedback_file_names_are_distinct_in_a_batch():
    names = ['José García', 'Jos_Garc_a-f5364fde', 'alice', 'Alice', 'alice-2']
    files = grade.feedback_filenames(names)
    assert len({name.lower() for name in files}) == len(names)
    assert files[:3] == ['Jos_Garc_a-f5364fde', 'Jos_Garc_a-f5364fde-2', 'alice']


def test_files_that_are_not_notebooks_are_refused_unread(tmp_path):
    """A file over the size cap, a FIFO or a link: a row of its own, before any byte is read."""
    big = tmp_path / 'big.ipynb'
    with open(big, 'wb') as file:
        file.truncate(grade.NOTEBOOK_SIZE_LIMIT + 1)  # sparse: no disk used
    os.mkfifo(tmp_path / 'fifo.ipynb')  # reading it would block forever
    os.symlink(big, tmp_path / 'link.ipynb')
    details = {}
    for name in ('big', 'fifo', 'link'):
        found = grade.read_submission(str(tmp_path / f'{name}.ipynb'), name, True)
        assert isinstance(found, grade.Graded) and found.row['status'] == 'not a notebook', found
        details[name] = found.row['detail']
    assert details['big'].startswith('32.0 MB, larger than the 32 MB grading reads: clear its outputs')
    assert details['fifo'].startswith('not a regular file')
    assert details['link'].startswith('a symbolic link')


def test_reading_keeps_the_code_cells_of_any_format_and_drops_the_outputs():
    from grader import child
    notebook = copy.deepcopy(completed())
    first = next(cell for cell in notebook.cells if cell.cell_type == 'code')
    first.outputs = [nbformat.v4.new_output('stream', name='stdout', text='x') for _ in range(1000)]
    cells = child.read_cells(nbformat.writes(notebook).encode())
    code = [(number, cell.source) for number, cell in enumerate(notebook.cells, 1) if cell.cell_type == 'code'
            and not cell.metadata.get('nbgrader', {}).get('grade')]  # autograder test cells are not run
    assert cells == code and len(code) < sum(cell.cell_type == 'code' for cell in notebook.cells)
    assert child.read_cells(nbformat.writes(nbformat.convert(notebook, 3)).encode()) == code  # format 3
    bare = json.dumps({'cells': [{'cell_type': 'code', 'source': ['a = 1\n', 'b = 2']}, 'garbage']}).encode()
    assert child.read_cells(bare) == [(1, 'a = 1\nb = 2')]  # no version, no metadata: read as v4
    for data, why in [(b'\xff\xfe', 'not UTF-8'), (b'[' * 100_000, 'not valid JSON'), (b'{"a": 1}', 'no list of cells'),
                      (b' ' * (child.NOTEBOOK_LIMIT + 1), 'larger than the 32 MB')]:
        with pytest.raises(child.NotANotebook, match=why):
            child.read_cells(data)


def test_feedback_renders_no_html_of_the_student():
    row = dict(grade.empty_row('<img src=x onerror=alert(1)>', True), status='error',
               detail='ValueError: </div><script>alert(1)</script>')
    text = grade.feedback_text(grade.Graded(row, ['raised <!-- x --> when a < b and c <= d']))
    tags, seen = parts(text)
    assert set(tags) == {'h1', 'p', 'ul', 'li'}
    assert '<script>alert(1)</script>' in seen and 'a < b and c <= d' in seen and '<img src=x' in seen


def test_command_line(tmp_path):
    subset = tmp_path / 'subset'
    subset.mkdir()
    (subset / 'victor.ipynb').write_text(SUBMISSIONS['victor_garbage'])
    result = subprocess.run([sys.executable, 'grade.py', str(subset), '--out', str(tmp_path / 'out')], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert '1 submissions: 1 not a notebook' in result.stdout
    assert ('isolation: bubblewrap' if BUBBLEWRAP else 'WARNING: no isolation') in result.stderr
    missing = subprocess.run([sys.executable, 'grade.py', str(tmp_path / 'nope'), '--out', str(tmp_path / 'o')],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and 'not a folder' in missing.stderr
    (tmp_path / 'hidden.py').write_text('def other(rng):\n    return []\n')
    bad_hidden = subprocess.run([sys.executable, 'grade.py', str(subset), '--out', str(tmp_path / 'o'), '--hidden',
                                 str(tmp_path / 'hidden.py')], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad_hidden.returncode == 2 and 'does not define hidden_cases(rng)' in bad_hidden.stderr


def test_a_python_environment_under_tmp_stays_visible_in_the_sandbox(monkeypatch):
    # CI clones the kit under /tmp with its venv inside: the private /tmp must not hide it
    monkeypatch.setattr(grader_sandbox.shutil, 'which', lambda name: '/usr/bin/bwrap')
    monkeypatch.setattr(grader_sandbox, '_python_paths', lambda: ['/tmp/clone/.ci/venv'])
    arguments = grader_sandbox.bwrap_command('/kit-source', ['python'])
    tmpfs = arguments.index('/tmp', arguments.index('--tmpfs'))
    bind = max(i for i in range(len(arguments) - 2) if arguments[i:i + 3] == ['--ro-bind', '/tmp/clone/.ci/venv',
                                                                               '/tmp/clone/.ci/venv'])
    assert tmpfs < bind  # bound on top of the template's /tmp, not hidden under it
    # and each child, which mounts a fresh /tmp of its own, is told where to bind it back from
    variable = arguments[arguments.index(grader_sandbox.REBIND_VARIABLE) + 1]
    assert json.loads(variable) == [[f'{grader_sandbox.PYTHON_STASH}/0', '/tmp/clone/.ci/venv']]
