"""Batch grading: synthetic submissions for the common cases, the bad ones and the
dangerous ones; the gradebook rows, the feedback, the timeouts, re-runs."""

import copy
import csv
import json
import os
import subprocess
import sys
import time

import nbformat
import pytest

import grade

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 20


def completed():
    return nbformat.read(os.path.join(ROOT, 'ppo_lunarlander.ipynb'), as_version=4)


def with_ppo_patch(old, new, extra_cell=None):
    """The completed notebook with one change in the PPO cell (a student's edit)."""
    notebook = copy.deepcopy(completed())
    cell = next(cell for cell in notebook.cells if cell.source.startswith('class PPO'))
    assert old in cell.source, old
    cell.source = cell.source.replace(old, new)
    if extra_cell:
        notebook.cells.append(nbformat.v4.new_code_cell(extra_cell))
    return nbformat.writes(notebook)


GAE_LINE = '            next_advantage = deltas[:, t] + gamma * lmbda * episode_continues[:, t] * next_advantage\n'
LOSS_LINE = '        actor_loss = -torch.min(l1, l2).mean()\n'

SUBMISSIONS = {
    'alice_correct': nbformat.writes(completed()),
    'bob_no_lambda': with_ppo_patch(GAE_LINE, GAE_LINE.replace('gamma * lmbda', 'gamma')),
    'carol_max': with_ppo_patch(LOSS_LINE, LOSS_LINE.replace('torch.min', 'torch.max')),
    'dan_across_envs': with_ppo_patch('        N = num_states // T\n', '        N, T = 1, num_states\n'),
    'erin_not_started': open(os.path.join(ROOT, 'ppo_lunarlander_student.ipynb'), encoding='utf-8').read(),
    'frank_infinite_loop': with_ppo_patch('        N = num_states // T\n', '        while True:\n            pass\n'),
    'grace_exit_in_method': with_ppo_patch(LOSS_LINE, '        import sys; sys.exit(3)\n'),
    'heidi_os_exit': with_ppo_patch(LOSS_LINE, '        import os; os._exit(7)\n'),
    'ivan_exit_at_import': with_ppo_patch('class PPO(nn.Module):\n', 'class PPO(nn.Module):\n    import sys; sys.exit(1)\n'),
    'judy_crash_at_import': with_ppo_patch('class PPO(nn.Module):\n', 'class PPO(nn.Module):\n    scale = 1 / 0\n'),
    'mallory_prints_megabytes': with_ppo_patch('        N = num_states // T\n',
                                               '        print("x" * 2_000_000)\n        N = num_states // T\n'),
    'kevin_uses_a_global': with_ppo_patch('        N = num_states // T\n', '        N = num_states // T * SCALE\n',
                                          extra_cell='SCALE = int("1")\n'),
    'nina_memory_hog': with_ppo_patch('        N = num_states // T\n',
                                      '        hog = bytearray(16 * 2**30)\n        N = num_states // T\n'),
    'oscar_writes_files': with_ppo_patch('        N = num_states // T\n',
                                         '        open("gradebook.csv", "w").write("hacked")\n'
                                         '        open("../gradebook.csv", "w").write("hacked")\n'
                                         '        N = num_states // T\n'),
    'peggy_training_cell_not_run': with_ppo_patch('        N = num_states // T\n', '        N = num_states // T\n',
                                                  extra_cell='while True:\n    pass\n'),
    'trent_no_ppo': nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('import torch')])),
    'victor_garbage': '{"cells": [ this is not json',
    'walter_json_not_notebook': json.dumps({'hello': 'world'}),
}


@pytest.fixture(scope='module')
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp('submissions')
    for name, text in SUBMISSIONS.items():
        (folder / f'{name}.ipynb').write_text(text, encoding='utf-8')
    (folder / 'README.txt').write_text('not a submission')
    out = tmp_path_factory.mktemp('out')
    start = time.perf_counter()
    rows = grade.grade_folder(str(folder), str(out), timeout=TIMEOUT, memory_mb=2048, jobs=2)
    seconds = time.perf_counter() - start
    return folder, out, {row['submission']: row for row in rows}, seconds


def test_every_submission_gets_a_row_in_order(graded):
    folder, out, rows, _ = graded
    with open(out / 'gradebook.csv', newline='') as file:
        table = list(csv.DictReader(file))
    assert [row['submission'] for row in table] == sorted(SUBMISSIONS)
    assert list(table[0]) == grade.COLUMNS


@pytest.mark.parametrize('name,status,score,mistake', [
    ('alice_correct', 'ok', 100.0, ''),
    ('bob_no_lambda', 'ok', None, 'λ is missing'),
    ('carol_max', 'ok', None, 'max instead of min in L^clip'),
    ('dan_across_envs', 'ok', None, 'GAE runs across environment boundaries'),
    ('erin_not_started', 'ok', 0.0, ''),
    ('frank_infinite_loop', 'timeout', 0.0, ''),
    ('grace_exit_in_method', 'ok', None, ''),
    ('heidi_os_exit', 'error', 0.0, ''),
    ('ivan_exit_at_import', 'error', 0.0, ''),
    ('judy_crash_at_import', 'error', 0.0, ''),
    ('mallory_prints_megabytes', 'ok', 100.0, ''),
    ('kevin_uses_a_global', 'ok', None, ''),
    ('nina_memory_hog', 'ok', None, ''),
    ('oscar_writes_files', 'ok', 100.0, ''),
    ('peggy_training_cell_not_run', 'ok', 100.0, ''),
    ('trent_no_ppo', 'no PPO class', 0.0, ''),
    ('victor_garbage', 'not a notebook', 0.0, ''),
    ('walter_json_not_notebook', 'not a notebook', 0.0, ''),
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
        assert row['passed'] + row['failed'] == 14


def test_details_say_what_happened(graded):
    rows = graded[2]
    assert rows['frank_infinite_loop']['detail'] == f'did not finish within {TIMEOUT} s (an infinite loop?)'
    assert rows['heidi_os_exit']['detail'].startswith('the grading process exited with code 7 before finishing')
    assert rows['ivan_exit_at_import']['detail'].startswith('the notebook called sys.exit() while defining its code')
    assert rows['judy_crash_at_import']['detail'] == ('the notebook raised an exception while defining its code: '
                                                      'ZeroDivisionError: division by zero (cell 9, in PPO, '
                                                      'line 2: scale = 1 / 0)')
    assert rows['victor_garbage']['detail'].startswith('not valid JSON')
    assert rows['trent_no_ppo']['detail'] == 'no class named PPO is defined'


def test_feedback_is_the_students_report(graded):
    out = graded[1]
    feedback = (out / 'feedback' / 'bob_no_lambda.md').read_text()
    assert feedback.startswith('# Feedback: bob_no_lambda\n\nScore: ')
    assert '- ✗ case 1: advantages are incorrect' in feedback and 'This looks like a known mistake: λ is missing' in feedback
    assert 'compute_loss() raised SystemExit: 3' in (out / 'feedback' / 'grace_exit_in_method.md').read_text()
    assert 'compute_advantages() raised MemoryError' in (out / 'feedback' / 'nina_memory_hog.md').read_text()
    kevin = (out / 'feedback' / 'kevin_uses_a_global.md').read_text()
    assert "NameError: name 'SCALE' is not defined (cell 9, in compute_advantages, line 89" in kevin
    assert '`SCALE` is assigned in cell 31, line 1, which grading does not run' in kevin
    assert 'not implemented yet' in (out / 'feedback' / 'erin_not_started.md').read_text()
    assert 'could not be graded (status: timeout)' in (out / 'feedback' / 'frank_infinite_loop.md').read_text()
    assert len(list((out / 'feedback').iterdir())) == len(SUBMISSIONS)


def test_written_files_stay_in_the_sandbox(graded):
    folder, out, _, _ = graded
    assert 'hacked' not in (out / 'gradebook.csv').read_text()
    assert sorted(os.listdir(folder)) == sorted([f'{name}.ipynb' for name in SUBMISSIONS] + ['README.txt'])


def test_the_batch_finishes_within_its_timeouts(graded):
    # 18 submissions, 2 at a time: one timeout plus a few seconds each for the rest
    assert graded[3] < TIMEOUT + 8 * 10


def test_a_rerun_gives_the_same_gradebook(graded, tmp_path):
    folder, out, _, _ = graded
    subset = tmp_path / 'subset'
    subset.mkdir()
    for name in ('alice_correct', 'bob_no_lambda', 'victor_garbage', 'heidi_os_exit'):
        (subset / f'{name}.ipynb').write_text(SUBMISSIONS[name], encoding='utf-8')
    first, second = tmp_path / 'first', tmp_path / 'second'
    grade.grade_folder(str(subset), str(first), timeout=TIMEOUT, jobs=2)
    grade.grade_folder(str(subset), str(second), timeout=TIMEOUT, jobs=1)
    assert (first / 'gradebook.csv').read_bytes() == (second / 'gradebook.csv').read_bytes()
    full = (out / 'gradebook.csv').read_text().splitlines()
    assert set((first / 'gradebook.csv').read_text().splitlines()) <= set(full)


def test_hidden_tests_add_cases(tmp_path):
    subset = tmp_path / 'subset'
    subset.mkdir()
    (subset / 'alice.ipynb').write_text(SUBMISSIONS['alice_correct'], encoding='utf-8')
    hidden = tmp_path / 'hidden.py'
    hidden.write_text('def hidden_tests(PPO):\n'
                      '    yield "hidden: num_steps is stored"\n'
                      '    yield PPO(8, 4, 0.99, 0.95, 0.2, 7).num_steps == 7, "num_steps is not stored"\n'
                      '    yield None\n'
                      '    yield "hidden: an impossible case"\n'
                      '    yield False, "this case always fails"\n'
                      '    yield None\n')
    rows = grade.grade_folder(str(subset), str(tmp_path / 'out'), timeout=TIMEOUT, hidden=str(hidden))
    assert (rows[0]['passed'], rows[0]['failed']) == (15, 1)
    assert 'this case always fails' in (tmp_path / 'out' / 'feedback' / 'alice.md').read_text()


def test_feedback_files_of_similar_names_stay_apart():
    assert grade._safe_filename('alice') == 'alice'
    assert grade._safe_filename('a b') != grade._safe_filename('a_b') == 'a_b'


def test_command_line(tmp_path):
    subset = tmp_path / 'subset'
    subset.mkdir()
    (subset / 'victor.ipynb').write_text(SUBMISSIONS['victor_garbage'])
    result = subprocess.run([sys.executable, 'grade.py', str(subset), '--out', str(tmp_path / 'out')], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert '1 submissions: 1 not a notebook' in result.stdout
    missing = subprocess.run([sys.executable, 'grade.py', str(tmp_path / 'nope'), '--out', str(tmp_path / 'o')],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and 'not a folder' in missing.stderr
    (tmp_path / 'hidden.py').write_text('def other(PPO):\n    yield None\n')
    bad_hidden = subprocess.run([sys.executable, 'grade.py', str(subset), '--out', str(tmp_path / 'o'), '--hidden',
                                 str(tmp_path / 'hidden.py')], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad_hidden.returncode == 2 and 'does not define hidden_tests(PPO)' in bad_hidden.stderr
