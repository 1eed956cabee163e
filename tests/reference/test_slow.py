"""Long runs, left out of the default test run: python -m pytest -m slow

The seeds here are held out: the hyperparameters were tuned on seeds 0-19 only
(README, "Hyperparameters"), so these runs show what a student's run on a seed of
their own would do."""

import os
import re

import nbformat
import pytest

import ppo_reference
from correct_styles import STYLES
from ppo_reference import Config, evaluate, landing_verdict, train
from test_notebooks import execute

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.slow


def assert_lands(result):
    assert result.landed, result.summary()
    assert result.landed_at == result.env_steps < result.config.total_steps
    assert result.solved_at is None or result.solved_at <= result.landed_at  # the greedy policy often lands first
    returns = evaluate(result.ac, result.config, episodes=100)  # seeds 10_000-10_099: no check played them
    verdict = landing_verdict(result, returns)
    assert verdict.lands, f'{result.summary()}\n{verdict}'


def test_the_reference_trainer_lands_on_a_held_out_seed():
    assert_lands(train(Config(seed=100)))


@pytest.mark.parametrize('style,seed', [('list_loop', 101), ('float64_matrix', 102)])
def test_a_correct_implementation_written_differently_lands_too(style, seed, monkeypatch):
    # train() builds the agent from the name PPO, as the notebook does with the student's class
    monkeypatch.setattr(ppo_reference, 'PPO', STYLES[style])
    result = train(Config(seed=seed))
    assert isinstance(result.ac, STYLES[style])
    assert_lands(result)


def test_the_full_notebook_trains_until_it_lands(tmp_path):
    notebook = execute(nbformat.read(os.path.join(ROOT, 'ppo_lunarlander.ipynb'), as_version=4), tmp_path,
                       quick=False, timeout=3600)
    text = '\n'.join(output.get('text', '') for cell in notebook.cells for output in cell.get('outputs', []))
    print(text)  # the training and evaluation lines: python -m pytest -m slow -s
    assert re.search(r'^landed after [\d,]+ environment steps', text, re.MULTILINE), text
    mean = float(re.search(r'greedy evaluation over 100 episodes: (-?[\d.]+) ±', text).group(1))
    assert mean >= 200, text
    assert 'your agent lands' in text
    assert (tmp_path / 'lunar_lander_landing.gif').exists()
