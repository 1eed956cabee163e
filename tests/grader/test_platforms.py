"""Grading where courses grade: the Gradescope autograder (autograder.zip's run_autograder
under a temporary AUTOGRADER_ROOT), the LMS files of a roster, the class report, and a
folder graded in 3 shards and merged.

One class folder is graded once for the module, as a single run and as 3 shards (each with
a seed of its own); the zip's runs are started together, once, and the tests read what
they wrote."""

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

import pytest

import build  # tools/, on the path via conftest
from grader import batch as grade
from grader import gradescope, lms, report, shards
from test_grade import SUBMISSIONS, TIMEOUT, completed, with_ppo_patch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEED = 1
SHARD_SEEDS = (SEED + 1, SEED, SEED + 1)  # a shard's seed is its own: not the single run's (test_grade's seeds)
HOSTILE_NAME = '<img src=x onerror=alert(1)>'
# the class: the top mistake (λ is missing) is made by 3 submissions
CLASS = {
    'alice_correct': SUBMISSIONS['alice_correct'],
    'bob_no_lambda': SUBMISSIONS['bob_no_lambda'],
    'bea_no_lambda': SUBMISSIONS['bob_no_lambda'],
    'ben_no_lambda': SUBMISSIONS['bob_no_lambda'],
    'carol_max': SUBMISSIONS['carol_max'],
    'erin_not_started': SUBMISSIONS['erin_not_started'],
    'victor_garbage': SUBMISSIONS['victor_garbage'],
    HOSTILE_NAME: SUBMISSIONS['judy_crash_at_import'],  # an error row: listed in the report
}
ROSTER = '''student_id,name,email,filename
1001,Alice Liddell,alice_correct@uni.edu,
1002,Bob Builder,bob@uni.edu,bob_no_lambda
1003,Bea Arthur,bea_no_lambda@uni.edu,
1004,Zed Nobody,zed@uni.edu,
'''


def write_class(folder):
    for name, text in CLASS.items():
        (folder / f'{name}.ipynb').write_text(text, encoding='utf-8')


def read_csv(path):
    with open(path, newline='', encoding='utf-8') as file:
        return list(csv.reader(file))


@pytest.fixture(scope='module')
def graded(tmp_path_factory):
    """The class folder graded once as a single run (with the roster) and once as 3 shards,
    each shard with its own seed; then the shards merged."""
    folder = tmp_path_factory.mktemp('class')
    write_class(folder)
    roster = tmp_path_factory.mktemp('roster') / 'roster.csv'
    roster.write_text(ROSTER, encoding='utf-8')
    single = tmp_path_factory.mktemp('single')
    rows = grade.grade_folder(str(folder), str(single), timeout=TIMEOUT, jobs=2, seed=SEED, roster=str(roster))
    parts = []
    for k, seed in zip((1, 2, 3), SHARD_SEEDS):
        out = tmp_path_factory.mktemp(f'shard{k}')
        grade.grade_folder(str(folder), str(out), timeout=TIMEOUT, jobs=1, seed=seed, shard=(k, 3), roster=str(roster))
        parts.append(out)
    merged = tmp_path_factory.mktemp('merged')
    merged_rows = shards.merge(str(merged), [str(part) for part in reversed(parts)], roster=str(roster))
    return dict(folder=folder, roster=roster, single=single, rows=rows, shards=parts, merged=merged,
                merged_rows=merged_rows)


# ------------------------------------------------------------------------------------
# Shards
# ------------------------------------------------------------------------------------

def test_three_shards_merged_give_the_gradebook_of_one_run(graded):
    single, merged = graded['single'], graded['merged']
    assert (merged / 'gradebook.csv').read_bytes() == (single / 'gradebook.csv').read_bytes()
    assert graded['merged_rows'] == graded['rows']
    assert sorted(os.listdir(merged / 'feedback')) == sorted(os.listdir(single / 'feedback'))
    for part in graded['shards']:  # each student's report as its shard wrote it (its numbers are its seed's)
        for name in os.listdir(part / 'feedback'):
            assert (merged / 'feedback' / name).read_text() == (part / 'feedback' / name).read_text(), name
    assert (merged / lms.GRADES).read_bytes() == (single / lms.GRADES).read_bytes()
    assert (merged / lms.UNMATCHED).read_bytes() == (single / lms.UNMATCHED).read_bytes()


def test_a_shard_grades_its_share_only(graded):
    paths = grade.submission_paths(str(graded['folder']))
    names = grade.submission_names(paths)
    counts = []
    for k, part in enumerate(graded['shards'], 1):
        table = read_csv(part / 'gradebook.csv')
        assert [row[0] for row in table[1:]] == [grade._spreadsheet_safe(name) for name in names[k - 1::3]]
        counts.append(len(table) - 1)
        record = json.loads((part / shards.RECORD).read_text())
        assert record['shard'] == [k, 3]
        assert not (part / lms.GRADES).exists()  # the LMS file is merge's: a shard sees a third of the class
    assert sum(counts) == len(CLASS) and max(counts) - min(counts) <= 1
    ids = {json.loads((part / shards.RECORD).read_text())['batch']['id'] for part in graded['shards']}
    assert ids == {json.loads((graded['single'] / shards.RECORD).read_text())['batch']['id']}


def test_parse_shard():
    assert shards.parse_shard('2/8') == (2, 8)
    for bad in ('0/3', '4/3', '3', 'a/b', '1/0', '-1/3', '1/3/4'):
        with pytest.raises(shards.ShardError, match='--shard must be K/N with 1 <= K <= N'):
            shards.parse_shard(bad)


def copy_shard(source, target):
    shutil.copytree(source, target)
    return target


def test_merge_refuses_a_missing_shard(graded, tmp_path):
    with pytest.raises(shards.ShardError, match=r'shard 2/3 of this batch is missing: grade --shard 2/3'):
        shards.merge(str(tmp_path / 'out'), [str(graded['shards'][0]), str(graded['shards'][2])])
    with pytest.raises(shards.ShardError, match='no such folder'):
        shards.merge(str(tmp_path / 'out'), [str(graded['shards'][0]), str(tmp_path / 'nope')])
    unfinished = copy_shard(graded['shards'][1], tmp_path / 'unfinished')
    (unfinished / shards.RECORD).unlink()
    with pytest.raises(shards.ShardError, match='not a finished grade.py output'):
        shards.merge(str(tmp_path / 'out'), [str(graded['shards'][0]), str(unfinished), str(graded['shards'][2])])
    lost = copy_shard(graded['shards'][1], tmp_path / 'lost')
    os.remove(lost / 'feedback' / sorted(os.listdir(lost / 'feedback'))[0])
    with pytest.raises(shards.ShardError, match=r'1 feedback file\(s\) of the shards are missing'):
        shards.merge(str(tmp_path / 'out'), [str(graded['shards'][0]), str(lost), str(graded['shards'][2])])
    assert not (tmp_path / 'out' / 'gradebook.csv').exists()  # nothing half-written


def test_merge_refuses_a_repeated_shard(graded, tmp_path):
    again = copy_shard(graded['shards'][0], tmp_path / 'again')
    with pytest.raises(shards.ShardError, match=r'shard 1/3 is given twice'):
        shards.merge(str(tmp_path / 'out'), [str(graded['shards'][0]), str(again), *map(str, graded['shards'][1:])])
    with pytest.raises(shards.ShardError, match='is one of the shards'):
        shards.merge(str(graded['shards'][0]), [str(part) for part in graded['shards']])


def tampered(source, target, change):
    """A copy of a shard's output whose batch.json says what `change` makes it say."""
    copy_shard(source, target)
    record = json.loads((source / shards.RECORD).read_text())
    change(record)
    (target / shards.RECORD).write_text(json.dumps(record))
    return str(target)


def test_merge_refuses_shards_of_different_batches(graded, tmp_path):
    first, second, third = graded['shards']

    def batch(**changes):
        def change(record):
            record['batch'].update(changes, id='another batch')
        return change
    for changes, message in ((dict(submissions='0' * 64), 'they graded different submissions'),
                             (dict(kit='0' * 64), 'they were graded with different versions of the kit'),
                             (dict(settings=dict(json.loads((second / shards.RECORD).read_text())['batch']['settings'],
                                                 timeout=99.0)),
                              'they were graded with different options: timeout 15.0 and 99.0')):
        other = tampered(second, tmp_path / str(len(os.listdir(tmp_path))), batch(**changes))
        with pytest.raises(shards.ShardError, match=f'shards of different batches: {message}'):
            shards.merge(str(tmp_path / 'out'), [str(first), other, str(third)])
    split = tampered(second, tmp_path / 'split', lambda record: record.update(shard=[2, 4]))
    with pytest.raises(shards.ShardError, match='does not hold the submissions of shard 2/4'):
        shards.merge(str(tmp_path / 'out'), [str(first), split])
    damaged = copy_shard(second, tmp_path / 'damaged')
    (damaged / shards.RECORD).write_text('{"format": 1, "shard": [2, 3]')
    with pytest.raises(shards.ShardError, match='is damaged'):
        shards.merge(str(tmp_path / 'out'), [str(first), str(damaged), str(third)])


def test_the_batch_identity_names_the_folder_the_options_and_the_kit(tmp_path):
    folder = tmp_path / 'f'
    folder.mkdir()
    (folder / 'a.ipynb').write_text('{}')
    paths = grade.submission_paths(str(folder))
    settings = dict(timeout=60, memory_mb=2048, hidden=None)
    first = shards.batch_identity(paths, settings)
    assert shards.batch_identity(paths, settings) == first
    assert shards.batch_identity(paths, dict(settings, memory_mb=1024))['id'] != first['id']
    (folder / 'a.ipynb').write_text('{"cells": []}')  # a resubmission
    assert shards.batch_identity(paths, settings)['submissions'] != first['submissions']
    os.symlink(os.path.join(ROOT, 'ppo_reference.py'), folder / 'link.ipynb')  # counted, never followed
    assert shards.folder_identity(grade.submission_paths(str(folder)))


# ------------------------------------------------------------------------------------
# The class report
# ------------------------------------------------------------------------------------

def test_the_class_report_names_the_top_mistake_with_its_count(graded):
    page = (graded['single'] / shards.REPORT).read_text()
    top = re.search(r'<p id="top-mistake">The most common mistake: <b>(.*?)</b>, made by <b>(\d+)</b>', page)
    assert top.groups() == ('λ is missing', '3')
    rows = {row['submission']: row for row in graded['rows']}  # the gradebook agrees
    assert [name for name in rows if rows[name]['first_mistake'] == 'λ is missing'] == \
        ['bea_no_lambda', 'ben_no_lambda', 'bob_no_lambda']
    assert 'bea_no_lambda, ben_no_lambda, bob_no_lambda' in page  # which submissions


def test_the_class_report_is_self_contained_and_escapes_student_text(graded):
    page = (graded['single'] / shards.REPORT).read_text()
    images = re.findall(r'<img src="([^"]*)"', page)
    assert len(images) >= 4 and all(src.startswith('data:image/png;base64,') for src in images)
    assert not re.search(r'<(script|link|iframe|object)\b', page) and 'http' not in page
    assert HOSTILE_NAME not in page and html_escaped(HOSTILE_NAME) in page
    assert 'Isolation was' in page
    assert 'ZeroDivisionError: division by zero' in page  # the errors, with their detail
    assert (graded['merged'] / shards.REPORT).read_text().count('<img src="data:image/png') == len(images)


def html_escaped(text):
    import html
    return html.escape(text)


def records(*rows):
    return [dict(position=index, row=dict(grade.empty_row(name, isolated), status=status, score=score, detail=detail),
                 **({'groups': {'gae': [1, 2]}, 'cases': [['gae', 'case 1', True], ['gae', 'case 2', False]],
                     'mistakes': mistakes} if status == 'ok' else {}))
            for index, (name, status, score, isolated, detail, mistakes) in enumerate(rows)]


def test_the_class_summary_counts_what_the_class_did():
    summary = report.class_summary(records(
        ('a', 'ok', 50.0, True, '', [['lambda', 'λ is missing'], ['norm', 'normalised']]),
        ('b', 'ok', 50.0, True, '', [['lambda', 'λ is missing']]),
        ('c', 'timeout', 0.0, False, 'did not finish within 60 s', []),
        ('d', 'error', 0.0, True, 'ValueError: <b>', [])))
    assert summary['mistakes'][0] == ('lambda', 'λ is missing', ['a', 'b'])
    assert summary['groups'] == {'gae': [0, 2]} and summary['cases'][('gae', 'case 1')] == [2, 2]
    assert summary['isolated'] == {'yes': 3, 'no': 1} and summary['ran'] == 2
    assert [row['submission'] for row in summary['problems']] == ['c', 'd']
    page = report.class_report_html(records(('c', 'timeout', 0.0, False, 'did not finish', [])), {'id': 'x'}, (1, 1),
                                    [{'started': 'now', 'host': 'h', 'seconds': 1}])
    assert 'Isolation was OFF for 1 of 1 submissions' in page and 'No known mistake was named' in page
    assert 'did not finish' in page
    assert 'No submissions.' in report.class_report_html([], {'id': 'x'}, (1, 1), [])


# ------------------------------------------------------------------------------------
# The LMS files
# ------------------------------------------------------------------------------------

def test_lms_grades_of_the_class(graded):
    table = read_csv(graded['single'] / lms.GRADES)
    assert table[0] == lms.LMS_COLUMNS + [lms.DEFAULT_ASSIGNMENT]
    scores = {row['submission']: row['score'] for row in graded['rows']}
    assert table[1:] == [
        ['Alice Liddell', '', '1001', 'alice_correct@uni.edu', '', '100'],     # by the e-mail's local part
        ['Bob Builder', '', '1002', 'bob@uni.edu', '', f'{scores["bob_no_lambda"]:g}'],  # by the file name
        ['Bea Arthur', '', '1003', 'bea_no_lambda@uni.edu', '', f'{scores["bea_no_lambda"]:g}'],
        ['Zed Nobody', '', '1004', 'zed@uni.edu', '', ''],                     # no submission: left as it is
    ]
    problems = read_csv(graded['single'] / lms.UNMATCHED)
    assert problems[0] == lms.UNMATCHED_COLUMNS
    missing = [row for row in problems[1:] if row[0] == 'student without a submission']
    assert [row[2] for row in missing] == ['1004']
    unmatched = {row[1] for row in problems[1:] if row[0] == 'submission without a student'}
    assert unmatched == set(CLASS) - {'alice_correct', 'bob_no_lambda', 'bea_no_lambda'}


def roster_file(tmp_path, text, name='roster.csv'):
    path = tmp_path / name
    path.write_text(text, encoding='utf-8')
    return str(path)


def row(name, score=50.0):
    return dict(grade.empty_row(name, True), status='ok', score=score)


def test_a_canvas_export_and_a_moodle_export_are_rosters(tmp_path):
    canvas = roster_file(tmp_path, '\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,PPO (77)\n'
                                   '    Points Possible,,,,,100\n'
                                   '"Doe, Jane",4242,S-1,jdoe,Sec 1,\n'
                                   'Test Student,999,,,Sec 1,\n', 'canvas.csv')
    students = lms.read_roster(canvas).students
    assert [(s.student_id, s.lms_id, s.login, s.name) for s in students] == [
        ('S-1', '4242', 'jdoe', 'Doe, Jane'), ('999', '999', '', 'Test Student')]
    # Canvas's own download name: sortable name, Canvas id, submission id, file name
    grades, _, found = lms.lms_tables(lms.read_roster(canvas, 'PPO (77)'), [row('doejane_4242_88123_ppo_lunarlander')])
    assert read_csv_text(grades)[1] == ['Doe, Jane', '4242', 'S-1', 'jdoe', 'Sec 1', '50']
    assert read_csv_text(grades)[0][-1] == 'PPO (77)'
    moodle = roster_file(tmp_path, 'First name;Last name;ID number;Institution;Email address\n'
                                   'Jane;Doe;S-1;Uni;jane.doe@uni.edu\nJohn;Roe;S-2;Uni;john@uni.edu\n', 'moodle.csv')
    roster = lms.read_roster(moodle)
    assert [(s.student_id, s.name, s.email) for s in roster.students] == [('S-1', 'Jane Doe', 'jane.doe@uni.edu'),
                                                                          ('S-2', 'John Roe', 'john@uni.edu')]
    found = lms.match(roster, [row('Jane Doe_1234_assignsubmission_file_ppo'), row('jane.doe', 70.0),
                               row('john', 20.0)])
    assert found.grades['S-1']['score'] == 70.0 and found.grades['S-2']['submission'] == 'john'
    assert [p['problem'] for p in found.problems] == ['another submission of this student']


def read_csv_text(text):
    return list(csv.reader(io.StringIO(text)))


def test_matching_says_what_it_could_not_match(tmp_path):
    roster = lms.read_roster(roster_file(tmp_path, 'id,name,email\n12,Ann,ann@x.org\n123,Bo,ann@y.org\n'))
    found = lms.match(roster, [row('ann'), row('nobody'), row('123')])
    problems = {p['submission'] or p['student_id']: p for p in found.problems}
    assert problems['ann']['problem'] == 'submission matching several students'
    assert '12 (Ann), 123 (Bo)' in problems['ann']['detail']
    assert problems['nobody']['problem'] == 'submission without a student'
    assert problems['12']['problem'] == 'student without a submission'
    assert list(found.grades) == ['123']


@pytest.mark.parametrize('text,message', [
    ('name,email\nAnn,a@x\n', r"no column for a student id .*its columns are: 'name', 'email'"),
    ('student_id,email\n1,a@x\n', 'no column for a name'),
    ('id,name\n1,Ann\n2,Bo\n1,Cy\n', "student id '1' is on lines 2 and 4"),
    ('id,name,email\n1,Ann,a@x\n2,Bo,A@X\n', "e-mail 'a@x' is on lines 2 and 3"),
    ('id,name\n1,Ann\n,Bo\n', 'line 3 has no student id'),
    ('', 'is empty'),
    ('id,name\n', 'has a header but no students'),
])
def test_a_bad_roster_is_refused_saying_why(tmp_path, text, message):
    with pytest.raises(lms.RosterError, match=message):
        lms.read_roster(roster_file(tmp_path, text))


def test_a_roster_that_is_not_text_or_not_there(tmp_path):
    path = tmp_path / 'latin1.csv'
    path.write_bytes('id,name\n1,Jos\xe9\n'.encode('latin-1'))
    with pytest.raises(lms.RosterError, match='not UTF-8 text: save it as "CSV UTF-8"'):
        lms.read_roster(str(path))
    with pytest.raises(lms.RosterError, match='cannot be read'):
        lms.read_roster(str(tmp_path / 'nope.csv'))


def test_lms_cells_are_not_formulas(tmp_path):
    roster = lms.read_roster(roster_file(tmp_path, 'id,name,filename\n1,=HYPERLINK("x"),sub\n'))
    grades, unmatched, _ = lms.lms_tables(roster, [row('sub'), row('=cmd|x')])
    assert read_csv_text(grades)[1][0] == '\'=HYPERLINK("x")'
    assert "'=cmd|x" in unmatched


# ------------------------------------------------------------------------------------
# The command line
# ------------------------------------------------------------------------------------

def grade_py(*arguments, timeout=300):
    return subprocess.run([sys.executable, 'grade.py', *map(str, arguments)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_command_line_shards_merge_and_roster(graded, tmp_path):
    merged = grade_py('merge', '--out', tmp_path / 'merged', *graded['shards'], '--roster', graded['roster'])
    assert merged.returncode == 0, merged.stderr
    assert f'{len(CLASS)} submissions' in merged.stdout and 'LMS grades:' in merged.stdout
    assert '1 student without a submission' in merged.stdout
    assert (tmp_path / 'merged' / 'gradebook.csv').read_bytes() == (graded['single'] / 'gradebook.csv').read_bytes()
    missing = grade_py('merge', '--out', tmp_path / 'm2', graded['shards'][0])
    assert missing.returncode == 2 and 'shards 2/3, 3/3 of this batch are missing' in missing.stderr
    bad_shard = grade_py(graded['folder'], '--out', tmp_path / 'o', '--shard', '0/3')
    assert bad_shard.returncode == 2 and '--shard must be K/N' in bad_shard.stderr
    (tmp_path / 'bad.csv').write_text('name\nAnn\n')
    bad_roster = grade_py(graded['folder'], '--out', tmp_path / 'o', '--roster', tmp_path / 'bad.csv')
    assert bad_roster.returncode == 2 and 'no column for a student id' in bad_roster.stderr
    assert not (tmp_path / 'o').exists()  # refused before anything is graded


# ------------------------------------------------------------------------------------
# The Gradescope autograder
# ------------------------------------------------------------------------------------

HOSTILE_CLASS_BODY = """
    import os
    def _parent(pid):
        return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    for _path in (os.path.join(os.environ.get("AUTOGRADER_ROOT", "/autograder"), "results", "results.json"),
                  f"/proc/{_parent(_parent(os.getpid()))}/environ"):
        try:
            open(_path, "a" if _path.endswith(".json") else "r").close()
        except OSError:
            continue
        raise RuntimeError(f"HOSTILE-SUCCESS: {_path} is open to me")
    leak = open(os.path.join(SOURCE, "ppo_reference.py")).read()
"""


def hostile_notebook(source):
    """A notebook whose class, when defined, tries to write results.json, to read the grading
    process's environment (its memory) and to read the reference solution."""
    return with_ppo_patch('class PPO(nn.Module):\n', 'class PPO(nn.Module):' + HOSTILE_CLASS_BODY.replace(
        'SOURCE', repr(source)))


def unprivileged_python(folder):
    """A Python that an unprivileged user can run, with this environment's packages (the
    Gradescope image's venv is readable by all; this machine's may live under /root), or None."""
    system = f'/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}'
    if os.geteuid() != 0 or not os.path.exists(system):
        return None
    import site
    venv = os.path.join(folder, 'venv')
    made = subprocess.run([system, '-m', 'venv', '--without-pip', venv], capture_output=True)
    if made.returncode != 0:
        return None
    packages = os.path.join(venv, 'lib', f'python{sys.version_info.major}.{sys.version_info.minor}', 'site-packages')
    with open(os.path.join(packages, 'kit-environment.pth'), 'w') as file:
        file.write('\n'.join(site.getsitepackages()) + '\n')
    python = os.path.join(venv, 'bin', 'python')
    check = subprocess.run(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', python, '-I', '-c',
                            'import torch, nbformat, IPython'], capture_output=True)
    return python if check.returncode == 0 else None


# name: (the submission's files (None: the hostile notebook), changes to autograder_config.json)
RUNS = {
    'correct': ({'ppo_lunarlander.ipynb': SUBMISSIONS['alice_correct']}, {}),
    'wrong': ({'ppo_lunarlander.ipynb': SUBMISSIONS['bob_no_lambda']}, {}),
    'not started': ({'ppo_lunarlander.ipynb': SUBMISSIONS['erin_not_started']}, {}),
    'garbage': ({'ppo_lunarlander.ipynb': SUBMISSIONS['victor_garbage']}, {}),
    'deadline': ({'ppo_lunarlander.ipynb': SUBMISSIONS['alice_correct']}, {'deadline': 1}),
    'hostile unprivileged': ({'ppo_lunarlander.ipynb': None}, {'isolation': 'none'}),
}
UNPRIVILEGED_RUNS = ('hostile unprivileged',)
AT_ONCE = 4  # runs at a time: each imports torch twice (the grader and its template)


def prepare_run(base, name, files, changes, python=sys.executable):
    """autograder.zip unpacked into a root of its own under `base`, its config changed, the
    submission's files put in submission/; (name, root, command, environment)."""
    root = os.path.join(base, f'run{len(os.listdir(base))}')
    source = os.path.join(root, 'source')
    with zipfile.ZipFile(io.BytesIO(build.targets()[build.AUTOGRADER_ZIP])) as archive:
        archive.extractall(source)
        for info in archive.infolist():  # extractall drops the modes
            os.chmod(os.path.join(source, info.filename), info.external_attr >> 16)
    config_path = os.path.join(source, gradescope.CONFIG)
    with open(config_path) as file:
        config = json.load(file)
    config.update(changes)
    with open(config_path, 'w') as file:
        json.dump(config, file)
    for file_name, text in files.items():
        path = os.path.join(root, 'submission', file_name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w', encoding='utf-8') as file:
            file.write(text if text is not None else hostile_notebook(source))
    for here, folders, names in os.walk(root):  # as Gradescope's image has them: readable by all
        for entry, bits in [(entry, 0o055) for entry in folders] + [(entry, 0o044) for entry in names]:
            os.chmod(os.path.join(here, entry), os.stat(os.path.join(here, entry)).st_mode | bits)
    return name, root, [os.path.join(source, 'run_autograder')], dict(os.environ, AUTOGRADER_ROOT=root,
                                                                      AUTOGRADER_PYTHON=python)


def run_all(runs, cwd):
    """Runs the prepared runs, AT_ONCE at a time; {name: (results.json, stdout, root)}."""
    finished, running, runs = {}, [], list(runs)
    while runs or running:
        while runs and len(running) < AT_ONCE:
            name, root, command, env = runs.pop(0)
            running.append((name, root, subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                                         stderr=subprocess.STDOUT, text=True)))
        name, root, process = running.pop(0)
        output, _ = process.communicate(timeout=900)
        assert process.returncode == 0, output
        with open(os.path.join(root, 'results', 'results.json')) as file:
            finished[name] = (json.load(file), output, root)
    return finished


@pytest.fixture(scope='module')
def autograder():
    """Every run of RUNS, started together; {name: (results.json, stdout, root)}."""
    base = tempfile.mkdtemp(prefix='autograder-tests-')
    os.chmod(base, 0o755)  # the unprivileged runs read the kit from here
    try:
        python = unprivileged_python(base)
        runs = [prepare_run(base, name, files, changes, python if name in UNPRIVILEGED_RUNS else sys.executable)
                for name, (files, changes) in RUNS.items() if name not in UNPRIVILEGED_RUNS or python is not None]
        yield run_all(runs, base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def check_format(results, points=10):
    """results.json as Gradescope's specification has it."""
    assert isinstance(results['score'], (int, float)) and 0 <= results['score'] <= points
    assert results['visibility'] in gradescope.VISIBILITIES and results['stdout_visibility'] == 'hidden'
    assert isinstance(results['output'], str) and results['output']
    assert [test['name'] for test in results['tests']] == list(__import__('rl_tests').GROUPS.values())
    for test in results['tests']:
        assert set(test) >= {'name', 'score', 'max_score', 'output', 'status', 'visibility'}
        assert 0 <= test['score'] <= test['max_score'] and test['status'] in ('passed', 'failed')
    assert sum(test['max_score'] for test in results['tests']) == points
    assert abs(sum(test['score'] for test in results['tests']) - results['score']) < 1e-9


def test_the_zip_has_gradescopes_layout():
    data = build.targets()[build.AUTOGRADER_ZIP]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        config = json.loads(archive.read(gradescope.CONFIG))
    assert {'setup.sh', 'run_autograder', 'requirements.txt', 'grader/gradescope.py', 'ppo_reference.py',
            'instructor/ppo_mistakes.py', 'rl_tests.py', 'rl_kit/expected.json'} <= set(infos)
    assert infos['run_autograder'].external_attr >> 16 & 0o111 and infos['setup.sh'].external_attr >> 16 & 0o111
    assert not any(name.startswith(('tests/', 'tools/', 'release/')) for name in infos)
    # the points of the notebook's points cells (nbgrader metadata of the completed notebook)
    notebook = completed()
    points = {cell.metadata['nbgrader']['grade_id'][5:]: cell.metadata['nbgrader']['points'] for cell in notebook.cells
              if cell.metadata.get('nbgrader', {}).get('grade_id', '').startswith('test_')}
    assert config['points'] == points and config['feedback_level'] == 'fix'
    for script in ('setup.sh', 'run_autograder'):
        assert subprocess.run(['bash', '-n', os.path.join(ROOT, build.AUTOGRADER_SCRIPTS, script)]).returncode == 0
    setup = (open(os.path.join(ROOT, build.AUTOGRADER_SCRIPTS, 'setup.sh')).read())
    assert 'bubblewrap' in setup and 'download.pytorch.org/whl/cpu' in setup and 'requirements.txt' in setup


def test_a_correct_notebook_gets_full_marks(autograder):
    import rl_tests
    results, _, _ = autograder['correct']
    check_format(results)
    assert results['score'] == 10 and all(test['status'] == 'passed' for test in results['tests'])
    assert f'All {len(rl_tests.make_cases())} cases pass' in results['output']
    assert 'Isolation: ' in results['output']


def test_a_wrong_notebook_gets_part_of_the_points(autograder):
    results, _, _ = autograder['wrong']
    check_format(results)
    import rl_tests
    tests = dict(zip(rl_tests.GROUPS, results['tests']))
    # without λ, GAE is right on the course's one-step rollouts only
    assert tests['gae']['score'] == 0 and '→ λ is missing' in tests['gae']['output']
    assert all(tests[group]['score'] == tests[group]['max_score'] for group in ('gae_course', 'loss_course', 'loss'))
    assert 0 < results['score'] < 10 and 'likely mistakes: λ is missing' in results['output']
    assert results['extra_data']['first_mistake'] == 'λ is missing'


def test_partial_credit_scores_the_fraction_of_a_groups_cases():
    import rl_tests
    from rl_kit.harness import CaseResult, Failure, Kind, Report
    cases = [CaseResult(rl_tests.GROUPS[group], group, failures=[] if passed else [Failure(Kind.WRONG_VALUE, 'x')])
             for group, passed in [('gae', True), ('gae', False), ('gae', True), ('loss', True)]]
    config = dict(gradescope.DEFAULTS, points={'gae_course': 2, 'loss_course': 2, 'gae': 3, 'loss': 3})
    scores = lambda config: [test['score'] for test in gradescope.group_tests(config, Report(cases))]  # noqa: E731
    assert scores(config) == [0, 0, 0, 3]
    assert scores(dict(config, partial_credit=True)) == [0, 0, 2.0, 3]


def test_an_empty_notebook_gets_0(autograder):
    results, _, _ = autograder['not started']
    check_format(results)
    assert results['score'] == 0 and 'not implemented yet' in results['output']


def in_process(tmp_path, files, changes=None):
    """gradescope.run() in this process, for what ends before any grading (nothing of a
    submission runs here, and this process never gives up root)."""
    config = dict(json.loads(zipfile.ZipFile(io.BytesIO(build.targets()[build.AUTOGRADER_ZIP])).read(
        gradescope.CONFIG)), **(changes or {}))
    (tmp_path / 'config.json').write_text(json.dumps(config))
    for name, text in files.items():
        (tmp_path / 'submission' / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / 'submission' / name).write_text(text)
    said = []
    results = gradescope.run(str(tmp_path), log=said.append, config_path=str(tmp_path / 'config.json'))
    assert json.loads((tmp_path / 'results' / 'results.json').read_text()) == results
    return results


@pytest.mark.parametrize('files,message', [
    ({'notes.txt': 'my answers'}, 'No notebook (.ipynb file) was found in your submission'),
    ({'a.ipynb': '{}', 'sub/b.ipynb': '{}', '.ipynb_checkpoints/a-checkpoint.ipynb': '{}'},
     'Your submission has 2 notebooks (a.ipynb, sub/b.ipynb): upload only the one to grade'),
])
def test_zero_or_several_notebooks_get_0_and_a_message(tmp_path, files, message):
    results = in_process(tmp_path, files)
    check_format(results)
    assert results['score'] == 0 and message in results['output']


def test_a_broken_notebook_gets_0_and_a_message(autograder):
    for name, message in (('garbage', 'could not be graded (status: not a notebook): not valid JSON'),
                          ('deadline', 'The autograder ran out of time (1 s)')):
        results = autograder[name][0]
        check_format(results)
        assert results['score'] == 0 and message in results['output'], (name, results['output'])
        assert all(test['score'] == 0 and test['output'].startswith('not graded: ') for test in results['tests'])


def test_a_bad_config_gets_0_and_says_so(tmp_path):
    results = in_process(tmp_path, {'a.ipynb': '{}'}, {'feedback_level': 'everything'})
    assert results['score'] == 0 and 'feedback_level must be one of verdict, located, named, fix' in results['output']
    assert 'Tell your instructor' in results['output']


@pytest.mark.slow
def test_a_notebook_that_loops_gets_0_and_a_message(tmp_path):
    os.chmod(tmp_path, 0o755)
    results = run_all([prepare_run(str(tmp_path), 'loops', {'ppo_lunarlander.ipynb':
                                                           SUBMISSIONS['frank_infinite_loop']}, {'timeout': 3})],
                      str(tmp_path))['loops'][0]
    check_format(results)
    assert results['score'] == 0
    assert 'could not be graded (status: timeout): did not finish within 3 s' in results['output']


def needs_unprivileged(autograder):
    if 'hostile unprivileged' not in autograder:
        pytest.skip('no Python here that an unprivileged user can run (needs root and /usr/bin/python3.X)')


def test_without_bubblewrap_it_cannot_read_the_solution_or_write_its_result(autograder):
    needs_unprivileged(autograder)
    results, output, root = autograder['hostile unprivileged']
    check_format(results)
    assert results['score'] == 0 and results['extra_data']['isolated'] == 'no'
    assert 'grading as uid 65534' in output
    assert ("Isolation: bubblewrap is not used (the autograder's configuration). Your code ran as an unprivileged "
            'user') in results['output']
    assert 'PermissionError' in results['output'] and 'ppo_reference.py' in results['output']
    assert 'HOSTILE-SUCCESS' not in results['output']
    assert 'def compute_loss' not in json.dumps(results)
    assert oct(os.stat(os.path.join(root, 'source', 'ppo_reference.py')).st_mode & 0o777) == '0o600'


def test_config_is_checked_key_by_key(tmp_path):
    good = dict(gradescope.DEFAULTS, points={'gae_course': 2, 'loss_course': 2, 'gae': 3, 'loss': 3})
    for changes, message in (({'timeout': 0}, 'timeout must be a positive number'),
                             ({'points': {'gae': 3}}, 'points must give the points of every group'),
                             ({'visibility': 'public'}, 'visibility must be one of hidden'),
                             ({'hidden': 'nope.py'}, "hidden names 'nope.py', which is not a file of the zip")):
        (tmp_path / 'c.json').write_text(json.dumps(dict(good, **changes)))
        with pytest.raises(gradescope.ConfigError, match=message):
            gradescope.load_config(str(tmp_path / 'c.json'))
    (tmp_path / 'c.json').write_text(json.dumps(dict(good, level='fix')))
    with pytest.raises(gradescope.ConfigError, match='unknown key'):
        gradescope.load_config(str(tmp_path / 'c.json'))
    (tmp_path / 'c.json').write_text(json.dumps(good))
    assert gradescope.load_config(str(tmp_path / 'c.json'))['memory_mb'] == 1024


def test_lock_secrets_leaves_the_student_side_readable(tmp_path):
    for name in ('ppo_reference.py', 'instructor/ppo_mistakes.py', 'rl_tests.py', 'rl_kit/__pycache__/x.pyc'):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text('x')
    gradescope.lock_secrets(str(tmp_path))
    mode = lambda name: oct(os.stat(tmp_path / name).st_mode & 0o777)  # noqa: E731
    assert (mode('ppo_reference.py'), mode('instructor'), mode('rl_kit/__pycache__')) == ('0o600', '0o700', '0o700')
    assert mode('rl_tests.py') == '0o644' and mode('rl_kit') == '0o755'


def test_each_gradescope_test_gives_away_what_its_level_says():
    from instructor import ppo_mistakes
    import rl_tests
    from rl_kit import harness
    report = harness.collect(rl_tests.test_ppo(ppo_mistakes.mutant('no_lambda')))
    outputs = {level: {test['name']: test['output'] for test in
                       gradescope.group_tests(dict(gradescope.DEFAULTS, points=dict.fromkeys(rl_tests.GROUPS, 1),
                                                   feedback_level=level), report)}
               for level in ('verdict', 'named', 'fix')}
    gae = rl_tests.GROUPS['gae']
    assert 'λ is missing' in outputs['fix'][gae] and 'λ is missing' in outputs['named'][gae]
    assert 'λ is missing' not in outputs['verdict'][gae] and '✗' in outputs['verdict'][gae]
    assert 'Fix:' in outputs['fix'][gae] and 'Fix:' not in outputs['named'][gae]
    # each test is its own group's part, with the whole report's names
    assert 'λ is missing' not in outputs['fix'][rl_tests.GROUPS['loss']]
