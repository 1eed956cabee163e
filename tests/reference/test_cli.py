"""The reference trainer and its command line (short runs only)."""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import ppo_reference
from ppo_reference import Config, train

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUMMARY_KEYS = {'landed', 'landed_at', 'solved', 'solved_at', 'criteria', 'checks', 'env_steps', 'train_seconds',
                'check_seconds', 'checks_in_background', 'eval_lands', 'eval_mean', 'eval_std', 'eval_episodes',
                'steps_per_second', 'seed', 'hyperparameters'}


def test_a_short_run_writes_its_results(tmp_path, capsys):
    out = tmp_path / 'run'
    code = ppo_reference.main(['--total-steps', '3000', '--out', str(out), '--eval-episodes', '3', '--seed', '2'])
    assert code == 1  # did not land within 3000 steps
    summary = json.loads((out / 'summary.json').read_text())
    assert SUMMARY_KEYS <= set(summary)
    assert summary['env_steps'] == 4096 and summary['seed'] == 2 and summary['eval_episodes'] == 3
    assert summary['hyperparameters']['total_steps'] == 3000
    assert summary['landed'] is summary['solved'] is False and summary['landed_at'] is summary['solved_at'] is None
    assert summary['checks'] == []
    for name in ('policy.pt', 'learning_curve.png', 'landing.gif'):
        assert (out / name).stat().st_size > 1000
    printed = capsys.readouterr().out
    assert printed.startswith('NOT landed after 4,096 environment steps')
    assert 'the greedy policy did not land within the budget of 3,000 steps; exit code 1' in printed
    assert 'your agent did not land' in printed


def test_a_run_that_lands_exits_0_and_records_both_criteria(tmp_path, monkeypatch, capsys):
    # an easy target: "solved" after the first episode, and a check that any policy passes
    @dataclasses.dataclass
    class EasyConfig(Config):
        solve_threshold: float = -1e9
        check_from: float = -1e9
        solve_window: int = 1
        check_share: float = 0.0
        check_stages: tuple = (2,)
        num_envs: int = 4
        num_steps: int = 64
    monkeypatch.setattr(ppo_reference, 'Config', EasyConfig)
    out = tmp_path / 'run'
    assert ppo_reference.main(['--total-steps', '100000', '--out', str(out), '--eval-episodes', '2']) == 0
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['landed'] is summary['solved'] is True
    assert summary['solved_at'] <= summary['landed_at'] == summary['env_steps'] < 100_000
    assert summary['checks'][-1]['passed'] is True and summary['checks'][-1]['env_steps'] == summary['landed_at']
    assert summary['criteria']['landed'].startswith('the greedy policy plays up to 2 episodes on fresh seeds')
    assert summary['checks'][-1]['episodes'] == summary['checks'][-1]['landed_episodes'] == 2
    assert summary['eval_landed_episodes'] == 2 and summary['eval_share'] == 1.0
    assert 0 < summary['eval_share_95ci'][0] < summary['eval_share_95ci'][1] == 1.0
    assert capsys.readouterr().out.startswith('landed after')


def test_the_same_seed_gives_the_same_run():
    first, second = (train(Config(total_steps=4096, seed=5)) for _ in range(2))
    assert first.episode_returns == second.episode_returns
    assert all(torch.equal(a, b) for a, b in zip(first.ac.parameters(), second.ac.parameters()))


def test_a_loaded_checkpoint_acts_the_same(tmp_path):
    result = train(Config(total_steps=2048, seed=1))
    ppo_reference.save_checkpoint(result.ac, result.config, tmp_path / 'policy.pt')
    ac, config = ppo_reference.load_checkpoint(tmp_path / 'policy.pt')
    assert config == result.config
    states = torch.as_tensor(np.random.default_rng(0).normal(size=(500, 8)).astype(np.float32))
    assert torch.equal(ppo_reference.greedy_actions(ac, states), ppo_reference.greedy_actions(result.ac, states))


def test_load_evaluates_without_training(tmp_path, capsys):
    result = train(Config(total_steps=2048))
    ppo_reference.save_checkpoint(result.ac, result.config, tmp_path / 'policy.pt')
    out = tmp_path / 'eval'
    assert ppo_reference.main(['--load', str(tmp_path / 'policy.pt'), '--out', str(out), '--eval-episodes', '4']) == 0
    evaluation = json.loads((out / 'evaluation.json').read_text())
    assert evaluation['eval_episodes'] == 4 and len(evaluation['eval_returns']) == 4
    assert (out / 'landing.gif').exists() and not (out / 'policy.pt').exists()
    assert 'greedy evaluation of' in capsys.readouterr().out


@pytest.mark.parametrize('argv,message', [
    (['--total-steps', '-5'], 'argument --total-steps: must be a positive number, got -5'),
    (['--total-steps', 'lots'], "argument --total-steps: 'lots' is not a whole number"),
    (['--load', 'no/such/policy.pt'], 'checkpoint not found: no/such/policy.pt'),
    (['--eval-episodes', '0'], 'argument --eval-episodes: must be a positive number, got 0'),
])
def test_bad_arguments_get_a_clear_message_and_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        ppo_reference.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_an_existing_run_is_not_overwritten(tmp_path, capsys):
    (tmp_path / 'summary.json').write_text('{}')
    with pytest.raises(SystemExit):
        ppo_reference.main(['--out', str(tmp_path)])
    assert 'already holds a result (summary.json)' in capsys.readouterr().err


def test_help_from_the_command_line():
    result = subprocess.run([sys.executable, 'ppo_reference.py', '--help'], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and '--total-steps' in result.stdout and '--load' in result.stdout


def a_torch_file(path, content):
    torch.save(content, path)
    return path


@pytest.mark.parametrize('make,what', [
    (lambda tmp: os.path.join(ROOT, 'README.md'), "it is a text file, not a torch file (its first line: '# PPO on"),
    (lambda tmp: a_torch_file(tmp / 'weights.pt', {'actor': torch.zeros(3)}), 'it is a torch file of a dict with the '
                                                                            'keys actor'),
    (lambda tmp: a_torch_file(tmp / 'tensor.pt', torch.zeros(3)), 'it is a torch file of a Tensor'),
    (lambda tmp: a_torch_file(tmp / 'other.pt', {'state_dict': ppo_reference.PPO(4, 2, 0.9, 0.9, 0.2, 8).state_dict(),
                                                 'config': {}, 'state_dim': 8, 'num_actions': 4}),
     'is not a checkpoint of this PPO: Error(s) in loading state_dict for PPO'),
    (lambda tmp: (tmp / 'random.bin').write_bytes(bytes(range(200, 256))) and tmp / 'random.bin',
     'it is not a torch file (it starts with the bytes'),
])
def test_load_of_a_file_that_is_not_a_checkpoint_is_one_line_saying_what_it_is(make, what, tmp_path, capsys):
    path = make(tmp_path)
    assert ppo_reference.main(['--load', str(path), '--out', str(tmp_path / 'eval')]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.startswith(f'ppo_reference.py: error: {path} ')
    assert what in err and 'a checkpoint is a torch file of a dict with state_dict, config, state_dim and' in err
    assert not (tmp_path / 'eval').exists()  # nothing written for a file that is not a checkpoint


def test_load_from_the_command_line_ends_without_a_traceback():
    result = subprocess.run([sys.executable, 'ppo_reference.py', '--load', 'README.md'], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and 'Traceback' not in result.stderr
    assert result.stderr.startswith('ppo_reference.py: error: README.md is not a checkpoint')
