"""Long runs, left out of the default test run: python -m pytest -m slow"""

import os
import re

import nbformat
import pytest

from ppo_reference import Config, evaluate, train
from test_notebooks import execute

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.slow


def test_the_reference_trainer_lands():
    result = train(Config(seed=0))
    assert result.solved
    returns = evaluate(result.ac, episodes=100)
    assert returns.mean() >= 200, returns.mean()


def test_the_full_notebook_trains_until_it_lands(tmp_path):
    notebook = execute(nbformat.read(os.path.join(ROOT, 'ppo_lunarlander.ipynb'), as_version=4), tmp_path,
                       quick=False, timeout=1800)
    text = '\n'.join(output.get('text', '') for cell in notebook.cells for output in cell.get('outputs', []))
    print(text)  # the training and evaluation lines: python -m pytest -m slow -s
    assert re.search(r'^solved after [\d,]+ environment steps', text, re.MULTILINE), text
    mean = float(re.search(r'greedy evaluation over 100 episodes: (-?[\d.]+) ±', text).group(1))
    assert mean >= 200, text
    assert (tmp_path / 'lunar_lander_landing.gif').exists()
