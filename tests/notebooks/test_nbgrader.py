"""The real nbgrader on the kit's course folder (nbgrader_course/, as tools/build.py makes it):
generate_assignment makes the kit's own student notebook, and autograde gives full points to a
correct submission and partial points to a wrong one.

nbgrader runs in a virtual environment of its own, installed from tests/requirements-nbgrader.txt
on first use and cached (keyed by that file's hash) under ~/.cache/ppo-lunarlander-kit/ (or
$PPO_KIT_CACHE). The notebooks' kernel is this test's Python, with the kit's requirements,
as a course's kernel would be. Marked `nbgrader`; CI runs it (python -m pytest -m nbgrader).
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import nbformat
import pytest

import build
from test_notebooks import (STUDENT_GAE, STUDENT_LOSS, cell_with_id, grade_id, kernel_environment, release,
                            solved)

pytestmark = pytest.mark.nbgrader

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REQUIREMENTS = os.path.join(ROOT, 'tests', 'requirements-nbgrader.txt')
ASSIGNMENT = build.ASSIGNMENT
NOTEBOOK = ASSIGNMENT + '.ipynb'
INSTALL_TIMEOUT = 900
RUN_TIMEOUT = 600

WRONG_LOSS = '''
        ratio = torch.exp(self.compute_log_probs(states, actions) - log_probs_old)
        actor_loss = -(ratio * advantages).mean()  # forgot the clipping
        critic_loss = nn.functional.mse_loss(self.compute_values(states), critic_targets)
'''


def cache_dir():
    return os.environ.get('PPO_KIT_CACHE') or os.path.join(os.path.expanduser('~'), '.cache', 'ppo-lunarlander-kit')


@pytest.fixture(scope='module')
def nbgrader_bin():
    """The bin/ folder of a venv with tests/requirements-nbgrader.txt installed (cached)."""
    with open(REQUIREMENTS, 'rb') as file:
        key = hashlib.sha256(file.read()).hexdigest()[:12]
    venv = os.path.join(cache_dir(), f'nbgrader-venv-{key}')
    if not os.path.exists(os.path.join(venv, 'bin', 'nbgrader')):
        building = venv + '.partial'
        shutil.rmtree(building, ignore_errors=True)
        subprocess.run([sys.executable, '-m', 'venv', building], check=True)
        done = subprocess.run([os.path.join(building, 'bin', 'python'), '-m', 'pip', 'install', '--quiet',
                               '--disable-pip-version-check', '-r', REQUIREMENTS],
                              capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        assert done.returncode == 0, f'pip install -r tests/requirements-nbgrader.txt failed:\n{done.stdout}{done.stderr}'
        shutil.rmtree(venv, ignore_errors=True)
        os.rename(building, venv)  # only a complete install is ever used
        # a venv's scripts name its python by absolute path: rewrite them for the final folder
        for name in os.listdir(os.path.join(venv, 'bin')):
            path = os.path.join(venv, 'bin', name)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, 'rb') as file:
                    text = file.read()
                if building.encode() in text:
                    with open(path, 'wb') as file:
                        file.write(text.replace(building.encode(), venv.encode()))
    return os.path.join(venv, 'bin')


@pytest.fixture(scope='module')
def course(tmp_path_factory, nbgrader_bin):
    """A copy of nbgrader_course/ and a function running nbgrader in it."""
    built = tmp_path_factory.mktemp('built')
    build.write_outputs(built)  # release/, release.zip and nbgrader_course/, as tools/build.py makes them
    folder = tmp_path_factory.mktemp('course')
    shutil.copytree(built / build.COURSE, folder, dirs_exist_ok=True)
    # the notebooks' python3 kernel: this Python, which has the kit's requirements
    kernels = folder.parent / f'{folder.name}-jupyter'
    (kernels / 'kernels' / 'python3').mkdir(parents=True)
    (kernels / 'kernels' / 'python3' / 'kernel.json').write_text(json.dumps({
        'argv': [sys.executable, '-m', 'ipykernel_launcher', '-f', '{connection_file}'],
        'display_name': 'Python 3 (ipykernel)', 'language': 'python'}))
    # the kernels see the course folder only, whatever PYTHONPATH holds
    env = {**kernel_environment(), 'JUPYTER_PATH': str(kernels),
           'PATH': nbgrader_bin + os.pathsep + os.environ['PATH']}
    env.pop('NBGRADER_EXECUTION', None)

    def nbgrader(*args):
        done = subprocess.run([os.path.join(nbgrader_bin, 'nbgrader'), *args], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=RUN_TIMEOUT)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    def python(code):
        done = subprocess.run([os.path.join(nbgrader_bin, 'python'), '-c', code], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=RUN_TIMEOUT)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    nbgrader('generate_assignment', ASSIGNMENT, '--force')
    return folder, nbgrader, python


def comparable(notebook):
    """A notebook as nbgrader's release and the kit compare: cells and metadata, without the
    checksums nbgrader adds for its own integrity checks."""
    cells = []
    for cell in notebook.cells:
        metadata = json.loads(json.dumps(cell.metadata))
        metadata.get('nbgrader', {}).pop('checksum', None)
        cells.append({'id': cell.id, 'type': cell.cell_type, 'source': cell.source, 'metadata': metadata})
    return {'metadata': notebook.metadata, 'cells': cells}


def test_generate_assignment_makes_the_kits_student_notebook(course):
    folder, _, _ = course
    released = folder / 'release' / ASSIGNMENT
    theirs = nbformat.read(released / NOTEBOOK, as_version=4)
    ours = nbformat.reads(release()[build.STUDENT], as_version=4)
    ours_cells, theirs_cells = comparable(ours)['cells'], comparable(theirs)['cells']
    assert len(theirs_cells) == len(ours_cells)
    for mine, nbgraders in zip(ours_cells, theirs_cells):
        assert mine == nbgraders
    assert comparable(theirs) == comparable(ours)
    # and the files the notebook needs travel with it
    travelled = [os.path.relpath(os.path.join(here, name), released).replace(os.sep, '/')
                 for here, folders, names in os.walk(released) for name in names if '__pycache__' not in here]
    assert sorted(name for name in travelled if not name.endswith('.ipynb')) == \
        sorted(name for name in release() if not name.endswith('.ipynb'))


def submit(folder, student, gae, loss):
    released = folder / 'release' / ASSIGNMENT
    submission = folder / 'submitted' / student / ASSIGNMENT
    shutil.copytree(released, submission)
    notebook = solved(nbformat.read(submission / NOTEBOOK, as_version=4), gae, loss)
    notebook.cells[-1].source += '\n'  # nbgrader needs no more than a changed notebook
    nbformat.write(notebook, submission / NOTEBOOK)


def test_autograde_gives_full_points_to_a_correct_submission_and_partial_to_a_wrong_one(course):
    folder, nbgrader, python = course
    submit(folder, 'alice', STUDENT_GAE, STUDENT_LOSS)
    submit(folder, 'bob', STUDENT_GAE, WRONG_LOSS)
    nbgrader('autograde', ASSIGNMENT, '--create', '--force')
    scores = json.loads(python(f'''
import json
from nbgrader.api import Gradebook
with Gradebook('sqlite:///gradebook.db') as gradebook:
    print(json.dumps({{student: {{grade.name: [grade.score, grade.max_score] for grade in
                                 gradebook.find_submission_notebook({ASSIGNMENT!r}, {ASSIGNMENT!r}, student).grades}}
                      for student in ('alice', 'bob')}}))
'''))
    tests = {f'test_{group}': points for group, points in (('gae_course', 2), ('gae', 3), ('loss_course', 2),
                                                          ('loss', 3))}
    assert scores['alice'] == {**{name: [points, points] for name, points in tests.items()}, 'answers': [0, 3]}
    assert scores['bob'] == {'test_gae_course': [2, 2], 'test_gae': [3, 3], 'test_loss_course': [0, 2],
                             'test_loss': [0, 3], 'answers': [0, 3]}
    # the autograder ran the tests, not the training
    graded = nbformat.read(folder / 'autograded' / 'alice' / ASSIGNMENT / NOTEBOOK, as_version=4)
    training = next(cell for cell in graded.cells if 'skip_if_grading(GRADING)' in cell.source)
    assert [output.get('ename') for output in training.outputs if output.output_type == 'error'] == ['TrainingSkipped']
    assert 'All' in ''.join(output.get('text', '') for output in cell_with_id(graded, 'test_loss').outputs)
    assert grade_id(cell_with_id(graded, 'ppo')) == 'ppo'
