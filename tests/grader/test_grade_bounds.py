"""Reading and running one notebook is bounded by the caps, whatever it holds: a cell of 499
`!` lines (IPython's transformer re-reads the whole cell after each one), a million tiny
outputs, a notebook over the size cap. Each costs at most --timeout; the parent never holds a
notebook's bytes (they are copied to the child by the kernel), so its memory per notebook
does not grow with it; the notes are capped."""

import json
import os
import time
import tracemalloc

import nbformat
import pytest

from grader import batch as grade
from grader import sandbox as grader_sandbox
from test_grade import BUBBLEWRAP, CELL_TIMEOUT, SEED, completed

# Twice test_grade's timeout: these notebooks run the whole completed notebook first, and the
# bound they test must hold on a busy CI machine too (once, under a parallel slow run, the
# cells before PPO took all of 15 s); each still costs at most this.
TIMEOUT = 30

BANG_LINES = ''.join(f'!echo {"x" * 1100} {index}\n' for index in range(499))  # 570 KB
MILLION = 1_100_000


def with_cell(source, outputs_json=None):
    """The completed notebook's bytes with a code cell added at the end, whose outputs are
    `outputs_json` (a JSON list written as is: nbformat would take minutes for a million)."""
    notebook = completed()
    notebook.cells.append(nbformat.v4.new_code_cell(source))
    text = nbformat.writes(notebook)
    if outputs_json is not None:
        head, _, tail = text.rpartition('"outputs": []')  # the added cell's
        text = head + '"outputs": ' + outputs_json + tail
    return text.encode()


def many_cells(count, source='raise ValueError({index})'):
    """The completed notebook and `count` cells more."""
    notebook = completed()
    notebook.cells += [nbformat.v4.new_code_cell(source.format(index=index)) for index in range(count)]
    return nbformat.writes(notebook).encode()


NOTEBOOKS = {
    'bang_lines': with_cell(BANG_LINES),
    # a million outputs as small as JSON allows: under the size cap, so they are read (in the child)
    'million_outputs': with_cell('print(1)', '[' + ','.join(['{"output_type":"x"}'] * MILLION) + ']'),
    'many_errors': many_cells(3000),
    # each under the cell cap, together over the cells' share of the timeout
    'slow_cells': many_cells(int(grade.cells_seconds(TIMEOUT) / 0.5) + 10, 'import time\ntime.sleep(0.5)'),
}


@pytest.fixture(scope='module')
def template(tmp_path_factory):
    kit = grader_sandbox.make_kit(str(tmp_path_factory.mktemp('kit-run')))
    template = grader_sandbox.Template(kit, BUBBLEWRAP).start().wait_ready()
    yield template
    template.close()


@pytest.mark.parametrize('name', sorted(NOTEBOOKS))
def test_one_notebook_costs_at_most_the_timeout_and_no_memory_of_its_size(template, name, tmp_path):
    path = tmp_path / f'{name}.ipynb'
    path.write_bytes(NOTEBOOKS[name])
    assert os.path.getsize(path) <= grade.NOTEBOOK_SIZE_LIMIT
    judge = grade.get_judge(SEED)
    row, _ = grade.read_submission(str(path), name, template.isolated)
    tracemalloc.start()
    start = time.monotonic()
    try:
        graded = grade.grade_one(row, str(path), judge, template, TIMEOUT, 2048, CELL_TIMEOUT)
        seconds = time.monotonic() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (graded.row['status'], graded.row['score']) == ('ok', 100.0), (graded.row, graded.notes)
    assert seconds <= TIMEOUT
    assert peak < 8 * 2**20, peak  # the notebook is up to 32 MB; the cases, results and notes are not
    assert len(graded.notes) <= grade.NOTES_LIMIT + 1 and all(len(note) <= grade.NOTE_LIMIT for note in graded.notes)
    if name == 'bang_lines':
        assert any(f'was interrupted after {CELL_TIMEOUT:.3g} s' in note for note in graded.notes), graded.notes
    if name == 'slow_cells':
        assert graded.notes[-1].endswith(f"were not run: the cells before them took all the "
                                         f"{grade.cells_seconds(TIMEOUT):g} s that grading gives a notebook's cells")
    if name == 'many_errors':
        assert graded.notes[-1] == f'and {3000 - grade.NOTES_LIMIT} more notes (not shown)'


def test_a_notebook_over_the_size_cap_is_refused_at_once(tmp_path):
    path = tmp_path / 'huge.ipynb'
    path.write_bytes(with_cell('print(1)', '[' + ','.join(['{"output_type":"stream","name":"stdout","text":"."}']
                                                          * MILLION) + ']'))  # 57 MB
    start = time.monotonic()
    found = grade.read_submission(str(path), 'huge', True)
    assert time.monotonic() - start < 1
    assert found.row['status'] == 'not a notebook' and 'larger than the 32 MB grading reads' in found.row['detail']
