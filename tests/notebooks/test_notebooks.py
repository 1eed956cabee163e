"""The generated files: in sync with their sources (tools/build.py --check), a hand-out that is
complete (the student notebook runs in a folder holding what the build puts in release/, and
nothing else) and holds no solution, nbgrader roles on the completed notebook, and the
notebooks running headless."""

import functools
import io
import json
import os
import re
import tokenize
import zipfile

import nbformat
import pytest
import torch
from nbclient import NotebookClient
from testbook import testbook

import build  # tools/, on the path via conftest
import ppo_reference
import record_episode  # tools/
import rl_tests
from test_rl_gui import gif_milliseconds

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPLETED = os.path.join(ROOT, build.COMPLETED)
QUICK_LINE = 'QUICK = False'


def read(path):
    return nbformat.read(path, as_version=4)


def release():
    """{file name: text or bytes} of release/, as tools/build.py makes it."""
    prefix = build.RELEASE + '/'
    return {path[len(prefix):]: content for path, content in build.targets().items() if path.startswith(prefix)}


def released_student():
    return nbformat.reads(release()[build.STUDENT], as_version=4)


def code_cells(notebook):
    return [cell.source for cell in notebook.cells if cell.cell_type == 'code']


def grade_id(cell):
    return cell.metadata.get('nbgrader', {}).get('grade_id')


def cell_with_id(notebook, wanted):
    return next(cell for cell in notebook.cells if grade_id(cell) == wanted)


def test_the_build_is_up_to_date(capsys):
    assert build.main(['--check']) == 0, capsys.readouterr().out
    assert re.fullmatch(r'all \d+ committed generated files are up to date\n', capsys.readouterr().out)


def test_release_holds_exactly_what_a_student_receives(tmp_path):
    files = release()
    names = sorted(files)
    kit = ['__init__.py', 'expected.json', 'gae_episode.json', 'harness.py', 'inputs.py', 'judging.py', 'levels.py',
           'mistakes.py', 'networks.py', 'reading.py', 'records.py', 'settings.json', 'training.py']
    assert names == sorted([build.STUDENT, 'rl_gui.py', 'rl_tests.py'] + [f'rl_kit/{name}' for name in kit])
    build.write_outputs(tmp_path)
    written = [os.path.relpath(os.path.join(here, name), tmp_path / build.RELEASE).replace(os.sep, '/')
               for here, _, found in os.walk(tmp_path / build.RELEASE) for name in found]
    assert sorted(written) == names
    with zipfile.ZipFile(tmp_path / build.RELEASE_ZIP) as archive:
        assert sorted(archive.namelist()) == [f'{build.ZIP_FOLDER}/{name}' for name in names]
        for name in names:
            assert archive.read(f'{build.ZIP_FOLDER}/{name}') == files[name].encode('utf-8')
    assert files['rl_tests.py'] == open(os.path.join(ROOT, 'rl_tests.py'), encoding='utf-8').read()
    assert files['rl_kit/expected.json'] == open(os.path.join(ROOT, build.EXPECTED), encoding='utf-8').read()


def without_comments(source):
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return tokenize.untokenize((token.type, token.string) for token in tokens
                               if token.type not in (tokenize.COMMENT, tokenize.STRING))


def test_nothing_a_student_receives_holds_a_solution():
    student = released_student()
    text = '\n'.join(cell.source for cell in student.cells)
    assert 'BEGIN SOLUTION' not in text and 'END SOLUTION' not in text
    assert 'telescoping' not in text and 'Schulman et al., *High-Dimensional' not in text  # the answers
    ppo_cell = cell_with_id(student, 'ppo').source
    assert ppo_cell.count(build.CODE_STUB) == 2
    assert cell_with_id(student, 'answers').source == build.TEXT_STUB
    modules = {name: text for name, text in release().items() if name.endswith('.py')}
    for name, source in {'PPO cell': ppo_cell, **modules}.items():
        code = ''.join(without_comments(source).split())  # comments and strings may name torch.clamp()
        pieces = ['clamp(', 'torch.min(', 'torch.minimum(', '.clip(', 'reversed(range']
        if name == 'PPO cell':
            pieces.append('gamma*lmbda')  # rl_gui shows the GAE explorer's horizon 1/(1 - gamma*lmbda)
        for piece in pieces:
            assert piece not in code, f'{piece} in {name}'
    assert 'torch' not in modules['rl_gui.py']  # the pictures need no tensor code at all
    assert all(not cell.get('outputs') for cell in student.cells if cell.cell_type == 'code')


def non_blank_lines(source):
    return sum(1 for line in source.splitlines() if line.strip())


def test_the_hand_out_shows_ppo_and_imports_the_machinery():
    # issue 18's goals for the notebook a student receives
    code = [cell for cell in released_student().cells if cell.cell_type == 'code']
    assert sum(non_blank_lines(cell.source) for cell in code) <= 350
    longest = max((cell for cell in code if grade_id(cell) != 'ppo'), key=lambda cell: non_blank_lines(cell.source))
    assert non_blank_lines(longest.source) <= 80, longest.source[:200]
    train = next(cell.source for cell in code if cell.source.startswith('def train('))
    assert non_blank_lines(train) <= 45  # rollout -> update -> landing check -> callback
    plumbing = re.compile(r'\b(multiprocessing|signal|Pipe|fork|SIGINT|os\.kill|subprocess|threading)\b')
    assert not [cell.source[:80] for cell in code if plumbing.search(cell.source)]
    imported = set(re.findall(r'^import (\w+)', code[0].source, re.MULTILINE))
    assert not imported & {'bisect', 'copy', 'multiprocessing', 'signal', 'sys'}


def test_nothing_a_student_receives_points_at_what_the_hand_out_lacks():
    # a student has only release/: no README, benchmarks or tests, and the switch is QUICK
    files = release()
    texts = {'the notebook': '\n'.join(cell.source for cell in released_student().cells),
             **{name: files[name] for name in ('rl_gui.py', 'rl_kit/__init__.py', 'rl_kit/training.py',
                                               'rl_kit/inputs.py')}}
    for name, text in texts.items():
        for missing in ('README', 'benchmarks', 'tests/', 'test_training', 'PPO_QUICK', 'ppo_reference', "seed's"):
            assert missing not in text, f'{missing} in {name}'
    assert 'QUICK = False' in texts['the notebook']


def test_the_readme_fits_250_lines():
    with open(os.path.join(ROOT, 'README.md'), encoding='utf-8') as file:
        assert len(file.read().splitlines()) <= 250


def test_the_completed_notebook_is_an_nbgrader_source_notebook():
    completed = read(COMPLETED)
    roles = {grade_id(cell): cell.metadata['nbgrader'] for cell in completed.cells if 'nbgrader' in cell.metadata}
    assert roles['ppo']['solution'] and not roles['ppo']['grade']                 # autograded answer
    assert roles['answers']['solution'] and roles['answers']['grade']             # manually graded answer
    tests = {name: role for name, role in roles.items() if name.startswith('test_')}
    assert sorted(tests) == sorted(f'test_{group}' for group in rl_tests.GROUPS)  # one cell per group
    assert all(role['grade'] and role['locked'] and role['points'] > 0 for role in tests.values())
    total = sum(role['points'] for role in tests.values()) + roles['answers']['points']
    assert total == 13
    points_text = next(cell.source for cell in completed.cells if cell.source.startswith('**Points.**'))
    assert f'Total: {total} points' in points_text  # what the notebook tells the students
    for group in rl_tests.GROUPS:
        assert cell_with_id(completed, f'test_{group}').source == f"rl_tests.assert_group(PPO, '{group}')"
    narrative = [cell for cell in completed.cells if cell.cell_type == 'markdown' and grade_id(cell) != 'answers']
    assert narrative and all(cell.metadata['nbgrader']['locked'] for cell in narrative)  # read-only
    assert completed.metadata == build.NOTEBOOK_METADATA  # what JupyterLab writes: no "unsaved" dot


def test_the_student_notebook_is_the_completed_one_without_solutions():
    completed, student = read(COMPLETED), released_student()
    assert [cell.id for cell in student.cells] == [cell.id for cell in completed.cells]
    for ours, theirs in zip(completed.cells, student.cells):
        if 'BEGIN SOLUTION' not in ours.source and grade_id(ours) != 'answers':
            assert theirs.source == ours.source


def test_generated_files_are_never_sources():
    # the hand-written notebook source has empty reference cells: the code exists once
    with open(os.path.join(ROOT, build.NOTEBOOK_SOURCE), encoding='utf-8') as file:
        source = file.read()
    assert 'class PPO' not in source and 'def compute_advantages' not in source
    regions = build.reference_regions(open(os.path.join(ROOT, build.REFERENCE), encoding='utf-8').read())
    assert {'helpers', 'ppo', 'hyperparameters', 'environments', 'rollout', 'update', 'train'} == set(regions)
    assert all(code in code_cells(read(COMPLETED)) for code in regions.values())


def test_a_broken_source_is_a_clear_build_error():
    with pytest.raises(build.BuildError, match="tagged reference:nowhere, but ppo_reference.py has no region"):
        build.build_completed("```{code-cell} ipython3\n:tags: [reference:nowhere]\n```\n", {})
    with pytest.raises(build.BuildError, match='needs a tag points:N'):
        build.build_completed("```{code-cell} ipython3\n:tags: [test:gae]\nx = 1\n```\n", {})
    with pytest.raises(build.BuildError, match='BEGIN SOLUTION without END SOLUTION'):
        build.clear_solution_regions('    ### BEGIN SOLUTION\n    x = 1\n', build.CODE_STUB)


def test_solution_regions_become_the_stub_at_their_indentation():
    source = 'def f():\n    # TODO\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n'
    cleared, replaced = build.clear_solution_regions(source, build.CODE_STUB)
    assert replaced and cleared == f'def f():\n    # TODO\n    {build.CODE_STUB}\n'


def define(notebook, names=('helpers', 'ppo')):
    """Runs the first code cell (imports) and the cells with the given grade ids; returns the namespace."""
    namespace = {}
    cells = [cell for cell in notebook.cells if cell.cell_type == 'code']
    for cell in [cells[0]] + [cell for cell in cells if grade_id(cell) in names]:
        exec(compile(cell.source, f'<{grade_id(cell) or "imports"}>', 'exec'), namespace)
    return namespace


def test_student_ppo_fails_every_case_as_not_implemented():
    PPO = define(released_student())['PPO']
    report = rl_tests.collect(rl_tests.test_ppo(PPO))
    assert report.cases_passed == 0
    functions = {failure.function for failure in report.failures(rl_tests.Kind.NOT_IMPLEMENTED)}
    assert functions == {'compute_advantages', 'compute_loss'}


def test_completed_ppo_passes():
    PPO = define(read(COMPLETED))['PPO']
    assert rl_tests.collect(rl_tests.test_ppo(PPO))


# ------------------------------------------------------------------ headless execution

def set_quick(notebook, quick):
    """The notebook with QUICK = quick in its first code cell (a tiny training budget)."""
    first = next(cell for cell in notebook.cells if cell.cell_type == 'code')
    assert first.source.count(QUICK_LINE) == 1, 'the first code cell must set QUICK = False'
    first.source = first.source.replace(QUICK_LINE, f'QUICK = {quick}')
    return notebook


def hand_out(folder):
    """release/ without its notebook, written into `folder`: what a student's folder holds."""
    for name, text in release().items():
        if not name.endswith('.ipynb'):
            os.makedirs(os.path.dirname(os.path.join(folder, name)), exist_ok=True)
            with open(os.path.join(folder, name), 'w', encoding='utf-8') as file:
                file.write(text)


def kernel_environment():
    """The environment of a kernel that runs a hand-out: this one without PYTHONPATH (and
    PYTHONSTARTUP), so that the kernel imports the hand-out's modules, from its folder,
    whatever the caller's environment holds (a kit root on PYTHONPATH would win)."""
    return {name: value for name, value in os.environ.items() if name not in ('PYTHONPATH', 'PYTHONSTARTUP')}


def execute(notebook, tmp_path, allow_errors=False, quick=True, timeout=300):
    """Runs a notebook headless in tmp_path beside the release's files; quick=True sets
    QUICK = True in its first code cell (a tiny training budget)."""
    hand_out(tmp_path)
    set_quick(notebook, quick)
    NotebookClient(notebook, timeout=timeout, kernel_name='python3', allow_errors=allow_errors,
                   resources={'metadata': {'path': str(tmp_path)}}).execute(env=kernel_environment())
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


def report_cell(notebook):
    return cell_with_id(notebook, 'report')


def errors(notebook):
    return [(cell.source.splitlines()[0], output.ename, output.evalue) for cell in notebook.cells
            for output in cell.get('outputs', []) if output.output_type == 'error']


def images(notebook):
    """(cell index, mime type) of every picture output."""
    return [(index, kind) for index, cell in enumerate(notebook.cells) for output in cell.get('outputs', [])
            for kind in output.get('data', {}) if kind.startswith('image/')]


@pytest.mark.slow  # the student notebook with a solution runs in the default tests; this one is the same notebook
def test_completed_notebook_runs_headless(tmp_path):
    notebook = execute(read(COMPLETED), tmp_path)
    assert errors(notebook) == []
    assert re.search(r'All \d+ cases pass', outputs_text(report_cell(notebook)))


def test_student_notebook_in_the_release_fails_cleanly(tmp_path):
    notebook = execute(released_student(), tmp_path, allow_errors=True)
    report = outputs_text(report_cell(notebook))
    assert re.search(r'0 of \d+ cases pass', report) and 'not implemented yet' in report
    found = errors(notebook)
    # the four graded cells fail; the cells that need the missing code stop with a message saying what to do
    assert [ename for _, ename, _ in found] == ['AssertionError'] * 4 + ['NotReadyError'] + ['TrainingSkipped'] * 3
    assert 'not implemented yet: fill in the TODO in the PPO cell' in found[4][2]
    assert all('run the training cell above first' in evalue for _, _, evalue in found[5:])


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


def solved(notebook, gae=STUDENT_GAE, loss=STUDENT_LOSS):
    """The student notebook with a student's own solution in its PPO cell."""
    ppo_cell = cell_with_id(notebook, 'ppo')
    todo = f'        {build.CODE_STUB}\n'
    assert ppo_cell.source.count(todo) == 2
    first, second, rest = ppo_cell.source.split(todo)
    ppo_cell.source = first + gae.lstrip('\n') + second + loss.lstrip('\n') + rest
    return notebook


def test_a_students_own_correct_solution_in_the_release_passes_trains_and_shows(tmp_path, monkeypatch):
    # testbook drives one kernel: Run All, then the stop button's aftermath
    monkeypatch.setenv('PYTHONPATH', ROOT)  # as in many development setups: the kernel must not see the kit
    notebook = set_quick(solved(released_student()), True)
    path = tmp_path / 'notebook.ipynb'
    nbformat.write(notebook, path)
    hand_out(tmp_path)
    book = testbook(str(path), execute=True, timeout=300)
    book.client.resources = {'metadata': {'path': str(tmp_path)}}  # the kernel runs in the hand-out folder
    # ... and sees only the hand-out, whatever this process's PYTHONPATH holds
    book.client.start_new_kernel = functools.partial(book.client.start_new_kernel, env=kernel_environment())
    with book as tb:
        notebook = tb.nb
        for module in ('rl_gui', 'rl_tests', 'rl_kit.training'):
            assert tb.value(f'__import__("{module}", fromlist=["_"]).__file__').startswith(str(tmp_path)), module
        assert errors(notebook) == []
        assert re.search(r'All \d+ cases pass', outputs_text(report_cell(notebook)))
        for group in rl_tests.GROUPS:  # a points cell that passes prints one line, as the notebook says
            printed = outputs_text(cell_with_id(notebook, f'test_{group}'))
            assert re.fullmatch(r'.*: All \d+ cases pass\. Well done!\n', printed), printed
        text = '\n'.join(outputs_text(cell) for cell in notebook.cells)
        assert 'environment steps' in text
        assert re.search(r'greedy evaluation over 20 episodes: -?\d+\.\d ± \d+\.\d', text)
        saved = int(re.search(r'saved (\d+) frames to lunar_lander_landing.gif', text).group(1))
        assert saved == tb.value('len(render.frames)') > 10  # every frame the player has, at 50 a second
        assert gif_milliseconds(tmp_path / 'lunar_lander_landing.gif') == (saved - 1) * 20 + 1000
        # every picture is an ordinary image output, so the saved notebook shows it without a kernel:
        # the two explorers, the two rollouts, the training curve, the evaluation plot, the player
        assert len(images(notebook)) == 7, images(notebook)
        explorers = [cell for cell in notebook.cells if 'explorer()' in cell.source]
        assert [sorted(output.data) for cell in explorers for output in cell.outputs if 'image/png' in output.data] \
            == [['image/png', 'text/plain']] * 2

        # the stop button ended training: the cells that use the agent skip, once
        evaluation = next(i for i, cell in enumerate(notebook.cells) if 'eval_returns = evaluate(' in cell.source)
        tb.inject('result.interrupted = True', pop=True)
        with pytest.raises(Exception) as stopped:
            tb.execute_cell(evaluation)
        assert 'TrainingInterrupted: training was stopped after' in str(stopped.value)
        assert 'run this cell again to use the agent trained so far' in str(stopped.value)
        tb.execute_cell(evaluation)  # on purpose, the second time: it evaluates
        assert 'greedy evaluation over 20 episodes' in tb.cell_output_text(evaluation)


def test_a_recorded_episode_has_a_value_for_every_state():
    torch.manual_seed(0)
    ac = ppo_reference.PPO(8, 4, 0.99, 0.95, 0.2, 16)  # untrained: it crashes soon, a short episode
    episode = record_episode.record(ac, 'LunarLander-v3', episode_seed=3)
    assert len(episode['values']) == len(episode['rewards']) + 1
    assert episode['terminated'] != episode['truncated']
    # the build turns it into the explorer's data, with λ = 0 being the TD errors
    data = json.loads(build.gae_data(json.dumps({'about': 'a test', 'env_id': 'LunarLander-v3', **episode})))
    assert len(data['advantages']) == len(build.GAMMAS) and len(data['advantages'][0]) == len(build.LAMBDAS)
    assert data['deltas'][0] == data['advantages'][0][build.LAMBDAS.index(0.0)]
