"""Builds everything derived from the kit's hand-written sources (instructor side).

    python tools/build.py          # write every generated file
    python tools/build.py --check  # write nothing; exit 1 and list what is out of date
    python tools/build.py --feedback named   # the hand-out's reports give away at most the mistake's
                                             # name (levels: verdict, located, named, fix; default fix)

Sources (edited by hand) and what is generated from them:

    instructor/ppo_lunarlander.md   the notebook's text and its untagged code cells (MyST markdown,
      + ppo_reference.py regions    read with jupytext); a code cell tagged reference:NAME is filled
                                    from the region between `# %% notebook: NAME` and `# %% end`
    -> ppo_lunarlander.ipynb        the completed notebook, a valid nbgrader source notebook
    tools/make_expected.py          -> rl_kit/expected.json, the expected values of the grading cases
    tools/data/lunarlander_episode.json (recorded by tools/record_episode.py)
                                    -> rl_kit/gae_episode.json, the GAE explorer's numbers, computed
                                    with ppo_reference's compute_advantages
    -> release/                     exactly what a student receives: the student notebook (under the
                                    completed one's name, as nbgrader releases it: what `nbgrader
                                    generate_assignment` makes of it, tests/grader/test_nbgrader.py
                                    checks that), the local modules it imports (found by following
                                    the imports) and their data, and release.zip with the same files
                                    in a folder ppo_lunarlander/; its rl_kit/settings.json holds the
                                    default feedback level of the hand-out's reports (--feedback)
    -> nbgrader_course/             an nbgrader course folder: nbgrader_config.py and
                                    source/ppo_lunarlander/ (the completed notebook and its files)
    -> autograder.zip               the Gradescope autograder (grader/gradescope.py): at its root
                                    grader/autograder/'s setup.sh and run_autograder, the grader and
                                    the modules it imports, requirements.txt, and
                                    autograder_config.json with the points of the notebook's points cells

The completed notebook, rl_kit/expected.json and rl_kit/gae_episode.json are committed, and
--check compares them. release/, release.zip, nbgrader_course/ and autograder.zip are build outputs (git ignores them):
copies of files that are committed once already; the tests build them into a temporary
folder. Generators write only generated files: nothing here edits a hand-written source.
"""

import ast
import copy
import functools
import io
import json
import os
import re
import sys
import zipfile

import jupytext
import nbformat

TOOLS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TOOLS)
sys.path[:0] = [ROOT, TOOLS]

NOTEBOOK_SOURCE = 'instructor/ppo_lunarlander.md'
REFERENCE = 'ppo_reference.py'
COMPLETED = 'ppo_lunarlander.ipynb'
STUDENT = COMPLETED  # release/ppo_lunarlander.ipynb: the name nbgrader's release gives it
RECORDING = 'tools/data/lunarlander_episode.json'
GAE_DATA = 'rl_kit/gae_episode.json'
EXPECTED = 'rl_kit/expected.json'
RELEASE = 'release'
RELEASE_ZIP = 'release.zip'
SETTINGS = 'rl_kit/settings.json'  # the hand-out's settings that rl_tests reads: {"feedback": LEVEL}
ZIP_FOLDER = 'ppo_lunarlander'
COURSE = 'nbgrader_course'
ASSIGNMENT = 'ppo_lunarlander'
AUTOGRADER_ZIP = 'autograder.zip'
AUTOGRADER_SCRIPTS = 'grader/autograder'   # setup.sh and run_autograder, hand-written
# modules that must never reach a student, whatever imports them
INSTRUCTOR_MODULES = {'ppo_reference', 'instructor', 'grader', 'grade', 'tools'}

# What the student sees in place of a solution. nbgrader is configured with the same stubs
# (nbgrader_config.py below), so that its generated notebook is the kit's student notebook.
CODE_STUB = 'raise NotImplementedError()  # replace this line with your code'
TEXT_STUB = '**Answers**\n\n*Your answers:* (double-click this cell and write them here)'
BEGIN_SOLUTION, END_SOLUTION = 'BEGIN SOLUTION', 'END SOLUTION'  # nbgrader's delimiters

# The notebook metadata JupyterLab writes when it saves a notebook with the python3 kernel of
# ipykernel. With exactly this metadata a notebook opens without the "unsaved" dot; only on a
# Python other than this one does JupyterLab update language_info.version (and show the dot).
PYTHON_VERSION = '3.11.7'
NOTEBOOK_METADATA = {
    'kernelspec': {'display_name': 'Python 3 (ipykernel)', 'language': 'python', 'name': 'python3'},
    'language_info': {'codemirror_mode': {'name': 'ipython', 'version': 3}, 'file_extension': '.py',
                      'mimetype': 'text/x-python', 'name': 'python', 'nbconvert_exporter': 'python',
                      'pygments_lexer': 'ipython3', 'version': PYTHON_VERSION},
}

REGION = re.compile(r'^# %% notebook: (\w+)\n(.*?)^# %% end$', re.MULTILINE | re.DOTALL)
NBGRADER_SCHEMA = 3

# The GAE explorer's grid: the sliders offer exactly these values.
GAMMAS = (0.9, 0.95, 0.99, 0.995, 0.999)
LAMBDAS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 1.0)
GAE_DECIMALS = 3


class BuildError(ValueError):
    """A source is inconsistent; the message says which and how to fix it."""


def read(path):
    with open(os.path.join(ROOT, path), encoding='utf-8') as file:
        return file.read()


# ------------------------------------------------------------------------------------
# The completed notebook
# ------------------------------------------------------------------------------------

def reference_regions(source):
    """{name: code} of the notebook regions of ppo_reference.py."""
    regions = {}
    for name, code in REGION.findall(source):
        if name in regions:
            raise BuildError(f'{REFERENCE}: the region {name!r} appears twice')
        regions[name] = code.strip('\n')
    return regions


def tag_value(tags, key):
    """The value of the tag `key:value` among a cell's tags, or None."""
    values = [tag.split(':', 1)[1] for tag in tags if tag.startswith(key + ':')]
    return values[0] if values else None


def nbgrader_metadata(grade_id, *, solution=False, grade=False, locked=False, points=None):
    metadata = {'grade': grade, 'grade_id': grade_id, 'locked': locked, 'schema_version': NBGRADER_SCHEMA,
                'solution': solution, 'task': False}
    if grade:
        metadata['points'] = points
    return metadata


def points_of(cell, tags):
    points = tag_value(tags, 'points')
    if points is None or not points.isdigit():
        raise BuildError(f'{NOTEBOOK_SOURCE}: a graded cell needs a tag points:N, got tags {tags} on:\n'
                         f'{cell.source[:200]}')
    return int(points)


def nbgrader_role(cell, reference_name, tags):
    """The nbgrader metadata of a cell of the completed notebook (None: an ordinary cell)."""
    if cell.cell_type == 'markdown':
        if 'answer' in tags:  # a manually graded answer
            return nbgrader_metadata('answers', solution=True, grade=True, points=points_of(cell, tags))
        return None  # read-only narrative: numbered by the caller
    if BEGIN_SOLUTION in cell.source:  # an autograded answer
        if reference_name is None:
            raise BuildError(f'{NOTEBOOK_SOURCE}: solution markers outside a reference cell:\n{cell.source[:200]}')
        return nbgrader_metadata(reference_name, solution=True)
    test_group = tag_value(tags, 'test')
    if test_group is not None:  # an autograder test
        return nbgrader_metadata(f'test_{test_group}', grade=True, locked=True, points=points_of(cell, tags))
    if 'locked' in tags:
        return nbgrader_metadata(reference_name or 'report', locked=True)
    return None


def check_grade_ids(notebook):
    ids = [cell.metadata['nbgrader']['grade_id'] for cell in notebook.cells if 'nbgrader' in cell.metadata]
    duplicates = sorted({grade_id for grade_id in ids if ids.count(grade_id) > 1})
    if duplicates:
        raise BuildError(f'{NOTEBOOK_SOURCE}: grade ids used twice: {", ".join(duplicates)}')


def build_completed(source, regions):
    """The completed notebook: the source's cells, reference cells filled, nbgrader roles set."""
    notebook = jupytext.reads(source, fmt='md:myst')
    notebook.metadata = copy.deepcopy(NOTEBOOK_METADATA)
    used, text_number = set(), 0
    for index, cell in enumerate(notebook.cells):
        tags = list(cell.metadata.get('tags', []))
        name = tag_value(tags, 'reference')
        if name is not None:
            if name not in regions:
                raise BuildError(f'{NOTEBOOK_SOURCE}: a cell is tagged reference:{name}, but {REFERENCE} has no '
                                 f'region {name!r}')
            if cell.source.strip():
                raise BuildError(f'{NOTEBOOK_SOURCE}: the cell tagged reference:{name} must be empty (its code '
                                 f'comes from {REFERENCE})')
            cell.source = regions[name]
            used.add(name)
        role = nbgrader_role(cell, name, tags)
        if role is None and cell.cell_type == 'markdown':
            text_number += 1
            role = nbgrader_metadata(f'text_{text_number:02d}', locked=True)  # read-only narrative
        cell.metadata = {'nbgrader': role} if role is not None else {}
        cell.id = role['grade_id'] if role is not None else f'code_{index:02d}'
        if cell.cell_type == 'code':
            cell.outputs, cell.execution_count = [], None
    unused = sorted(set(regions) - used)
    if unused:
        raise BuildError(f'regions of {REFERENCE} that no notebook cell shows: {", ".join(unused)}')
    check_grade_ids(notebook)
    return notebook


# ------------------------------------------------------------------------------------
# The student notebook: nbgrader generate_assignment's LockCells, ClearSolutions, ClearOutput
# ------------------------------------------------------------------------------------

def clear_solution_regions(source, stub):
    """nbgrader's ClearSolutions on one cell: each line from one containing BEGIN SOLUTION to
    the one containing END SOLUTION becomes the stub, indented like the BEGIN line.
    Returns (source, whether a region was replaced)."""
    lines, in_solution, replaced = [], False, False
    for line in source.split('\n'):
        if BEGIN_SOLUTION in line:
            if in_solution:
                raise BuildError(f'nested {BEGIN_SOLUTION} in:\n{source}')
            in_solution = replaced = True
            indent = re.match(r'\s*', line).group(0)
            lines.extend(indent + stub_line for stub_line in stub.split('\n'))
        elif END_SOLUTION in line:
            if not in_solution:
                raise BuildError(f'{END_SOLUTION} without {BEGIN_SOLUTION} in:\n{source}')
            in_solution = False
        elif not in_solution:
            lines.append(line)
    if in_solution:
        raise BuildError(f'{BEGIN_SOLUTION} without {END_SOLUTION} in:\n{source}')
    return '\n'.join(lines), replaced


def student_notebook(completed):
    notebook = copy.deepcopy(completed)
    for cell in notebook.cells:
        role = cell.metadata.get('nbgrader')
        if role is not None:
            role['cell_type'] = cell.cell_type  # ComputeChecksums records it (and a checksum, left out here)
            # LockCells, with nbgrader's defaults
            if role['solution']:
                cell.metadata['deletable'] = False
            elif role['grade'] or role['locked']:
                cell.metadata['deletable'] = cell.metadata['editable'] = False
        stub = CODE_STUB if cell.cell_type == 'code' else TEXT_STUB
        cell.source, replaced = clear_solution_regions(cell.source, stub)
        if role is not None and role['solution'] and not replaced:
            cell.source = stub
        if cell.cell_type == 'code':
            cell.outputs, cell.execution_count = [], None
    return notebook


def notebook_text(notebook):
    nbformat.validate(notebook)
    return nbformat.writes(notebook) + '\n'


# ------------------------------------------------------------------------------------
# The GAE explorer's data
# ------------------------------------------------------------------------------------

def gae_data(recording_text):
    """rl_gae_episode.json: TD errors and advantages of the recorded episode for every (γ, λ)
    of the grid, computed by ppo_reference's compute_advantages. The student receives numbers,
    not code: nothing in the release computes an advantage."""
    import torch
    import ppo_reference

    recording = json.loads(recording_text)
    rewards = torch.tensor(recording['rewards'], dtype=torch.float32)  # shape (T,)
    values = torch.tensor(recording['values'], dtype=torch.float32)    # shape (T + 1,): V(s_0) .. V(s_T)
    steps = len(rewards)
    if len(values) != steps + 1:
        raise BuildError(f'{RECORDING}: {steps} rewards need {steps + 1} values, got {len(values)}')

    class RecordedCritic(ppo_reference.PPO):
        # The "states" are the step numbers, so that the reference's compute_advantages reads
        # the recorded values: V(state t) = values[t].
        def compute_values(self, states):
            return values[states[:, 0].long()]

    states = torch.arange(steps, dtype=torch.float32).unsqueeze(1)   # shape (T, 1)
    next_states = states + 1
    terminations = torch.zeros(steps, dtype=torch.bool)
    truncations = torch.zeros(steps, dtype=torch.bool)
    (terminations if recording['terminated'] else truncations)[-1] = True

    def rounded(x):
        return [round(v, GAE_DECIMALS) for v in x.tolist()]

    deltas, advantages = [], []
    for gamma in GAMMAS:
        curves = []
        for lmbda in LAMBDAS:
            ppo = RecordedCritic(1, 2, gamma, lmbda, 0.2, steps)
            advantage, _ = ppo.compute_advantages(states, rewards, next_states, terminations, truncations)
            curves.append(rounded(advantage))
        deltas.append(curves[LAMBDAS.index(0.0)])  # at λ = 0 the advantage is the TD error
        advantages.append(curves)
    lines = [
        '{',
        f'"about": {json.dumps("generated by tools/build.py from " + RECORDING + ": " + recording["about"])},',
        f'"env_id": {json.dumps(recording["env_id"])},',
        f'"terminated": {json.dumps(recording["terminated"])},',
        f'"gammas": {json.dumps(list(GAMMAS))},',
        f'"lambdas": {json.dumps(list(LAMBDAS))},',
        f'"rewards": {json.dumps(recording["rewards"])},',
        f'"values": {json.dumps(recording["values"])},',
        '"deltas": [',
        ',\n'.join(json.dumps(curve) for curve in deltas),
        '],',
        '"advantages": [',
        ',\n'.join('[' + ',\n'.join(json.dumps(curve) for curve in curves) + ']' for curves in advantages),
        ']',
        '}',
    ]
    return '\n'.join(lines) + '\n'


# ------------------------------------------------------------------------------------
# release/ and the nbgrader course folder
# ------------------------------------------------------------------------------------

def module_file(name):
    """The file (relative to ROOT) of a local module or package of dotted `name`, or None."""
    path = os.path.join(*name.split('.'))
    for candidate in (path + '.py', os.path.join(path, '__init__.py')):
        if os.path.exists(os.path.join(ROOT, candidate)):
            return candidate
    return None


def local_imports(module_text):
    """The files (relative to ROOT) of the local modules that `module_text` imports, with the
    __init__.py of the packages on the way."""
    names = set()
    for node in ast.walk(ast.parse(module_text)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f'{node.module}.{alias.name}' for alias in node.names)  # from a package import a module
    files = set()
    for name in names:
        parts = name.split('.')
        for end in range(1, len(parts) + 1):
            found = module_file('.'.join(parts[:end]))
            if found is not None:
                files.add(found)
    return files


def student_modules(notebook, generated):
    """{file name: text} of the local modules the notebook needs, following imports."""
    code = '\n'.join(cell.source for cell in notebook.cells if cell.cell_type == 'code')
    todo, found = sorted(local_imports(code)), {}
    while todo:
        path = todo.pop()
        if path in found:
            continue
        top = path.split('/')[0].removesuffix('.py')
        if top in INSTRUCTOR_MODULES:
            raise BuildError(f'the student notebook needs {path} (through its imports), which is instructor-only')
        found[path] = generated.get(path) or read(path)
        todo.extend(sorted(local_imports(found[path]) - set(found)))
    return dict(sorted(found.items()))


def zip_bytes(files, folder=ZIP_FOLDER, executables=()):
    """A zip of {name: text or bytes} in `folder` ('' for the zip's root), the same bytes for
    the same files; `executables` are marked executable."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w', zipfile.ZIP_DEFLATED) as archive:
        for name, text in sorted(files.items()):
            info = zipfile.ZipInfo(f'{folder}/{name}' if folder else name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name in executables else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text.encode('utf-8') if isinstance(text, str) else text)
    return buffer.getvalue()


def zip_contents(data):
    """{name: bytes} of a zip (what --check compares: deflate's bytes may differ between zlibs)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def nbgrader_config():
    return f'''# nbgrader configuration of the PPO course kit. Generated by tools/build.py: do not edit.
# Run nbgrader from this folder, e.g. nbgrader generate_assignment {ASSIGNMENT}
c = get_config()  # noqa: F821 (nbgrader provides it)

c.CourseDirectory.root = '.'
# the kit's own stubs, so that the generated student notebook is the kit's
c.ClearSolutions.code_stub = {{'python': {CODE_STUB!r}}}
c.ClearSolutions.text_stub = {TEXT_STUB!r}
# the support files travel with the notebook
c.CourseDirectory.ignore = ['.ipynb_checkpoints', '*.pyc', '__pycache__', '*.gif']
# seconds per cell; under nbgrader the notebook runs its tests and skips the training
c.Execute.timeout = 300
'''


# ------------------------------------------------------------------------------------
# The Gradescope autograder
# ------------------------------------------------------------------------------------

def group_points(completed):
    """{group: points} of the completed notebook's points cells (grade id test_GROUP)."""
    import rl_tests
    points = {}
    for cell in completed.cells:
        role = cell.metadata.get('nbgrader', {})
        if role.get('grade') and role.get('grade_id', '').startswith('test_'):
            points[role['grade_id'][len('test_'):]] = role['points']
    if set(points) != set(rl_tests.GROUPS):
        raise BuildError(f'{NOTEBOOK_SOURCE}: the points cells (tags test:GROUP, points:N) cover the groups '
                         f'{sorted(points)}; rl_tests.GROUPS has {sorted(rl_tests.GROUPS)}: give each group one cell')
    return {group: points[group] for group in rl_tests.GROUPS}


def grader_files(generated):
    """{file name: text} of what the grader runs: grader/*.py, the local modules they import
    (following imports: the reference, the mistakes, rl_tests, rl_kit), the student modules
    the sandbox copies (grader.sandbox.STUDENT_FILES) and their data, requirements.txt."""
    from grader import sandbox
    todo = sorted(f'grader/{name}' for name in os.listdir(os.path.join(ROOT, 'grader')) if name.endswith('.py'))
    for name in sandbox.STUDENT_FILES:
        if os.path.isdir(os.path.join(ROOT, name)):
            todo += sorted(f'{name}/{file}' for file in os.listdir(os.path.join(ROOT, name))
                           if file.endswith(('.py', '.json')))
        else:
            todo.append(name)
    found = {}
    while todo:
        path = todo.pop()
        if path in found:
            continue
        found[path] = generated.get(path) or read(path)
        if path.endswith('.py'):
            todo.extend(sorted(local_imports(found[path]) - set(found)))
    found['requirements.txt'] = read('requirements.txt')
    return dict(sorted(found.items()))


def autograder_zip(completed, generated):
    from grader import gradescope
    config = dict(gradescope.DEFAULTS, points=group_points(completed))
    files = {**grader_files(generated), gradescope.CONFIG: json.dumps(config, indent=1) + '\n'}
    scripts = sorted(os.listdir(os.path.join(ROOT, AUTOGRADER_SCRIPTS)))
    for name in scripts:
        files[name] = read(f'{AUTOGRADER_SCRIPTS}/{name}')
    return zip_bytes(files, folder='', executables=scripts)


# ------------------------------------------------------------------------------------
# All targets
# ------------------------------------------------------------------------------------

def settings_json(feedback):
    """The hand-out's rl_kit/settings.json: how much its reports give away by default."""
    from rl_kit.levels import LEVELS
    if feedback not in LEVELS:
        raise BuildError(f'--feedback must be one of {", ".join(LEVELS)}, got {feedback!r}')
    return json.dumps({'about': 'GENERATED by tools/build.py --feedback LEVEL: how much the reports of rl_tests give '
                       'away by default (verdict, located, named, fix)', 'feedback': feedback}, indent=1) + '\n'


@functools.lru_cache(maxsize=4)
def targets(feedback='fix'):
    """{path relative to ROOT: text or bytes} of every generated file (computed once per process
    and feedback level; do not change the dict). feedback: the hand-out's default level."""
    regions = reference_regions(read(REFERENCE))
    completed = build_completed(read(NOTEBOOK_SOURCE), regions)
    student = student_notebook(completed)
    import make_expected  # the generator of the expected values (tools/make_expected.py)
    generated = {
        EXPECTED: make_expected.expected_json(),
        COMPLETED: notebook_text(completed),
        GAE_DATA: gae_data(read(RECORDING)),
    }
    # what the notebook's modules import, and the data they read
    support = {**student_modules(completed, generated), GAE_DATA: generated[GAE_DATA], EXPECTED: generated[EXPECTED],
               SETTINGS: settings_json(feedback)}
    release = {STUDENT: notebook_text(student), **support}
    for name, text in release.items():
        generated[f'{RELEASE}/{name}'] = text
    generated[RELEASE_ZIP] = zip_bytes(release)
    course = {ASSIGNMENT + '.ipynb': generated[COMPLETED], **support}
    for name, text in course.items():
        generated[f'{COURSE}/source/{ASSIGNMENT}/{name}'] = text
    generated[f'{COURSE}/nbgrader_config.py'] = nbgrader_config()
    generated[AUTOGRADER_ZIP] = autograder_zip(completed, generated)
    return generated


OWNED_FOLDERS = (RELEASE, f'{COURSE}/source/{ASSIGNMENT}')  # everything in them is generated
OUTPUTS = (RELEASE + '/', RELEASE_ZIP, COURSE + '/', AUTOGRADER_ZIP)  # build outputs, not in git


def tracked(path):
    """Whether a generated file is committed (and so compared by --check)."""
    return not path.startswith(OUTPUTS)


def write_outputs(folder, generated=None):
    """Writes release/, release.zip, nbgrader_course/ and autograder.zip into `folder` (for the tests)."""
    for path, content in (generated or targets()).items():
        if not tracked(path):
            full = os.path.join(folder, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, 'wb') as file:
                file.write(content.encode('utf-8') if isinstance(content, str) else content)


def stale_files(generated):
    """Files in the generated folders that the build no longer makes."""
    stale = []
    for folder in OWNED_FOLDERS:
        for here, folders, names in os.walk(os.path.join(ROOT, folder)):
            folders[:] = [name for name in folders if name not in ('.ipynb_checkpoints', '__pycache__')]
            for name in sorted(names):
                path = os.path.relpath(os.path.join(here, name), ROOT).replace(os.sep, '/')
                if path not in generated:
                    stale.append(path)
    return stale


def up_to_date(path, content):
    full = os.path.join(ROOT, path)
    if not os.path.exists(full):
        return False
    with open(full, 'rb') as file:
        current = file.read()
    if path.endswith('.zip'):
        try:
            return zip_contents(current) == zip_contents(content)
        except zipfile.BadZipFile:
            return False
    return current == (content.encode('utf-8') if isinstance(content, str) else content)


def main(argv):
    check = '--check' in argv
    feedback = 'fix'
    if '--feedback' in argv:
        index = argv.index('--feedback')
        if index + 1 >= len(argv):
            print('build failed: --feedback needs a level: verdict, located, named or fix', file=sys.stderr)
            return 2
        feedback = argv[index + 1]
    try:
        generated = targets(feedback)
    except BuildError as error:
        print(f'build failed: {error}', file=sys.stderr)
        return 2
    if check:
        outdated = [path for path, content in generated.items() if tracked(path) and not up_to_date(path, content)]
        for path in outdated:
            print(f'out of date: {path}')
        if outdated:
            print('run python tools/build.py')
            return 1
        print(f'all {sum(map(tracked, generated))} committed generated files are up to date')
        return 0
    outdated = [path for path, content in generated.items() if not up_to_date(path, content)]
    stale = stale_files(generated)
    for path in outdated:
        full = os.path.join(ROOT, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        content = generated[path]
        with open(full, 'wb') as file:
            file.write(content.encode('utf-8') if isinstance(content, str) else content)
        print(f'wrote {path}')
    for path in stale:
        os.remove(os.path.join(ROOT, path))
        print(f'removed {path}')
    print(f'{len(outdated) + len(stale)} of {len(generated)} generated files changed')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
