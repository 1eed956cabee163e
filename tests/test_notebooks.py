"""The notebooks: in sync with their sources, no solution in the student version, and
both run headless end to end (PPO_QUICK=1)."""

import io
import os
import re
import shutil
import tokenize

import nbformat
from nbclient import NotebookClient

import rl_tests
import build_notebooks  # tools/, on the path via conftest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPLETED = os.path.join(ROOT, 'ppo_lunarlander.ipynb')
STUDENT = os.path.join(ROOT, 'ppo_lunarlander_student.ipynb')


def read(path):
    return nbformat.read(path, as_version=4)


def code_cells(notebook):
    return [cell.source for cell in notebook.cells if cell.cell_type == 'code']


def test_notebooks_are_in_sync_with_their_sources():
    completed, student = build_notebooks.build()
    with open(COMPLETED, encoding='utf-8') as file:
        assert file.read() == completed, 'run python tools/build_notebooks.py'
    with open(STUDENT, encoding='utf-8') as file:
        assert file.read() == student, 'run python tools/build_notebooks.py'


def test_every_reference_region_is_in_the_completed_notebook():
    with open(os.path.join(ROOT, 'ppo_reference.py'), encoding='utf-8') as file:
        regions = build_notebooks.reference_regions(file.read())
    sources = code_cells(read(COMPLETED))
    assert {'helpers', 'ppo', 'train', 'update', 'rollout'} <= set(regions)
    for code in regions.values():
        assert code in sources


def test_student_notebook_has_no_solutions_and_no_answers():
    student = read(STUDENT)
    text = '\n'.join(cell.source for cell in student.cells)
    assert 'BEGIN SOLUTION' not in text and 'END SOLUTION' not in text
    assert 'BEGIN ANSWER' not in text and 'telescoping' not in text and 'Schulman' not in text
    ppo_cell = next(source for source in code_cells(student) if source.startswith('class PPO'))
    assert ppo_cell.count('raise NotImplementedError()') == 2
    code = without_comments(ppo_cell)  # the TODO comments may name torch.clamp()
    for piece in ('clamp(', 'torch.min(', 'gamma * lmbda', 'reversed(', 'torch.exp('):
        assert piece not in code, piece
    assert all(not cell.get('outputs') for cell in student.cells if cell.cell_type == 'code')


def without_comments(source):
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return tokenize.untokenize((token.type, token.string) for token in tokens if token.type != tokenize.COMMENT)


def define(notebook, names=('helpers', 'ppo')):
    """Runs the import cell and the cells tagged reference:NAME of a notebook; returns the namespace."""
    namespace = {}
    for cell in notebook.cells:
        if cell.cell_type != 'code':
            continue
        tag = build_notebooks.reference_tag(cell)
        if tag in names or cell.source.startswith('import os'):
            exec(compile(cell.source, f'<{tag or "imports"}>', 'exec'), namespace)
    return namespace


def test_student_ppo_fails_every_case_as_not_implemented():
    PPO = define(read(STUDENT))['PPO']
    report = rl_tests.collect(rl_tests.test_ppo(PPO))
    assert report.passed == 0
    messages = {message for case in report.cases for message in case.failures}
    assert any('compute_advantages() is not implemented yet' in message for message in messages)
    assert any('compute_loss() is not implemented yet' in message for message in messages)


def test_completed_ppo_passes():
    PPO = define(read(COMPLETED))['PPO']
    assert rl_tests.collect(rl_tests.test_ppo(PPO))


# ------------------------------------------------------------------ headless execution

def execute(notebook, tmp_path, allow_errors=False, quick=True, timeout=300):
    """Runs a notebook headless in tmp_path, beside copies of rl_gui and rl_tests;
    quick=True sets PPO_QUICK=1 (a tiny training budget)."""
    for name in ('rl_gui.py', 'rl_tests.py'):
        shutil.copy(os.path.join(ROOT, name), tmp_path)
    saved = os.environ.pop('PPO_QUICK', None)
    if quick:
        os.environ['PPO_QUICK'] = '1'
    try:
        NotebookClient(notebook, timeout=timeout, kernel_name='python3', allow_errors=allow_errors,
                       resources={'metadata': {'path': str(tmp_path)}}).execute()
    finally:
        os.environ.pop('PPO_QUICK', None)
        if saved is not None:
            os.environ['PPO_QUICK'] = saved
    return notebook


def outputs_text(cell):
    parts = []
    for output in cell.get('outputs', []):
        if output.output_type == 'stream':
            parts.append(output.text)
        elif output.output_type == 'error':
            parts.append(f'{output.ename}: {output.evalue}')
        elif 'text/plain' in output.get('data', {}):
            parts.append(output.data['text/plain'])
    return '\n'.join(parts)


def grading_cell(notebook):
    return next(cell for cell in notebook.cells if cell.source == 'rl_tests.run_tests(rl_tests.test_ppo(PPO))')


def errors(notebook):
    return [(cell.source.splitlines()[0], output.ename, output.evalue) for cell in notebook.cells
            for output in cell.get('outputs', []) if output.output_type == 'error']


def test_completed_notebook_runs_headless(tmp_path):
    notebook = execute(read(COMPLETED), tmp_path)
    assert errors(notebook) == []
    assert 'All 14 cases passed' in outputs_text(grading_cell(notebook))
    text = '\n'.join(outputs_text(cell) for cell in notebook.cells)
    assert re.search(r'greedy evaluation over 20 episodes: -?\d+\.\d ± \d+\.\d', text)
    assert os.path.getsize(tmp_path / 'lunar_lander_landing.gif') > 10_000
    # the rollouts and the training monitor each kept one output, updated in place
    kinds = [sorted(output.get('data', {})) for cell in notebook.cells for output in cell.get('outputs', [])]
    assert kinds.count(['image/jpeg', 'text/plain']) == 2


def test_student_notebook_runs_headless_and_fails_cleanly(tmp_path):
    notebook = execute(read(STUDENT), tmp_path, allow_errors=True)
    report = outputs_text(grading_cell(notebook))
    assert '0 of 14 cases passed' in report and 'is not implemented yet' in report
    found = errors(notebook)
    # only the cells that need the missing code fail, each with a message saying what to do
    assert [ename for _, ename, _ in found] == ['NotReadyError'] * 3
    assert all('not implemented yet: fill in the TODO in the PPO cell' in evalue for _, _, evalue in found)


STUDENT_GAE = '''
        N = num_states // T
        values = self.compute_values(states).detach()
        next_values = self.compute_values(next_states).detach()
        advantages = []
        for i in range(N):
            gae = 0.0
            segment = []
            for t in range((i + 1) * T - 1, i * T - 1, -1):
                if terminations[t]:
                    gae = rewards[t] - values[t]
                elif truncations[t]:
                    gae = rewards[t] + gamma * next_values[t] - values[t]
                else:
                    gae = rewards[t] + gamma * next_values[t] - values[t] + gamma * lmbda * gae
                segment.append(gae)
            advantages += segment[::-1]
        advantages = torch.stack(advantages)
        critic_targets = advantages + values
'''
STUDENT_LOSS = '''
        ratio = torch.exp(self.compute_log_probs(states, actions) - log_probs_old)
        surrogate = torch.minimum(ratio * advantages, ratio.clip(1 - epsilon, 1 + epsilon) * advantages)
        actor_loss = -surrogate.mean()
        critic_loss = nn.functional.mse_loss(self.compute_values(states), critic_targets)
'''


def test_a_students_own_correct_solution_passes_and_trains(tmp_path):
    notebook = read(STUDENT)
    ppo_cell = next(cell for cell in notebook.cells if cell.source.startswith('class PPO'))
    todo = '        raise NotImplementedError()  # replace this line with your code\n'
    assert ppo_cell.source.count(todo) == 2
    first, second, rest = ppo_cell.source.split(todo)
    ppo_cell.source = first + STUDENT_GAE.lstrip('\n') + second + STUDENT_LOSS.lstrip('\n') + rest
    notebook = execute(notebook, tmp_path)
    assert errors(notebook) == []
    assert 'All 14 cases passed' in outputs_text(grading_cell(notebook))
    assert any('environment steps' in outputs_text(cell) for cell in notebook.cells)
