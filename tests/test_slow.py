"""Long runs, left out of the default test run: python -m pytest -m slow"""

import os
import re

import nbformat
import pytest
from nbclient import NotebookClient

from ppo_reference import Config, evaluate, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.slow


def test_the_reference_trainer_lands():
    result = train(Config(seed=0))
    assert result.solved
    returns = evaluate(result.ac, episodes=100)
    assert returns.mean() >= 200, returns.mean()


def test_the_full_notebook_trains_until_it_lands(tmp_path):
    import shutil
    for name in ('rl_gui.py', 'rl_tests.py'):
        shutil.copy(os.path.join(ROOT, name), tmp_path)
    notebook = nbformat.read(os.path.join(ROOT, 'ppo_lunarlander.ipynb'), as_version=4)
    os.environ.pop('PPO_QUICK', None)
    NotebookClient(notebook, timeout=1800, kernel_name='python3',
                   resources={'metadata': {'path': str(tmp_path)}}).execute()
    text = '\n'.join(output.get('text', '') for cell in notebook.cells for output in cell.get('outputs', []))
    print(text)  # the training and evaluation lines: python -m pytest -m slow -s
    assert re.search(r'^solved after [\d,]+ environment steps', text, re.MULTILINE), text
    mean = float(re.search(r'greedy evaluation over 100 episodes: (-?[\d.]+) ±', text).group(1))
    assert mean >= 200, text
    assert (tmp_path / 'lunar_lander_landing.gif').exists()
