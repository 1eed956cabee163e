"""The trainer's stopping rule, schedules and records, the landing verdict, and what the
progress display and the learning curve show (short runs only; long ones: test_slow.py)."""

import dataclasses
import io
import math
import os
import re

import numpy as np
import pytest

import ppo_reference
import rl_gui
from ppo_reference import Config, train
from rl_kit import training
from rl_kit.training import EpisodeTracker, LandingCheck, LandingChecks, TrainResult, TrainStats, UpdateStats
from test_rl_gui import kernel  # noqa: F401 (a pytest fixture: a fake IPython display)

CHECK_FIRST_SEED, EVAL_FIRST_SEED = Config().check_seed, Config().eval_seed
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A tiny stand-in for the real thresholds: after the first finished episode the training
# mean counts as solved and the greedy checks start, within a few thousand steps. Every
# episode scores >= -1e9, so a check of 3 episodes passes with PASS (any share will do) and
# fails with FAIL (3 of 3 do not show a share of 0.5 with 99% confidence: the bound is 0.36).
EASY = dict(solve_threshold=-1e9, check_from=-1e9, solve_window=1, check_stages=(3,), check_interval=2048,
            num_envs=4, num_steps=64)
PASS, FAIL = dict(check_share=0.0), dict(check_share=0.5)


def test_the_schedules_never_reach_zero_within_the_budget():
    config = Config()
    factors = [config.schedule(steps) for steps in range(0, config.total_steps + 1, config.batch_size)]
    assert factors[0] == 1
    assert min(factors) == config.anneal_floor > 0
    assert all(a >= b for a, b in zip(factors, factors[1:]))  # decreasing, then constant
    assert config.schedule(config.anneal_steps) == pytest.approx(config.anneal_floor)


@pytest.mark.parametrize('changes,message', [
    (dict(anneal_floor=0.0), 'anneal_floor must be in (0, 1]'),
    (dict(anneal_floor=1.5), 'anneal_floor must be in (0, 1]'),
    (dict(check_stages=()), 'check_stages must be rising numbers of episodes, e.g. (20, 40, 60, 100), and '
                            'check_share a share below 1, e.g. 0.8; got () and 0.8'),
    (dict(check_stages=(40, 20)), 'check_stages must be rising numbers of episodes'),
    (dict(check_share=1.0), 'got (20, 40, 60, 100) and 1.0'),
    (dict(check_interval=0), 'check_interval must be a positive whole number, got 0'),
    (dict(anneal_steps=-5), 'anneal_steps must be a positive whole number, got -5'),
])
def test_a_config_that_would_strand_a_run_is_refused(changes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Config(**changes)


def test_the_monitor_follows_a_real_run():
    out = io.StringIO()
    monitor = rl_gui.TrainingMonitor(file=out, log_interval=0)
    train(Config(**EASY, **PASS, total_steps=100_000), callback=monitor)
    monitor.close()
    assert out.getvalue().splitlines()[-1].endswith('| landed!')


def test_a_run_that_never_lands_trains_to_its_budget_with_a_learning_rate_above_zero():
    seen = []
    config = Config(**EASY, **FAIL, total_steps=6 * 256, anneal_steps=512)
    result = train(config, callback=seen.append)
    assert not result.landed and result.landed_at is None and result.status() == 'NOT landed'
    assert result.env_steps == config.total_steps
    assert all(isinstance(stats, TrainStats) and isinstance(stats.update, UpdateStats) for stats in seen)
    assert min(stats.learning_rate for stats in seen) == pytest.approx(config.learning_rate * config.anneal_floor)
    assert min(stats.epsilon for stats in seen) == pytest.approx(config.epsilon * config.anneal_floor)
    assert [stats.env_steps for stats in seen] == list(range(256, config.total_steps + 1, 256))


def test_checks_start_at_the_gate_and_repeat_at_every_block_on_fresh_seeds():
    config = Config(**EASY, **FAIL, total_steps=40 * 256)
    result = train(config)
    assert result.solved and result.checks
    steps = [check.env_steps for check in result.checks]
    # a check point is the first update of a block of check_interval steps (here every multiple of it) whose
    # training mean reaches the gate: the first block after the first episode ended, then every block
    assert steps[0] == -(-result.solved_at // config.check_interval) * config.check_interval
    assert all(b - a == config.check_interval for a, b in zip(steps, steps[1:])) and steps[-1] == result.env_steps
    # episode i of the check at block b plays seed check_seed + b * check_stages[-1] + i
    assert [check.first_seed for check in result.checks] == [CHECK_FIRST_SEED + s // config.check_interval * 3
                                                             for s in steps]
    seeds = [check.first_seed + i for check in result.checks for i in range(len(check.returns))]
    assert len(set(seeds)) == len(seeds)  # every check plays seeds no other check played
    assert min(seeds) >= CHECK_FIRST_SEED > EVAL_FIRST_SEED + 100  # nor the final evaluation (10_000, 10_001, ...)
    assert all(len(check.returns) == 3 and not check.passed for check in result.checks)
    assert 0 < result.check_seconds < result.train_seconds


def test_training_stops_at_the_first_check_that_passes():
    seen = []
    result = train(Config(**EASY, **PASS, total_steps=100_000), callback=seen.append)
    assert result.landed and result.checks[-1].passed and len(result.checks) == 1
    assert result.env_steps == result.landed_at == result.checks[0].env_steps >= result.solved_at
    assert seen[-1].landed_at == result.landed_at and result.status() == 'landed'
    assert re.search(r'^landed after [\d,]+ environment steps.*training mean >= -1e\+09: at [\d,]+ steps \| '
                     r'greedy check: at [\d,]+ steps \(1 check, the last: 3 of 3 >= -1e\+09, mean ', result.summary())


def the_rule(**changes):
    return LandingChecks(None, Config(**changes), EpisodeTracker(1, 3, 200.0), background=False)


def wins(n, landed, land=250.0, crash=-50.0):
    # the returns of a stage of n episodes, of which `landed` land
    return [land] * landed + [crash] * (n - landed)


@pytest.mark.parametrize('n,at_least_passed,at_least_play_on', [(20, None, 17), (40, 38, 34), (60, 56, 51),
                                                                (100, 90, None)])
def test_a_check_passes_on_the_share_that_lands_with_99_percent_confidence_and_plays_on_when_close(
        n, at_least_passed, at_least_play_on):
    # the default stages 20/40/60/100: pass when the 99% Wilson bound of the share >= 200 is >= 0.8,
    # else play on while >= 85% land (the table of benchmarks/results/traces_default.md)
    rule = the_rule()
    outcomes = {landed: rule.judge(wins(n, landed, land=400.0)) for landed in range(n + 1)}
    expected = {landed: 'passed' if at_least_passed is not None and landed >= at_least_passed else
                'play on' if at_least_play_on is not None and landed >= at_least_play_on else 'failed'
                for landed in range(n + 1)}
    assert outcomes == expected


def test_a_check_whose_mean_is_below_the_threshold_fails_whatever_its_share():
    rule = the_rule()
    assert rule.judge(wins(40, 39, land=210.0, crash=-1000.0)) == 'failed'  # 39 of 40 land, mean 179.75
    assert rule.judge(wins(40, 39, land=210.0, crash=0.0)) == 'passed'      # the same share, mean 204.75
    assert rule.judge([200.0] * 40) == 'passed' and rule.judge([199.9] * 40) == 'failed'  # >= 200 lands


def scripted(returns, played):
    # an evaluate() that plays the given returns in order, on the seeds asked for
    def fake_evaluate(ac, config, episodes, first_seed, act):
        played.append((first_seed, episodes))
        start = sum(n for _, n in played[:-1])
        return np.array(returns[start:start + episodes])
    return fake_evaluate


def test_the_trainers_rule_is_the_one_the_replay_of_the_traces_chose(monkeypatch):
    # benchmarks/stopping_rules.py chose the rule by replaying traced runs: its Rule and the trainer's
    # checks agree on whether a check passes and how many episodes it plays, on checks of every kind
    import sys
    sys.path.insert(0, os.path.join(ROOT, 'benchmarks'))
    import stopping_rules
    chosen = next(rule for rule in stopping_rules.RULES if rule.name == 'seq20/40/60/100 W2.3263>=0.8 go share>=0.85')
    rule, rng, outcomes = the_rule(), np.random.default_rng(0), set()
    for _ in range(400):
        p = rng.choice([0.7, 0.85, 0.9, 0.95, 1.0])
        returns = np.where(rng.random(100) < p, rng.uniform(200, 300, 100), rng.uniform(-100, 199.9, 100))
        played = []
        monkeypatch.setattr(training, 'evaluate', scripted(returns.tolist(), played))
        check = rule.play(None, env_steps=8192, block=1)
        passed, episodes = chosen.checks(stopping_rules.Prefixes([[8192, 100.0, returns.tolist(), []]]))
        assert (check.passed, len(check.returns)) == (bool(passed[0, 0]), int(episodes[0, 0]))
        outcomes.add((check.passed, len(check.returns)))
    assert {(False, 20), (False, 40), (True, 40), (False, 60), (True, 60), (False, 100), (True, 100)} <= outcomes


def test_a_check_plays_its_stages_on_the_seeds_of_its_block(monkeypatch):
    # every 10th episode crashes: 18 of the first 20 land, 36 of 40, 54 of 60 (play on), 90 of 100 (passed)
    played = []
    monkeypatch.setattr(training, 'evaluate', scripted([-100.0 if i % 10 == 0 else 250.0 for i in range(100)], played))
    check = the_rule().play(None, env_steps=5 * 8192, block=5)
    first = CHECK_FIRST_SEED + 5 * 100
    assert played == [(first, 20), (first + 20, 20), (first + 40, 20), (first + 60, 40)]
    assert check.first_seed == first and len(check.returns) == 100 and check.wins == 90 and check.passed
    assert check.describe() == '90 of 100 >= 200, mean 215.0' and check.share_bound == pytest.approx(0.8085, abs=1e-4)


def test_a_check_is_due_at_the_first_update_of_each_block_once_the_training_mean_reaches_the_gate():
    rule = the_rule(check_from=50.0, check_interval=1000)
    rule.tracker.returns = [40.0, 60.0]
    assert rule.due(500) is None  # block 0, fewer episodes than the window (3)
    rule.tracker.returns = [40.0, 60.0, 49.0]
    assert rule.due(1100) is None  # block 1, mean 49.7: block 1 is gone
    rule.tracker.returns.append(100.0)
    assert rule.due(1900) is None  # still block 1
    assert rule.due(2300) == 2 and rule.due(2900) is None and rule.due(4100) == 4


def test_the_progress_reads_the_mean_then_the_share_against_what_a_check_must_show():
    rule = the_rule()
    assert rule.progress() == 0.0  # no episode yet
    rule.tracker.returns = [-200.0] * 3
    assert rule.progress() == 0.0
    rule.tracker.returns = [0.0] * 3  # the training mean, halfway from -200 to 200: a quarter
    assert rule.progress() == pytest.approx(0.25)
    rule.checks = [failed_check(8192, 200.0, landed=20, n=20)]  # then the last check: mean and share
    assert rule.progress() == pytest.approx((1 + 0.7870 / 0.8) / 2, abs=1e-4)
    rule.landed_at = 8192
    assert rule.progress() == 1.0


def fake_result(**changes):
    fields = dict(ac=None, config=Config(), env_steps=400_000, train_seconds=50.0, check_seconds=2.0,
                  episode_returns=[-100.0] * 300, episode_end_steps=list(range(300)), solved_at=None,
                  landed_at=None, checks=[], interrupted=False)
    fields.update(changes)
    return TrainResult(**fields)


def failed_check(steps, mean, landed=0, n=1):
    bound = float(training.wilson_interval(landed, n, training.normal_quantile(0.99))[0])
    return LandingCheck(env_steps=steps, first_seed=CHECK_FIRST_SEED, returns=[mean] * n, threshold=200.0,
                        passed=False, share_bound=bound)


@pytest.mark.parametrize('changes,cause', [
    (dict(interrupted=True, env_steps=50_000), 'training was interrupted after 50,000 steps'),
    (dict(env_steps=20_480), 'training had only 20,480 steps'),
    (dict(solved_at=250_000, checks=[failed_check(250_000, 150.0), failed_check(260_000, 180.0)]),
     '200 at 250,000 steps), but the greedy policy never passed a check (best 180.0): it hovers'),
    (dict(episode_returns=[-150.0] * 300), 'never rose above 0 (best mean of 100 episodes: -150.0)'),
    (dict(episode_returns=[30.0] * 300), 'the training return rose (best mean 30.0) but not to 50, where the checks'),
    (dict(checks=[failed_check(300_000, 20.0)]), 'the greedy policy never passed a check (best 20.0)'),
    (dict(solved_at=250_000, landed_at=260_000, checks=[failed_check(260_000, 230.0, landed=38, n=40)]),
     'a check passed at 260,000 steps (40 of 40 >= 200, mean 230.0), but the policy is borderline'),
])
def test_the_verdict_names_the_likely_cause(changes, cause):
    verdict = training.landing_verdict(fake_result(**changes), np.array([150.0, 190.0]))
    assert not verdict.lands and verdict.mean == 170.0
    text = str(verdict)
    assert text.startswith('your agent did not land: the greedy policy averages 170.0 over 2 fresh episodes; 0 of 2 '
                           'episodes >= 200 (0%, 95% confidence interval 0-66%). Likely causes:')
    assert cause in text
    # a full run ends with what a second seed would tell; a run cut short says only that
    cut_short = changes.get('interrupted') or changes.get('env_steps', 400_000) < 100_000
    assert ('if a second seed does not land either' in text) is not cut_short
    assert not re.search(r'your \S+ = ', text)  # no setting named: none was changed


def test_a_short_run_is_told_the_notebooks_switch_and_the_full_budget():
    text = str(training.landing_verdict(fake_result(env_steps=20_480, config=Config(total_steps=20_000)),
                                        np.array([-100.0])))
    assert 'training had only 20,480 steps (total_steps = 20,000)' in text
    assert 'total_steps = 1,000,000 (in the notebook: QUICK = False)' in text and 'PPO_QUICK' not in text
    assert 'your code' not in text  # a short run says nothing about the code


@pytest.mark.parametrize('changes,said', [
    (dict(lmbda=0.0), 'your λ = 0 differs from the default 0.98'),
    (dict(gamma=0.95, update_epochs=8), 'your γ = 0.95 differs from the default 0.999; your update_epochs = 8 '
                                        'differs from the default 6'),
    (dict(normalize_advantages=False), 'your normalize_advantages = False differs from the default True'),
])
def test_the_verdict_knows_the_settings_the_student_chose_and_does_not_blame_the_code(changes, said):
    # Config(lmbda=0.0), which the notebook suggests, trains 1M steps without landing
    result = fake_result(config=Config(**changes, seed=3), env_steps=1_001_472, episode_returns=[-30.0] * 300)
    causes = training.landing_verdict(result, np.array([-27.0])).causes
    assert causes[0].startswith(said) and 'train with Config() to tell your code from your settings' in causes[0]
    text = '\n'.join(causes)
    assert 'points to a bug' not in text and 'most likely in your code' not in text
    assert 'with the default settings this would point to a bug in your code; with yours' in text


def test_an_interrupted_run_with_changed_settings_says_the_interruption_first():
    result = fake_result(config=Config(lmbda=0.5), interrupted=True, env_steps=50_000)
    causes = training.landing_verdict(result, np.array([-27.0])).causes
    assert causes[0].startswith('training was interrupted') and causes[1].startswith('your λ = 0.5 differs')


def test_the_verdict_says_it_lands_at_200_and_above_and_how_surely():
    verdict = training.landing_verdict(fake_result(), np.array([180.0, 220.0]))
    assert verdict.lands and str(verdict).startswith('your agent lands: the greedy policy averages 200.0 over 2 '
                                                     'fresh episodes; 1 of 2 episodes >= 200 (50%, 95% confidence')
    assert 'But it crashes or hovers in 1 of them, more than 20%' in str(verdict)
    surely = training.landing_verdict(fake_result(), np.array([-50.0] + [230.0] * 99))
    assert str(surely) == ('your agent lands: the greedy policy averages 227.2 over 100 fresh episodes; 99 of 100 '
                           'episodes >= 200 (99%, 95% confidence interval 95-100%)')


def test_the_share_that_lands_has_the_wilson_interval():
    share = training.LandingShare.of([250.0] * 91 + [0.0] * 9, 200.0)
    assert (share.wins, share.episodes, share.share) == (91, 100, 0.91)
    assert share.low == pytest.approx(0.8377, abs=1e-4) and share.high == pytest.approx(0.9519, abs=1e-4)
    low, high = training.wilson_interval(np.array([0, 20]), 20, 1.96)  # the ends stay within [0, 1]
    assert low[0] == pytest.approx(0.0, abs=1e-12) and 0 < high[0] < 0.2 and 0.8 < low[1] < 1 and high[1] == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------
# The progress display and the learning curve
# ---------------------------------------------------------------------------------------

def stats(steps, total=1_000_000, returns=(-100.5, -50.25), checks=(), solved_at=None, landed_at=None,
          progress=0.3):
    return TrainStats(env_steps=steps, total_steps=total, elapsed=75.0, episode_returns=list(returns),
                      episode_end_steps=[1000 * (i + 1) for i in range(len(returns))],
                      mean_return=float(np.mean(returns)), solve_window=100, solve_threshold=200.0,
                      solved_at=solved_at, landed_at=landed_at, checks=list(checks), progress=progress,
                      learning_rate=1e-3, epsilon=0.2, update=UpdateStats(0.1, 0.2, 1.3, 0.1, 0.01), ac=None)


def test_the_progress_line_is_short_and_says_when_each_criterion_is_met():
    monitor = rl_gui.TrainingMonitor(file=io.StringIO())
    line = monitor.summary(stats(123_904, returns=[143.2]))
    assert line == '123,904 steps | 1 episode | mean 143.2 | 1,652 steps/s | 1:15'
    solved = monitor.summary(stats(300_000, returns=[210.0], solved_at=290_000, checks=[failed_check(290_000, 150)]))
    assert solved.endswith('| mean 210.0 | greedy 0/1 land | 4,000 steps/s | 1:15 | solved')
    landed = monitor.summary(stats(200_000, returns=[120.0], landed_at=200_000,
                                   checks=[failed_check(200_000, 230, n=40)]))
    assert landed.endswith('| mean 120.0 | greedy 40/40 land | 2,667 steps/s | 1:15 | landed!')
    longest = monitor.summary(stats(9_999_999, returns=[-123.4] * 99999, solved_at=1, landed_at=2,
                                    checks=[failed_check(1, 250.0, n=100)]))
    assert len('[##########] ' + longest) <= 120  # fits a terminal or notebook line of 120


def test_the_bar_reads_how_close_the_agent_is_to_landing_not_the_budget():
    monitor = rl_gui.TrainingMonitor(file=io.StringIO())
    assert monitor._bar(stats(1_001_472, progress=0.42), 10) == (4, 6)  # past the budget: the bar does not care
    assert monitor._bar(stats(200_000, progress=1.0), 10) == (10, 0)
    assert monitor._bar(stats(0, progress=float('nan')), 10) == (0, 10)
    assert '1,000,000' not in monitor.summary(stats(1_001_472))


def test_in_a_notebook_the_progress_line_wraps_only_between_its_parts(kernel):
    monitor = rl_gui.TrainingMonitor(interval=0)
    def at(steps):
        return stats(steps, solved_at=2000, checks=[failed_check(2000, 123.4)])
    for steps in (1000, 2000, 300_000):
        monitor(at(steps))
    assert len(kernel.shown) == 2 and len(kernel.updates) == 4  # the text and the curve, each updated in place
    page = kernel.updates[-2]
    assert page['text/plain'] == '██████░░░░░░░░░░░░░░ ' + monitor.summary(at(300_000))  # progress 0.3
    body = re.search(r'</span> (.*)</div>$', page['text/html']).group(1)
    parts = body.split(' | ')
    assert parts[0] == '300,000&nbsp;steps' and ' ' not in ''.join(parts)  # spaces only between parts
    assert 'word-break:normal' in page['text/html']  # the front end's break-all would split numbers
    assert kernel.updates[-1].format == 'png' and kernel.updates[-1].data.startswith(b'\x89PNG')


def test_outside_a_notebook_progress_lines_are_throttled():
    out = io.StringIO()
    monitor = rl_gui.TrainingMonitor(file=out, log_interval=60)
    for steps in range(1000, 10_001, 1000):
        monitor(stats(steps, total=10_000, progress=steps / 20_000))
    monitor.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # the first call, then the final state
    assert lines[-1] == '[#####.....] 10,000 steps | 2 episodes | mean -75.4 | 133 steps/s | 1:15'


def test_the_learning_curve_marks_both_criteria_the_checks_and_how_surely_the_evaluation_lands():
    passed = dataclasses.replace(failed_check(170_000, 230.0, n=40), passed=True)
    checks = [failed_check(150_000, 120.0), passed]
    evaluation = np.array([250.0] * 91 + [0.0] * 9)
    figure = rl_gui.plot_learning_curve([-100.0, 50.0, 210.0], [50_000, 100_000, 150_000], solved_at=150_000,
                                        landed_at=170_000, checks=checks, evaluation=evaluation)
    ax = figure.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert 'training mean ≥ 200: 150k steps' in labels and 'greedy policy lands: 170k steps' in labels
    assert {'greedy check (mean)', 'greedy check passed: 40 of 40 >= 200, mean 230.0'} <= set(labels)
    assert 'evaluation: 91 of 100 ≥ 200 (84–95%)' in labels
    vertical = sorted(line.get_xdata()[0] for line in ax.get_lines() if len(set(line.get_xdata())) == 1
                      and len(line.get_xdata()) == 2)
    assert 150_000 in vertical and 170_000 in vertical  # (and the evaluation's bar, at the landing)
    result = fake_result(episode_returns=[-100.0, 210.0], episode_end_steps=[50_000, 150_000], checks=checks,
                         landed_at=170_000)
    histogram = rl_gui.evaluation_figure(result, evaluation).axes[1]
    assert histogram.get_title() == 'Greedy evaluation: 91 of 100 ≥ 200\n(91%; 95% confidence 84–95%)'


def test_the_curve_without_steps_cannot_mark_steps():
    with pytest.raises(ValueError, match='solved_at, landed_at, checks and evaluation are placed at environment steps'):
        rl_gui.plot_learning_curve([1.0, 2.0], solved_at=5)
    assert rl_gui.plot_learning_curve([1.0, 2.0]).axes[0].get_xlabel() == 'episodes'


def test_steps_per_second_before_any_time_has_passed_is_not_a_crash():
    assert math.isnan(dataclasses.replace(stats(1), elapsed=0.0).steps_per_second)


# ---------------------------------------------------------------------------------------
# The students' styles that the slow tests train (tests/correct_styles.py) are correct
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize('style', sorted(__import__('correct_styles').STYLES))
def test_each_correct_style_computes_what_the_reference_computes(style):
    import torch
    from correct_styles import STYLES
    N, T = 3, 16
    torch.manual_seed(0)
    reference = ppo_reference.PPO(8, 4, 0.99, 0.95, 0.2, T)
    other = STYLES[style](8, 4, 0.99, 0.95, 0.2, T)
    other.load_state_dict(reference.state_dict())
    states, next_states = torch.randn(N * T, 8), torch.randn(N * T, 8)
    rewards = torch.randn(N * T)
    terminations, truncations = torch.rand(N * T) < 0.1, torch.rand(N * T) < 0.1
    assert terminations.any() and truncations.any()
    for a, b in zip(reference.compute_advantages(states, rewards, next_states, terminations, truncations),
                    other.compute_advantages(states, rewards, next_states, terminations, truncations)):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)
    actions = torch.randint(0, 4, (N * T,))
    log_probs_old = reference.compute_log_probs(states, actions).detach() + 0.3 * torch.randn(N * T)
    arguments = (states, actions, torch.randn(N * T), torch.randn(N * T), log_probs_old)
    for a, b in zip(reference.compute_loss(*arguments), other.compute_loss(*arguments)):
        torch.testing.assert_close(b.float(), a, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------
# The update: compute_loss's forward pass of the actor also serves the entropy bonus
# ---------------------------------------------------------------------------------------

def a_rollout(N=4, T=32, state_dim=8):
    import torch
    generator = torch.Generator().manual_seed(1)
    return ppo_reference.Rollout(
        states=torch.randn(N * T, state_dim, generator=generator),
        actions=torch.randint(0, 4, (N * T,), generator=generator),
        rewards=10 * torch.randn(N * T, generator=generator),
        next_states=torch.randn(N * T, state_dim, generator=generator),
        terminations=torch.rand(N * T, generator=generator) < 0.05,
        truncations=torch.rand(N * T, generator=generator) < 0.05)


def updated(cls, config, rollout):
    # the parameters after one ppo_update from the same start, and the actor's forward passes
    import torch
    torch.manual_seed(0)
    ac = cls(8, 4, config.gamma, config.lmbda, config.epsilon, 32)
    calls = []
    ac.actor.register_forward_hook(lambda *_: calls.append(1))
    ppo_reference.ppo_update(ac, ppo_reference.make_optimizer(ac, config), rollout, config,
                             torch.Generator().manual_seed(0))
    return [p.detach().clone() for p in ac.parameters()], len(calls)


class LossOnACopy(ppo_reference.PPO):
    # a compute_loss that runs the actor on a copy of the states: nothing to reuse
    def compute_loss(self, states, *rest):
        return super().compute_loss(states.clone(), *rest)


def test_the_entropy_bonus_reuses_the_scores_compute_loss_computed():
    import torch
    config = Config(update_epochs=2, minibatch_size=32)
    steps = config.update_epochs * 128 // config.minibatch_size
    reused, reused_calls = updated(ppo_reference.PPO, config, a_rollout())
    fresh, fresh_calls = updated(LossOnACopy, config, a_rollout())
    assert reused_calls == steps + 2  # one per step, plus the old log-probs and the clip fraction
    assert fresh_calls == 2 * steps + 2  # a second forward pass where nothing could be reused
    for a, b in zip(reused, fresh):  # the same update either way
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_actor_scores_keeps_only_the_pass_with_gradients_on_the_same_states():
    import torch
    ac = ppo_reference.PPO(8, 4, 0.99, 0.95, 0.2, 4)
    states = torch.randn(6, 8)
    with training.ActorScores(ac.actor, states) as scores:
        ac.actor(states.clone())
        with torch.no_grad():
            ac.actor(states)
    assert scores.value is None
    with training.ActorScores(ac.actor, states) as scores:
        expected = ac.actor(states)
    assert scores.value is expected and scores.value.requires_grad
    assert not ac.actor._forward_hooks  # the hook is gone after the block
    with training.ActorScores(lambda x: x, states) as scores:  # an actor that is not a Module
        pass
    assert scores.value is None


def test_the_entropy_is_categoricals_of_the_kept_scores_or_of_a_pass_of_its_own():
    import torch
    ac = ppo_reference.PPO(8, 4, 0.99, 0.95, 0.2, 4)
    states = torch.randn(6, 8)
    with training.ActorScores(ac.actor, states) as kept:
        scores = ac.actor(states)
    with training.ActorScores(ac.actor, states) as fresh:  # compute_loss ran no actor on these states
        pass
    expected = torch.distributions.Categorical(logits=scores).entropy().mean()
    assert torch.equal(kept.entropy(), expected) and torch.equal(fresh.entropy(), expected)
    assert kept.entropy().grad_fn is not None  # the bonus has a gradient
    certain = torch.tensor([[0.0, -math.inf, -math.inf, -math.inf], [0.0, 0.0, -math.inf, -math.inf]])
    assert training.ActorScores(lambda x: certain, None).entropy().item() == pytest.approx(math.log(2) / 2)


# ---------------------------------------------------------------------------------------
# The checks in a second process (BackgroundChecks)
# ---------------------------------------------------------------------------------------

def fingerprint(result):
    import torch
    return (result.env_steps, result.solved_at, result.landed_at, result.episode_returns, result.episode_end_steps,
            [(check.env_steps, check.first_seed, check.returns) for check in result.checks],
            torch.cat([p.flatten() for p in result.ac.parameters()]).tolist(), result.ac.epsilon)


def test_checks_beside_training_stop_the_run_where_inline_checks_stop_it():
    # The first check passes (margin 0 against a threshold of -1e9). Beside training, its
    # result comes back at least one update later (it plays 3 episodes): the run goes back
    # to the agent it checked and ends exactly as with the check inline.
    config = Config(**EASY, **PASS, total_steps=100_000)
    seen_beside, seen_inline = [], []
    beside = train(config, callback=lambda stats: seen_beside.append(stats.env_steps))
    inline = train(dataclasses.replace(config, background_checks=False),
                   callback=lambda stats: seen_inline.append(stats.env_steps))
    assert beside.checks_in_background and not inline.checks_in_background
    assert beside.landed and fingerprint(beside) == fingerprint(inline)
    # trained on while the check ran, then went back: the last update the callback hears of
    # is the one the check came back after, with the run as it was at the check
    assert seen_inline[-1] == beside.landed_at == seen_beside[-1] and len(seen_beside) > len(seen_inline)
    assert beside.check_seconds == sum(check.seconds for check in beside.checks) > 0


def test_checks_beside_training_that_all_fail_are_the_inline_ones():
    config = Config(**EASY, **FAIL, total_steps=40 * 256)
    beside, inline = train(config), train(dataclasses.replace(config, background_checks=False))
    assert len(beside.checks) == len(inline.checks) > 3  # the last one too: the run waits for it
    assert fingerprint(beside) == fingerprint(inline) and not beside.landed


def a_background(**changes):
    import torch
    torch.manual_seed(0)
    config = Config(**dict(EASY, **changes))
    tracker = EpisodeTracker(config.num_envs, config.solve_window, config.solve_threshold)
    return LandingChecks(ppo_reference.PPO(8, 4, 0.99, 0.95, 0.2, 64), config, tracker), config


def test_a_second_process_that_dies_leaves_its_checks_to_be_played_inline():
    background, config = a_background()
    background.start(1000, 0)
    background.process.kill()
    background.start(3000, 1)  # sent to a process that is gone, or already noticed: played inline
    checks = background.collect(wait=True)
    expected = background.play(background.ac, 1000, 0)
    assert [check.env_steps for check in checks] == [1000, 3000]
    assert checks[0].returns == expected.returns and not background.in_background
    background.close()


def test_ctrl_c_in_the_second_process_is_left_to_training():
    import os
    import signal
    background, config = a_background()
    background.start(1000, 0)
    assert len(background.collect(wait=True)) == 1  # the second process is up and plays
    os.kill(background.process.pid, signal.SIGINT)  # what Ctrl-C sends the whole process group
    background.start(3000, 1)
    checks = background.collect(wait=True)
    assert background.in_background and [check.env_steps for check in checks] == [3000]
    assert checks[0].returns == background.play(background.ac, 3000, 1).returns
    background.close()
    assert background.process is None


def test_a_second_process_that_hangs_is_given_up_after_the_timeout(monkeypatch):
    import time
    background, config = a_background()
    monkeypatch.setattr(background, 'TIMEOUT', 1.0)
    with monkeypatch.context() as patch:  # the second process (a fork made now) plays for ever
        patch.setattr(LandingChecks, 'play', lambda *args, **kwargs: time.sleep(3600))
        background.start(1000, 0)
    assert background.collect() == [] and background.pending  # not yet given up
    checks = background.collect(wait=True)
    assert [check.env_steps for check in checks] == [1000] and not background.in_background
    assert checks[0].returns == background.play(background.ac, 1000, 0).returns


def a_check_in_a_pool_worker(_):
    background, _ = a_background()
    background.start(1000, 0)
    checks = background.collect(wait=True)
    background.close()
    return background.in_background, [check.env_steps for check in checks]


def test_in_a_multiprocessing_pool_the_checks_run_inline():
    # a pool's worker is a daemon process, which may not start a second one (benchmarks/sweep.py)
    import multiprocessing
    with multiprocessing.get_context('fork').Pool(1) as pool:
        assert pool.map(a_check_in_a_pool_worker, [0]) == [(False, [1000])]


def test_without_a_second_process_the_checks_run_inline(monkeypatch):
    def refuse(self):  # what a multiprocessing pool's worker (a daemon process) gets
        raise AssertionError('daemonic processes are not allowed to have children')
    monkeypatch.setattr(LandingChecks, '_start_process', refuse)
    background, _ = a_background()
    background.start(1000, 0)
    assert not background.in_background and [check.env_steps for check in background.collect()] == [1000]
    background, _ = a_background(background_checks=False)
    assert not background.in_background


def test_the_tracker_forgets_the_episodes_after_a_step_and_a_later_solve():
    tracker = EpisodeTracker(2, window=2, threshold=3.5)
    tracker.returns, tracker.end_steps = [1.0, 2.0, 3.0, 4.0], [10, 20, 20, 30]
    tracker.note_solved(30)
    assert tracker.solved_at == 30
    tracker.truncate(20)
    assert tracker.returns == [1.0, 2.0, 3.0] and tracker.end_steps == [10, 20, 20] and tracker.solved_at is None


def test_the_tracker_sums_each_episode_and_notes_the_first_solve_only():
    tracker = EpisodeTracker(2, window=2, threshold=5.0)
    tracker.update(np.array([1.0, 2.0]), np.array([False, False]), 2)
    tracker.update(np.array([3.0, 4.0]), np.array([True, False]), 4)
    tracker.note_solved(4)
    assert tracker.returns == [4.0] and tracker.solved_at is None  # one episode, the window is 2
    tracker.update(np.array([0.0, 1.0]), np.array([False, True]), 6)
    tracker.note_solved(6)
    tracker.note_solved(8)
    assert tracker.returns == [4.0, 7.0] and tracker.end_steps == [4, 6] and tracker.solved_at == 6
