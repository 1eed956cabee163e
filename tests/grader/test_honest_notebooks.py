"""Honest notebooks of many styles (tests/grader/honest_notebooks.py), graded by the batch
grader as Jupyter runs them: every one gets the 100 its code deserves, whatever it defines
at top level, with which magics, in which order of float32 operations. The folder is graded
once for the module."""

import pytest

from grader import batch as grade
from honest_notebooks import STYLES
from markdown_check import rendered
from test_grade import CELL_TIMEOUT, SEED, TIMEOUT


@pytest.fixture(scope='module')
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp('honest')
    for name, text in STYLES.items():
        (folder / f'{name}.ipynb').write_text(text, encoding='utf-8')
    out = tmp_path_factory.mktemp('honest-out')
    rows = grade.grade_folder(str(folder), str(out), timeout=TIMEOUT, cell_timeout=CELL_TIMEOUT, jobs=2, seed=SEED)
    return out, {row['submission']: row for row in rows}


def test_there_are_at_least_30_styles():
    assert len(STYLES) >= 30


@pytest.mark.parametrize('name', sorted(STYLES))
def test_an_honest_notebook_gets_what_its_code_deserves(graded, name):
    row = graded[1][name]
    assert (row['status'], row['score'], row['failed']) == ('ok', 100.0, 0), (row, rendered(graded[0] / 'feedback'
                                                                                           / f'{name}.md'))


def test_what_did_not_run_is_said(graded):
    out = graded[0] / 'feedback'
    assert "raised ModuleNotFoundError: No module named 'numba'" in rendered(
        out / 'helper_whose_decorator_package_is_missing.md')
    assert 'does not parse: ' in rendered(out / 'unfinished_scratch_cell.md')
    training = rendered(out / 'own_training_run_of_its_own.md')
    assert f'was interrupted after {CELL_TIMEOUT:.3g} s, the time grading gives one cell' in training
    assert 'Notes:' not in rendered(out / 'list_loop.md')
