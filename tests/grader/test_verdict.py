"""The grader's verdict is the notebook's, and it does not depend on the secret seed:
correct code written in other orders of float32 operations gets 100 on every seed, and
what the student's report counts (type, shape, dtype, detached, inputs changed) counts in
the grader too. In-process: the observations are made here, sent through JSON as a
sandboxed child sends them, and judged by the grader's Judge (no sandbox is started)."""

import json
import multiprocessing

import pytest
from torch import nn

import rl_tests
from grader.judge import Judge
from ppo_reference import PPO
from seed_styles import GAE_STYLES, LOSS_STYLES

SEEDS = range(9000, 9200)  # 200 secret seeds that no tolerance was tuned on


def combined(gae, loss):
    """One class with the GAE of one style and the loss of another (each case uses one of them)."""
    return type(f'{gae.__name__}_{loss.__name__}', (PPO,), {'compute_advantages': gae.compute_advantages,
                                                          'compute_loss': loss.compute_loss})


# every style of both lists, each in one class
STYLE_CLASSES = {f'{gae_name} + {loss_name}': combined(GAE_STYLES[gae_name], LOSS_STYLES[loss_name])
                 for gae_name, loss_name in [('reordered delta', 'log(softmax)'),
                                             ('critic on cat([states, next_states])', 'Categorical(probs=...)'),
                                             ('list loop', 'float64 inside'),
                                             ('float64 inside', 'list loop')]}


def sent(observation):
    """An observation as the parent receives it from a child: through JSON, validated."""
    return rl_tests.Observation.from_data(json.loads(json.dumps(observation.to_data())))


def failures_on(seeds):
    """[(seed, style, case, message)] of every case of these seeds that a style fails, judged
    as the grader judges (Judge.judge: judge(trusted=False); mistakes only once a value is wrong)."""
    failed = []
    initialise, nn.Linear.reset_parameters = nn.Linear.reset_parameters, lambda self: None
    try:  # speed only: every case sets all the weights of both networks, so their initialisation is skipped
        for seed in seeds:
            for case in rl_tests.make_cases(seed):
                expected = rl_tests.observe(PPO, case)
                for name, cls in STYLE_CLASSES.items():
                    result = rl_tests.judge(case, sent(rl_tests.observe(cls, case)), expected, {}, trusted=False)
                    if not result.passed:
                        failed.append((seed, name, case.id, result.failures[0].message))
    finally:
        nn.Linear.reset_parameters = initialise
    return failed


def test_every_style_is_used():
    names = {name for pair in STYLE_CLASSES for name in pair.split(' + ')}
    assert names == set(GAE_STYLES) | set(LOSS_STYLES) and len(names) >= 5


def test_correct_styles_get_100_on_every_secret_seed():
    """200 seeds, shared by two processes (forked: each has this one's modules; nothing is
    started but them)."""
    halves = [SEEDS[0::2], SEEDS[1::2]]
    if 'fork' in multiprocessing.get_all_start_methods():
        with multiprocessing.get_context('fork').Pool(2) as pool:
            failed = sum(pool.map(failures_on, halves), [])
    else:
        failed = failures_on(SEEDS)
    assert not failed, failed[:5]


def test_the_styles_differ_from_the_reference():
    """They are other orders of operations: on some case their values are not bit for bit the reference's."""
    judge = Judge(SEEDS[0])
    for name, cls in STYLE_CLASSES.items():
        differs = any(sent(rl_tests.observe(cls, case)).outputs != judge.expected[case.id].outputs
                      for case in judge.cases)
        assert differs, name


class ReturnsNumpy(PPO):
    def compute_advantages(self, *args):
        return tuple(x.numpy() for x in super().compute_advantages(*args))


class ReturnsFloat64(PPO):
    def compute_advantages(self, *args):
        return tuple(x.double() for x in super().compute_advantages(*args))


class ReturnsColumn(PPO):  # (N * T, 1): broadcasting would break training
    def compute_advantages(self, *args):
        return tuple(x.unsqueeze(1) for x in super().compute_advantages(*args))


class ReturnsAttached(PPO):
    def compute_advantages(self, states, *args):
        advantages, targets = super().compute_advantages(states, *args)
        return advantages + 0 * self.compute_values(states), targets


class ZeroesRewards(PPO):
    def compute_advantages(self, states, rewards, *args):
        result = super().compute_advantages(states, rewards, *args)
        rewards.zero_()
        return result


@pytest.mark.parametrize('cls', [ReturnsNumpy, ReturnsFloat64, ReturnsColumn, ReturnsAttached, ZeroesRewards])
def test_the_grader_counts_what_the_notebook_counts(cls):
    judge = Judge(SEEDS[1])
    graded = judge.judge([sent(rl_tests.observe(cls, case)).to_data() for case in judge.cases])
    own = [rl_tests.judge(case, rl_tests.observe(cls, case), judge.expected[case.id]) for case in judge.cases]
    assert [case.passed for case in graded.cases] == [case.passed for case in own]
    assert graded.cases_passed < graded.total
