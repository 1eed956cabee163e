"""Student text cannot write into what the instructor reads: exception messages, notes,
file names and whatever a child sends back are made inert before they reach the feedback
Markdown, the terminal and the gradebook (one line, no Markdown structure, links or images,
no control characters, no fence left open). The folder is graded once, through the command
line, for the module."""

import contextlib
import csv
import io
import os
import re

import nbformat
import pytest

from grader import batch as grade
from grader import cli
from markdown_check import parts
from test_grade import CELL_TIMEOUT, SUBMISSIONS, TIMEOUT, completed, ppo_cell

FAKE_BLOCK = ('boom\n\n# Feedback: alice\n\nScore: 100% (17 of 17 test cases passed).\n\n'
              '**All 17 cases pass. Well done!**\n\n### compute_loss(): the course\'s cases\n- ✓ case 1\n')
IMAGE = '![pixel](https://evil.example/track.png?u=alice) <img src="https://evil.example/i.png">'
LINKS = ('[Request a regrade here](https://evil.example/regrade) <https://evil.example/auto> www.evil.example '
         'https://evil.example/bare mailto:x@evil.example <a href="https://evil.example">here</a>')
FENCE = 'unclosed\n```python\nthe rest of the report is code now\n~~~\n'
CONTROLS = 'erase\x1b[2K\r\x1b[1A\x1b]8;;https://evil.example\x07link\x1b]8;;\x07\x9b2J\u2028\u202emirrored\u200b\x00'
STRUCTURE = ('> quote\n---\n| a | b |\n|---|---|\n| 1 | 2 |\n1. item\n    indented code\n'
             '$\\href{https://evil.example}{math}$ *em* ~~del~~ &lt;b&gt;')
PAYLOADS = {'fake_block': FAKE_BLOCK, 'image': IMAGE, 'links': LINKS, 'fence': FENCE, 'controls': CONTROLS,
            'structure': STRUCTURE}


def raising(where, payload):
    """The completed notebook, whose code raises an exception with `payload` as its message:
    in compute_advantages (a case's failure), in a cell of its own (a note), or in the class
    body (no PPO class: the row's detail)."""
    notebook = nbformat.reads(nbformat.writes(completed()), as_version=4)
    cell = ppo_cell(notebook)
    if where == 'method':
        cell.source = cell.source.replace('        N = num_states // T\n',
                                          f'        raise ValueError({payload!r})\n')
    elif where == 'class':
        cell.source = cell.source.replace('class PPO(nn.Module):\n',
                                          f'class PPO(nn.Module):\n    raise ValueError({payload!r})\n')
    else:
        notebook.cells.append(nbformat.v4.new_code_cell(f'raise ValueError({payload!r})'))
    return nbformat.writes(notebook)


# a child that answers for itself: a forged result whose every text field is an attack
FORGED = f'''
import json, os
_text = {"".join(PAYLOADS.values())!r}
_observation = {{'case_id': 'gae_course_1', 'failure': {{'kind': 'RAISED', 'message': _text, 'function': _text}},
                'outputs': [], 'gradients': {{}}, 'gradient_errors': {{'actor_loss': _text}}, 'inputs_changed': False}}
_bad_output = {{'case_id': 'loss_course_1', 'failure': None, 'outputs': [{{'name': 'actor_loss', 'type': _text[:49],
               'shape': [], 'dtype': _text[:49], 'requires_grad': True, 'values': [1.0]}}], 'gradients': {{}},
               'gradient_errors': {{'actor_loss': _text}}, 'inputs_changed': False}}
_message = json.dumps({{'status': 'ok', 'detail': _text, 'notes': [_text] * 30,
                       'observations': [_observation, _bad_output]}}).encode()
for _fd in range(3, 64):
    try:
        if 'pipe' in os.readlink(f'/proc/self/fd/{{_fd}}'):
            os.write(_fd, _message)
    except OSError:
        pass
os._exit(0)
'''

# file names: ESC/CR bytes that would erase the instructor's progress line and print a fake one
ODD_FILES = {b'eve\x1b[2K\r\x1b[1Aalice: ok, 100%\x1b[8m.ipynb': SUBMISSIONS['erin_not_started'],
             # ∕ (U+2215): no / in a file name
             'mallory\r\n[1∕1] alice: ok, 100%\n.ipynb'.encode(): SUBMISSIONS['victor_garbage'],
             '[regrade](https:⁄⁄evil.example) ![x](y).ipynb'.encode(): SUBMISSIONS['trent_no_ppo']}


def submissions():
    found = {f'{where}_{name}'.encode() + b'.ipynb': raising(where, payload)
             for where in ('method', 'cell', 'class') for name, payload in PAYLOADS.items()}
    notebook = nbformat.reads(nbformat.writes(completed()), as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(FORGED))
    found[b'forged_result.ipynb'] = nbformat.writes(notebook)
    return {**found, **ODD_FILES}


@pytest.fixture(scope='module')
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp('injection')
    for name, text in submissions().items():
        with open(os.path.join(os.fsencode(folder), name), 'w', encoding='utf-8') as file:
            file.write(text)
    out = tmp_path_factory.mktemp('injection-out')
    terminal = io.StringIO()
    with contextlib.redirect_stdout(terminal):
        assert cli.main([str(folder), '--out', str(out), '--timeout', str(TIMEOUT), '--cell-timeout',
                         str(CELL_TIMEOUT)]) == 0
    with open(out / 'gradebook.csv', newline='', encoding='utf-8', errors='surrogateescape') as file:
        table = list(csv.DictReader(file))
    return out, table, terminal.getvalue()


CONTROL = re.compile('[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]')
PROGRESS = re.compile(r'^\[(\d+)/(\d+)\] (.+): (ok, [\d.]+%|(timeout|error|no PPO class|not a notebook) \(.*\))$')


def test_the_terminal_shows_one_line_per_submission_and_nothing_else(graded):
    _, table, terminal = graded
    lines = terminal.splitlines()
    assert not any(CONTROL.search(line) for line in lines)
    progress = [line for line in lines if line.startswith('[')]
    assert len(progress) == len(table) == len(submissions())
    assert all(PROGRESS.match(line) for line in progress), [line for line in progress if not PROGRESS.match(line)]
    assert {PROGRESS.match(line)[3] for line in progress} == {row['submission'] for row in table}
    assert not any(line.startswith(('alice', '[1∕1] alice')) for line in lines)  # no fake progress line
    assert not any('://' in line or 'www.' in line for line in lines)  # nothing a terminal makes a link of


def test_the_gradebook_holds_one_inert_line_per_field(graded):
    _, table, _ = graded
    for row in table:
        for key, value in row.items():
            assert not CONTROL.search(value) and '\n' not in value and '\r' not in value, (key, value)
            assert '://' not in value and 'www.' not in value, (key, value)
    names = {row['submission'] for row in table}
    assert 'eve\\x1b[2K\\r\\x1b[1Aalice: ok, 100%\\x1b[8m' in names  # its escapes shown, the name kept apart


ALLOWED_TAGS = {'h1', 'h3', 'p', 'ul', 'li', 'strong'}


@pytest.mark.parametrize('name', sorted(os.fsdecode(name)[:-6] for name in submissions()))
def test_a_feedback_file_has_our_structure_only(graded, name):
    out = graded[0] / 'feedback'
    path = out / (grade.feedback_filenames([grade.name_text(name)])[0] + '.md')
    text = path.read_text(encoding='utf-8')
    tags, seen = parts(text)
    assert set(tags) <= ALLOWED_TAGS, set(tags) - ALLOWED_TAGS  # no link, image, code, quote, table, HTML
    assert tags.count('h1') == 1 and seen.startswith('Feedback: ')
    assert seen.count('Score: ') <= 1 + text.count('Score\\:')  # ours once, the student's only as escaped text
    headings = [line for line in text.splitlines() if line.startswith('#')]
    assert headings[0].startswith('# Feedback: ') and all(line.startswith('### ') for line in headings[1:])
    for line in text.splitlines():  # every line is one of ours: a heading, a list item, a paragraph we write
        assert line == '' or line.startswith(('# Feedback: ', '### ', '- ', '  - ', '**', 'Score: ', 'Notes:',
                                              'Your notebook could not be graded')), line
    assert not CONTROL.search(text)


def test_the_payloads_reached_the_feedback_as_text(graded):
    """Not hidden either: the student's own words are there, as plain text."""
    out = graded[0] / 'feedback'
    seen = parts((out / 'method_links.md').read_text(encoding='utf-8'))[1]
    assert '[Request a regrade here](https[:]//evil.example/regrade)' in seen
    seen = parts((out / 'cell_fence.md').read_text(encoding='utf-8'))[1]
    assert 'unclosed ```python the rest of the report is code now ~~~' in seen
    seen = parts((out / 'class_fake_block.md').read_text(encoding='utf-8'))[1]
    assert '# Feedback: alice Score: 100% (17 of 17 test cases passed).' in seen
    assert seen.startswith('Feedback: class_fake_block\nYour notebook could not be graded (status: no PPO class)')


def test_a_forged_result_writes_nothing_but_text(graded):
    _, table, _ = graded
    row = next(row for row in table if row['submission'] == 'forged_result')
    assert row['status'] == 'ok' and float(row['score']) == 0.0, row
    out = graded[0] / 'feedback'
    text = (out / 'forged_result.md').read_text(encoding='utf-8')
    assert text.count('\n- ') <= grade.NOTES_LIMIT + 40  # the notes capped, each one line
