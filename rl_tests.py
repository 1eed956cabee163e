"""What the PPO exercise tests, and how a student runs it.

In the notebook:

    rl_tests.run_tests(rl_tests.test_ppo(PPO))   # the report: what passes, what is wrong
    rl_tests.check_ready(PPO)                    # before training: stops if the code cannot train yet
    rl_tests.assert_group(PPO, 'gae')            # a points cell: raises if a case of the group fails

What is tested: the four GROUPS below, each a list of cases (make_cases()): the course's
six original cases, verbatim with their expected values, and the kit's own, which isolate
one behaviour each (episode ends, segment ends, λ = 0 and λ = 1, the clip range's sides,
the gradients). Each case is judged against the expected values stored in
rl_kit/expected.json (generated from the instructor's reference: this file and rl_kit
hold no solution), and a wrong output is compared with the outputs of the known mistakes
(rl_kit/mistakes.py) on the same inputs. How a case is judged is rl_kit/judging.py; the
instructor's grader draws fresh cases of the same structure, make_cases(secret_seed), and
computes the expected values live.
"""

import functools
import json
import math
import os
import sys

import rl_kit  # noqa: F401 (first: on a Python older than the kit needs, it says so in one line)
import numpy as np
import torch

from rl_kit import harness
from rl_kit.harness import LEVELS, Kind, check_torch_tensor, collect
from rl_kit.judging import judge, judge_cases, observe
from rl_kit.mistakes import MISTAKES
from rl_kit.reading import HARD_CODED_RATES
from rl_kit.networks import NUM_ACTIONS, STATE_DIM, Networks, course_weights, set_weights
from rl_kit.records import Case, Observation, Output

harness.HARNESS_FILES.add(os.path.abspath(__file__))

__all__ = ['test_ppo', 'check_ready', 'assert_group', 'NotReadyError', 'run_tests', 'collect', 'check_torch_tensor',
           'make_cases', 'observe', 'judge', 'judge_cases', 'Case', 'Observation', 'Output', 'GROUPS', 'MISTAKES',
           'LEVELS', 'feedback_level']

# The groups of cases, in the order of the report; a points cell scores one group.
GROUPS = {
    'gae_course': "compute_advantages(): the course's cases",
    'loss_course': "compute_loss(): the course's cases",
    'gae': 'compute_advantages(): rollouts of several environments with a live critic',
    'loss': 'compute_loss(): clipped objective, critic loss and gradients',
}
# The course's own tolerances: torch.allclose / torch.isclose defaults.
COURSE_RTOL, COURSE_ATOL = 1e-5, 1e-8
EXPECTED_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'rl_kit', 'expected.json')
# The hand-out's default feedback level, {"feedback": LEVEL}: written by tools/build.py --feedback LEVEL
SETTINGS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'rl_kit', 'settings.json')


# ------------------------------------------------------------------------------------
# The student's side: test_ppo(), check_ready(), assert_group()
# ------------------------------------------------------------------------------------

def test_ppo(PPO, groups=None):
    """All cases of the exercise, judged against the stored expected values: the course's
    six, then the kit's own, then the probes. A generator for run_tests() / collect()."""
    problem = wrong_call(PPO, 'test_ppo')
    if problem:
        raise harness.WrongCall(problem)
    data = stored()
    cases = make_cases(groups=groups)
    observations = {case.id: observe(PPO, case) for case in cases}
    mistakes = {case.id: data['mistake_outputs'].get(case.id, {}) for case in cases}
    yield from judge_cases(cases, observations, data['expected'], mistakes)


def wrong_call(PPO, caller):
    """None if PPO is a class the tests can run, else one line: what was passed, and that the
    class is expected."""
    usage = f'call rl_tests.{caller}(PPO)'
    if isinstance(PPO, type):
        if not any(callable(getattr(PPO, name, None)) for name in ('compute_advantages', 'compute_loss')):
            return (f'{caller}() needs the class PPO of the notebook, with compute_advantages() and compute_loss(); '
                    f'the class {PPO.__name__} has neither')
        return None
    if PPO is None:
        return f'{caller}() needs the class PPO, got None: run the cell that defines class PPO, then {usage}'
    if isinstance(PPO, str):
        return f'{caller}() needs the class PPO itself, got the string {PPO[:40]!r}: {usage}, without quotes'
    kind = type(PPO).__name__
    if any(hasattr(PPO, name) for name in ('compute_advantages', 'compute_loss')):
        return (f'{caller}() needs the class PPO, got an instance of {kind} (an object made with {kind}(...)): '
                f'{usage}, with the class itself')
    return f'{caller}() needs the class PPO, got {"an" if kind[:1].lower() in "aeiou" else "a"} {kind}: {usage}'


def feedback_level():
    """How much the reports give away by default (harness.LEVELS): the hand-out's setting in
    rl_kit/settings.json (tools/build.py --feedback LEVEL writes it), else 'fix', everything."""
    try:
        with open(SETTINGS_FILE, encoding='utf-8') as file:
            settings = json.load(file)
    except FileNotFoundError:
        return 'fix'
    except (OSError, ValueError) as error:   # ValueError: not JSON, or not UTF-8
        raise ValueError(f'{SETTINGS_FILE} cannot be read ({type(error).__name__}): restore it from the '
                         'hand-out') from None
    level = settings.get('feedback', 'fix') if isinstance(settings, dict) else None
    if level not in LEVELS:
        raise ValueError(f'{SETTINGS_FILE}: "feedback" must be one of {list(LEVELS)}, got {level!r}; restore the '
                         "file from the hand-out (the instructor's build writes it: tools/build.py --feedback LEVEL)")
    return level


def run_tests(tests, level=None):
    """Runs a test generator and shows its report at a level of LEVELS (default: the
    hand-out's, see feedback_level()). Returns nothing; collect() gives the Report."""
    harness.run_tests(tests, level or feedback_level())


class NotReadyError(RuntimeError):
    """Raised by check_ready() when the PPO class cannot be used for training yet."""


def check_ready(PPO):
    """Raises NotReadyError, saying what to do first, if compute_advantages() or
    compute_loss() is not implemented or crashes. Warns if they run but the tests find
    mistakes."""
    if os.environ.get('NBGRADER_EXECUTION') == 'autograde':
        return  # an autograder does not train (rl_gui.skip_if_grading): the tests cells give the points
    problem = wrong_call(PPO, 'check_ready')
    if problem:
        raise NotReadyError(problem)
    report = collect(test_ppo(PPO))
    missing = sorted({failure.function for failure in report.failures(Kind.NOT_IMPLEMENTED) if failure.function})
    if missing:
        raise NotReadyError(' and '.join(f'{name}()' for name in missing) + ' not implemented yet: fill in the '
                            'TODO in the PPO cell, run it and the tests, then run this cell again.')
    crashes = report.failures(Kind.RAISED) + report.failures(Kind.NOT_RUN)
    if crashes:
        raise NotReadyError(f'your PPO code crashes, so it cannot train yet: {crashes[0].message}. '
                            'Run the tests cell for details.')
    if report:
        print(f'Your PPO code passes all {report.total} cases: ready to train.')
    else:
        print(f'Warning: {report.summary_line(feedback_level())} Training may not learn. Run the tests cell for '
              'details.', file=sys.stderr)


def assert_group(PPO, group):
    """For a grading cell worth points (e.g. nbgrader's): runs the cases of one group; prints
    one line if they all pass, else shows their report and raises AssertionError."""
    if group not in GROUPS:
        raise ValueError(f'assert_group: group must be one of {list(GROUPS)}, got {group!r}')
    problem = wrong_call(PPO, 'assert_group')
    if problem:
        raise AssertionError(problem)
    level = feedback_level()
    report = collect(test_ppo(PPO, groups=(group,)))
    if report:
        print(f'{GROUPS[group]}: {report.summary_line(level)}')
        return
    harness.show(report, level)
    raise AssertionError(f'{GROUPS[group]}: {report.summary_line(level)}')


# ------------------------------------------------------------------------------------
# The cases
# ------------------------------------------------------------------------------------

# --- the course's cases, verbatim ---------------------------------------------------

# The course's expected values (its test_ppo()); rl_expected.py carries them unchanged.
COURSE_ADVANTAGES = [
    [0.01287864, 1.91237950, 0.50822473, 1.22912478],
    [-0.18249962, 0.55023891, 0.32651904, 2.21070695, 0.97387546],
    [0.73423117, -2.70612144, -1.03495073, -0.23954383, -0.12438969, 1.06986928, -0.15151261],
]
COURSE_LOSSES = [(4, -0.27133098, 3.71168423), (8, 0.30093294, 0.64200860), (12, -0.15494117, 0.97636366)]
COURSE_GAMMA, COURSE_LMBDA, COURSE_EPSILON, COURSE_SEED = 0.8, 0.95, 0.2, 42


def course_draws():
    """The inputs of the course's six cases, drawn exactly as its test_ppo() draws them
    (same seeds, order and calls). For the loss cases it returns the draws from which the
    course computed advantages and critic targets with compute_advantages()."""
    torch.manual_seed(COURSE_SEED)
    rng = np.random.Generator(np.random.PCG64(seed=COURSE_SEED))
    Networks()  # the course built its PPO here, which draws the default init from torch's generator
    course_weights(rng)
    sample_states = lambda n: rng.standard_normal((n, STATE_DIM), dtype=np.float32)  # noqa: E731
    gae, loss = [], []
    for expected in COURSE_ADVANTAGES:
        n = len(expected)
        states = sample_states(n)
        rewards = torch.randn(n, dtype=torch.float32).numpy()
        next_states = sample_states(n)
        terminations = (torch.rand(n) < 0.5).numpy()
        gae.append(dict(states=states, rewards=rewards, next_states=next_states, terminations=terminations))
    for n, _, _ in COURSE_LOSSES:
        states = sample_states(n)
        actions = rng.choice(NUM_ACTIONS, n)
        next_states = sample_states(n)
        terminations = (torch.rand(n) < 0.5).numpy()
        rewards = torch.randn(n, dtype=torch.float32).numpy()
        log_probs_old = torch.randn(n, dtype=torch.float32).numpy()
        loss.append(dict(states=states, actions=actions, next_states=next_states, terminations=terminations,
                         rewards=rewards, log_probs_old=log_probs_old))
    return gae, loss


def course_cases(loss_targets=None):
    """The course's six cases. Their compute_loss() cases take fixed advantages and critic
    targets: those the reference computes from the course's draws (stored in rl_expected),
    so that a mistake in compute_advantages() never fails a compute_loss() case."""
    if loss_targets is None:
        loss_targets = stored()['course_loss_inputs']
    gae, loss = course_draws()
    common = dict(gamma=COURSE_GAMMA, lmbda=COURSE_LMBDA, epsilon=COURSE_EPSILON, num_steps=1,
                  weights=('course', COURSE_SEED), rtol=COURSE_RTOL, atol=COURSE_ATOL, detached=False, in_place=False)
    cases = []
    for index, draws in enumerate(gae, 1):
        cases.append(Case(id=f'gae_course_{index}', group='gae_course', section=GROUPS['gae_course'],
                          title=f'{len(draws["states"])} environments × 1 step',
                          function='compute_advantages', inputs=draws, checked=('advantages',), **common))
    for index, draws in enumerate(loss, 1):
        case_id = f'loss_course_{index}'
        targets = loss_targets[case_id]
        inputs = dict(states=draws['states'], actions=draws['actions'],
                      advantages=np.array(targets['advantages'], dtype=np.float32),
                      critic_targets=np.array(targets['critic_targets'], dtype=np.float32),
                      log_probs_old=draws['log_probs_old'])
        cases.append(Case(id=case_id, group='loss_course', section=GROUPS['loss_course'],
                          title=f'batch of {len(draws["states"])}',
                          function='compute_loss', inputs=inputs, checked=('actor_loss', 'critic_loss'), **common))
    return cases


@functools.lru_cache(maxsize=1)
def stored():
    """The expected data of the fixed cases: {'course_loss_inputs', 'expected', 'mistake_outputs'}
    (rl_kit/expected.json, generated by the instructor's tools/build.py)."""
    try:
        with open(EXPECTED_FILE, encoding='utf-8') as file:
            return json.load(file)
    except FileNotFoundError:
        raise FileNotFoundError(f'{EXPECTED_FILE} is missing: the folder rl_kit must be next to rl_tests.py, as it '
                                'came with the notebook') from None


# --- cases of any seed: the same structures with fresh numbers -----------------------

def advantages_case(id, title, rng, N, T, gamma, lmbda, terminations=(), truncations=(), end_rates=None,
                    group='gae'):
    """A compute_advantages() case of N environments x T steps, with a live critic and
    rewards on LunarLander's scale (small shaping rewards, +-100 when an episode terminates).

    terminations, truncations: (environment, step) pairs where an episode ends. A pair
    with step None is placed at a random step inside that environment's segment (not
    its last), so that the backward sum has something after it to carry over from.
    end_rates=(p_termination, p_truncation) adds random episode ends at those rates.
    rng: a numpy Generator (the case's numbers are drawn from it)."""
    states = rng.standard_normal((N * T, STATE_DIM)).astype(np.float32)
    # consecutive transitions chain: next_states[k] = states[k + 1] inside a segment
    next_states = np.concatenate([states[1:], rng.standard_normal((1, STATE_DIM))]).astype(np.float32)
    ends = {'termination': np.zeros(N * T, dtype=bool), 'truncation': np.zeros(N * T, dtype=bool)}
    if end_rates is not None:
        draws = rng.uniform(size=N * T)
        ends['termination'] = draws < end_rates[0]
        ends['truncation'] = (draws >= end_rates[0]) & (draws < sum(end_rates))
    for kind, places in (('termination', terminations), ('truncation', truncations)):
        for env, step in places:
            if step is None:
                free = [t for t in range(T - 1) if not (ends['termination'] | ends['truncation'])[env * T + t]]
                step = int(rng.choice(free))
            ends['termination'][env * T + step] = kind == 'termination'
            ends['truncation'][env * T + step] = kind == 'truncation'
    terminated, truncated = ends['termination'], ends['truncation']
    rewards = rng.normal(0.0, 1.5, N * T)
    rewards[terminated] = rng.choice([-100.0, 100.0], int(terminated.sum())) + rng.normal(0.0, 10.0, int(terminated.sum()))
    # after an episode end or at a segment end, the next row starts elsewhere
    for k in np.flatnonzero(terminated | truncated):
        if k + 1 < N * T:
            states[k + 1] = rng.standard_normal(STATE_DIM)
        next_states[k] = rng.standard_normal(STATE_DIM)
    for env in range(N):
        next_states[env * T + T - 1] = rng.standard_normal(STATE_DIM)
    inputs = dict(states=states, rewards=rewards.astype(np.float32), next_states=next_states,
                  terminations=terminated, truncations=truncated)
    return Case(id=id, group=group, section=GROUPS[group], title=title, function='compute_advantages', gamma=gamma,
                lmbda=lmbda,
                epsilon=0.2, num_steps=T, weights=('live', int(rng.integers(2**31))), inputs=inputs,
                checked=('advantages', 'critic_targets'))


# Where a transition's ratio r = π_θ / π_θold lies, for an advantage of the given sign:
# steep: min() picks the unclipped term r * a (it has a gradient); flat: min() picks the
# clipped term (no gradient); inside: r in [1 - ε, 1 + ε].
REGIONS = ('steep+', 'flat+', 'steep-', 'flat-', 'inside+', 'inside-')


def _ratio(rng, region, epsilon):
    if region.startswith('inside'):
        return rng.uniform(1 - 0.8 * epsilon, 1 + 0.8 * epsilon)
    above = (region == 'flat+') or (region == 'steep-')   # a > 0 clipped above, a < 0 unclipped above
    return 1 + epsilon + rng.uniform(0.1, 0.6) if above else max(1 - epsilon - rng.uniform(0.1, 0.4), 0.05)


def loss_case(id, title, rng, batch_size, epsilon, regions=REGIONS, gradient='', group='loss'):
    """A compute_loss() case: fixed advantages and critic targets, and log_probs_old chosen
    so that each transition's ratio lies in a known region (see REGIONS): the first
    len(regions) transitions take them in turn, the rest at random.

    Advantages have |a| from 1.5 to 3. Critic targets are v(s) + e with |e| from 0.5 to 5,
    and one transition has a large advantage and a small error, so that value clipping (around critic_targets -
    advantages, the old values) changes the loss. gradient='flat' or 'steep' also judges
    the actor loss's gradient (use regions on that side only)."""
    networks = Networks()
    recipe = ('live', int(rng.integers(2**31)))
    set_weights(networks, recipe)
    states = rng.standard_normal((batch_size, STATE_DIM)).astype(np.float32)
    actions = rng.integers(NUM_ACTIONS, size=batch_size)
    log_probs, values = networks.log_probs_and_values(torch.as_tensor(states), torch.as_tensor(actions))
    chosen = list(regions[:batch_size]) + list(rng.choice(regions, max(0, batch_size - len(regions))))
    chosen = [chosen[i] for i in rng.permutation(batch_size)]
    ratios = np.array([_ratio(rng, region, epsilon) for region in chosen])
    signs = np.array([1.0 if region.endswith('+') else -1.0 for region in chosen])
    # |a| > 1 + ε: clipping the advantage instead of the ratio always changes it
    advantages = signs * rng.uniform(1.5, 3.0, batch_size)
    errors = rng.choice([-1.0, 1.0], batch_size) * rng.uniform(0.5, 5.0, batch_size)
    witness = int(rng.integers(batch_size))  # large advantage, small critic error: value clipping shows
    advantages[witness] = signs[witness] * rng.uniform(2.0, 3.0)
    errors[witness] = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.0)
    inputs = dict(states=states, actions=actions.astype(np.int64), advantages=advantages.astype(np.float32),
                  critic_targets=(values.numpy() + errors).astype(np.float32),
                  log_probs_old=(log_probs.numpy() - np.log(ratios)).astype(np.float32))
    return Case(id=id, group=group, section=GROUPS[group], title=title, function='compute_loss', gamma=0.9,
                lmbda=0.9, epsilon=epsilon,
                num_steps=1, weights=recipe, inputs=inputs, checked=('actor_loss', 'critic_loss'), gradient=gradient)


# --- probes: each built so that one behaviour can be read straight off the outputs -----

PROBE_SECTIONS = {
    'gae': 'compute_advantages(): probes, each built to read one behaviour off the advantages',
    'loss': 'compute_loss(): probes, one transition each, to read the objective and the critic loss',
}


def _grid(rng, count, low, high, avoid=()):
    """`count` distinct numbers on a grid of 1/4 from low to high (exact in float32), none of
    them 0, none closer than 0.5 to a number of `avoid`."""
    grid = [x / 4 for x in range(int(low * 4), int(high * 4) + 1)
            if x != 0 and all(abs(x / 4 - a) >= 0.5 for a in avoid)]
    return [float(x) for x in rng.choice(grid, count, replace=False)]


def _rates(rng, fresh):
    """(γ, λ) of a probe: far enough apart that γ, λ and γλ each read as themselves, and away
    from the values code often writes as numbers (reading.HARD_CODED_RATES), so that a
    hard-coded 0.9 or 0.95 never reads as γ or λ."""
    if not fresh:
        return FIXED_RATES
    while True:
        gamma, lmbda = round(float(rng.uniform(0.8, 0.95)), 2), round(float(rng.uniform(0.5, 0.85)), 2)
        if readable_rates(gamma, lmbda):
            return gamma, lmbda


FIXED_RATES = (0.84, 0.7)   # the fixed probes' (γ, λ): readable_rates() holds (tests check it)


def readable_rates(gamma, lmbda):
    """Whether a probe's γ, λ and γλ each read as themselves: apart from one another, and from
    every hard-coded rate and product of two that code may decay by instead."""
    decay = math.prod((gamma, lmbda))
    if min(abs(gamma - lmbda), abs(decay - lmbda), gamma - decay) <= 0.06:
        return False
    others = {c * d for c in HARD_CODED_RATES for d in HARD_CODED_RATES}   # 1.0 among them: each rate alone
    return all(abs(x - y) > 0.005 for x in (gamma, lmbda, decay) for y in others)


def _readable_rollout(rng, values, next_values, rewards, terminations=(), truncations=()):
    """Inputs of a compute_advantages() probe whose critic reads v(s) = s[0]: every state's
    first number is its value. A row's next state is the next row's state (the same array)
    unless an episode ends there or its value differs, as in a real rollout."""
    n = len(values)
    states = rng.standard_normal((n, STATE_DIM)).astype(np.float32)
    states[:, 0] = values
    next_states = np.concatenate([states[1:], rng.standard_normal((1, STATE_DIM))]).astype(np.float32)
    for k in range(n):
        if k + 1 == n or k in terminations or k in truncations or next_values[k] != values[(k + 1) % n]:
            next_states[k] = rng.standard_normal(STATE_DIM)
        next_states[k, 0] = next_values[k]
    ends = {'terminations': terminations, 'truncations': truncations}
    return dict(states=states, rewards=np.array(rewards, dtype=np.float32), next_states=next_states,
                **{name: np.isin(np.arange(n), list(rows)) for name, rows in ends.items()})


def _gae_probe(id, title, rng, probe, T, inputs, design, gamma, lmbda):
    return Case(id=id, group='gae', section=PROBE_SECTIONS['gae'], title=title, function='compute_advantages',
                gamma=gamma, lmbda=lmbda, epsilon=0.2, num_steps=T, weights=('readable', int(rng.integers(2**31))),
                inputs=inputs, checked=('advantages', 'critic_targets'), probe=probe, design=design)


def decay_probe(id, rng, fresh=False):
    """One environment, a critic worth 0 everywhere and a single reward R at step T - 2, then a
    step with nothing in it: a_t = R (γλ)^(T-2-t), so the decay per step reads straight off."""
    T = 6
    gamma, lmbda = _rates(rng, fresh)
    reward = _grid(rng, 1, -3, 3, avoid=(0,))[0] if fresh else 2.0
    rewards = [0.0] * T
    rewards[T - 2] = reward
    inputs = _readable_rollout(rng, [0.0] * T, [0.0] * T, rewards)
    return _gae_probe(id, f'1 environment × {T} steps, critic 0, a single reward at step {T - 2}', rng, 'decay', T,
                      inputs, {'anchor': T - 2, 'null': T - 1, 'reward': reward}, gamma, lmbda)


# what happens at the examined step of each environment of ends_probe()
END_KINDS = ('termination', 'truncation', 'ordinary step', 'segment end')


def ends_probe(id, rng, fresh=False):
    """Six environments of 2 steps, a critic that reads v(s) = s[0]. In the first five one step
    is examined: a termination, a truncation and an ordinary step (each at step 0, followed by
    a step with r = v(s) and a next state worth 0, so that δ = 0 there whatever the code does),
    then a termination and a segment end at the last step of their segments. An examined
    step's advantage is its δ_t alone, so which value δ_t bootstraps from reads off it:
    v(s_{t+1}), nothing, v(s_t), the next row's state, with or without γ. The last environment
    is an anchor: advantages exactly 1, then 0, whatever the code does."""
    gamma, lmbda = _rates(rng, fresh)
    while True:
        A1, B1, C1, A2, B2, C2, A3, C3, A4, B4, A5, B5 = _grid(rng, 12, -4, 4, avoid=(0,)) if fresh else \
            (1.5, 4.0, -2.5, -1.0, 3.0, 2.0, 2.0, -3.0, 1.25, -2.0, 0.5, 5.0)
        R = _grid(rng, 5, -2, 2) if fresh else [0.5, 1.25, 0.75, -0.5, -1.5]
        gl = math.prod((gamma, lmbda))   # γλ v(s_{t+1}): λ written into δ_t too
        terms = [(0, gamma * B1, B1, gamma * C1, C1, gl * B1), (gamma * B2, 0, gamma * A2, A2, gamma * C2, C2, B2, gl * B2),
                 (gamma * C3, C3, 0, gl * C3), (0, gamma * B4, B4, gl * B4), (gamma * B5, B5, 0, gl * B5)]
        # an examined step's advantage r - v(s_t) + (what δ_t bootstraps from): distinct for every choice the
        # code may make, and never 0 (an advantage of 0 reads as a step left out)
        totals = [[r - a + x for x in t] for r, a, t in zip(R, (A1, A2, A3, A4, A5), terms)]
        if not fresh or all(min(abs(a - b) for i, a in enumerate(t) for b in t[i + 1:]) > 0.05
                            and min(abs(x) for x in t) > 0.1 for t in totals):
            break
    values = [A1, C1, A2, C2, A3, C3, 0.0, A4, 0.0, A5, 0.0, 0.0]
    next_values = [B1, 0.0, B2, 0.0, C3, 0.0, A4, B4, A5, B5, 0.0, 0.0]
    rewards = [R[0], C1, R[1], C2, R[2], C3, 0.0, R[3], 0.0, R[4], 1.0, 0.0]
    inputs = _readable_rollout(rng, values, next_values, rewards, terminations=(0, 7), truncations=(2,))
    design = {'rows': [0, 2, 4, 7, 9], 'kinds': [0, 1, 2, 0, 3], 'reward': R, 'value': [A1, A2, A3, A4, A5],
              'next_value': [B1, B2, C3, B4, B5], 'next_row_value': [C1, C2, C3, 0.0, 0.0], 'anchor': 10,
              'null': 11}
    return _gae_probe(id, '6 environments × 2 steps: what δ_t uses at a termination, a truncation, an ordinary '
                      'step and a segment end', rng, 'ends', 2, inputs, design, gamma, lmbda)


def restarts_probe(id, rng, fresh=False):
    """Four environments of 3 steps, a critic worth 0 everywhere: nothing happens but a reward
    R at chosen steps. In environments 0 and 1 the episode ends at step 0 (a termination, a
    truncation) and the next one earns R at step 1; environment 2 earns nothing, and the one
    after it earns R at its first step: the running sum must restart at the episode ends and
    at the end of every segment, so any advantage at those steps is carried over from where
    it must not come. The last environment is also the anchor: advantages R, 0, 0."""
    gamma, lmbda = _rates(rng, fresh)
    reward = _grid(rng, 1, -3, 3, avoid=(0,))[0] if fresh else 1.0
    rewards = [0.0, reward, 0.0, 0.0, reward, 0.0, 0.0, 0.0, 0.0, reward, 0.0, 0.0]
    inputs = _readable_rollout(rng, [0.0] * 12, [0.0] * 12, rewards, terminations=(0,), truncations=(3,))
    design = {'termination': 0, 'truncation': 3, 'after': [1, 4], 'across': 8, 'anchor': 9, 'null': 10,
              'reward': reward}
    return _gae_probe(id, '4 environments × 3 steps: does the sum restart at a termination, a truncation, a '
                      'segment end', rng, 'restarts', 3, inputs, design, gamma, lmbda)


# The loss probes: one transition each, all in the same state with the same action, so that
# whatever the code adds (an entropy bonus) is the same in all of them. (name, title, draw):
# draw(ε, rng or None) gives the ratio r, the advantage a and the critic error e = v_target -
# v(s) (the fixed numbers with None); a = e leaves value clipping nothing to clip, and |a| is
# never inside [1 - ε, 1 + ε], where clipping the advantage instead of the ratio changes nothing.
LOSS_PROBES = (
    ('zero', 'advantage 0', lambda eps, rng: (1 + eps * _u(rng, 0.2, 0.8, 0.5), 0.0, _q(rng, 0.5, 2, 1.0))),
    ('flat+', 'a > 0, r > 1 + ε', lambda eps, rng: (1 + eps + _u(rng, 0.1, 0.5, 0.3), *[_q(rng, 2, 4, 3.0)] * 2)),
    ('steep+', 'a > 0, r < 1 - ε', lambda eps, rng: (1 - eps - _u(rng, 0.1, 0.4, 0.3), _q(rng, 1.5, 3, 2.0),
                                                     _q(rng, 0.25, 0.75, 0.5))),
    ('steep-', 'a < 0, r > 1 + ε', lambda eps, rng: (1 + eps + _u(rng, 0.1, 0.6, 0.4), -_q(rng, 1.5, 3, 2.0),
                                                     -_q(rng, 0.25, 0.75, 0.5))),
    ('flat-', 'a < 0, r < 1 - ε', lambda eps, rng: (1 - eps - _u(rng, 0.1, 0.4, 0.3), *[-_q(rng, 0.25, 0.75, 0.5)] * 2)),
    # r far above the bounds of a dual clip (c = 3 in tianshou's examples, 5 in DI-engine), so that one shows
    ('far-', 'a < 0, r far above 1 + ε', lambda eps, rng: (_u(rng, 12, 25, 16.0), *[-_q(rng, 4, 6, 5.0)] * 2)),
    ('inside', 'a > 0, r inside [1 - ε, 1 + ε]', lambda eps, rng: (1 + eps * _u(rng, 0.3, 0.8, 0.5),
                                                                    *[_q(rng, 1.5, 2.5, 1.5)] * 2)),
)


def _u(rng, low, high, fixed):
    """A number from [low, high] (fixed for the fixed cases, rng None)."""
    return fixed if rng is None else float(rng.uniform(low, high))


def _q(rng, low, high, fixed):
    """A number on the grid of 1/4 from low to high (exact in float32; fixed for rng None)."""
    return fixed if rng is None else float(rng.choice(np.arange(low * 4, high * 4 + 1)) / 4)


def loss_probes(rng, fresh=False, id_prefix='loss_probe_'):
    """The compute_loss() probes (LOSS_PROBES), one case each, sharing one state and action."""
    epsilon = float(rng.choice([0.1, 0.15, 0.2, 0.25, 0.3])) if fresh else 0.2
    networks = Networks()
    recipe = ('readable', int(rng.integers(2**31)))
    set_weights(networks, recipe)
    state = rng.standard_normal((1, STATE_DIM)).astype(np.float32)
    state[0, 0] = _grid(rng, 1, -2, 2)[0] if fresh else 0.75
    action = np.array([int(rng.integers(NUM_ACTIONS))], dtype=np.int64)
    log_prob, value = networks.log_probs_and_values(torch.as_tensor(state), torch.as_tensor(action))
    cases = []
    for name, title, draw in LOSS_PROBES:
        ratio, advantage, error = draw(epsilon, rng if fresh else None)
        inputs = dict(states=state.copy(), actions=action.copy(), advantages=np.array([advantage], np.float32),
                      critic_targets=(value.numpy() + np.float32(error)).astype(np.float32),
                      log_probs_old=(log_prob.numpy() - np.float32(np.log(ratio))).astype(np.float32))
        cases.append(Case(id=id_prefix + name.replace('+', '_pos').replace('-', '_neg'), group='loss',
                          section=PROBE_SECTIONS['loss'], title=f'1 transition: {title}', function='compute_loss',
                          gamma=0.9, lmbda=0.9, epsilon=epsilon, num_steps=1, weights=recipe, inputs=inputs,
                          checked=('actor_loss', 'critic_loss'), probe='loss',
                          design={'name': float(LOSS_PROBE_NAMES.index(name)), 'ratio': float(ratio),
                                  'advantage': advantage, 'error': error, 'value': float(value)}))
    return cases


LOSS_PROBE_NAMES = tuple(name for name, _, _ in LOSS_PROBES)


def probe_cases(rng_for, fresh):
    """The probes, after the kit's own cases: rng_for(index) gives each its numbers."""
    return [decay_probe('gae_probe_decay', rng_for(11), fresh), ends_probe('gae_probe_ends', rng_for(12), fresh),
            restarts_probe('gae_probe_restarts', rng_for(13), fresh)] + loss_probes(rng_for(14), fresh)


# The kit's own GAE cases' γ and λ: away from the rates code often writes as numbers (0.9, 0.95, ...,
# reading.HARD_CODED_RATES), so that a hard-coded 0.9 never gives what a mistake of γ or λ gives
KIT_GAMMA, KIT_LMBDA = 0.91, 0.82

PAIRED = ('gae_no_ends', 'gae_terminations', 'gae_truncations', 'loss_regions', 'loss_small_epsilon')


def extended_cases(rng_for):
    """The kit's own cases. rng_for(index) gives each case its own numpy Generator.
    Each isolates a few mistakes, so that code with several bugs gets each named where
    it shows on its own."""
    cases = [
        advantages_case('gae_no_ends', '2 environments × 8 steps, no episode ends', rng_for(0), N=2, T=8,
                        gamma=KIT_GAMMA, lmbda=KIT_LMBDA),
        advantages_case('gae_terminations', '3 environments × 6 steps, terminations inside the segments',
                        rng_for(1), N=3, T=6, gamma=KIT_GAMMA, lmbda=KIT_LMBDA, terminations=[(0, None), (2, None)]),
        advantages_case('gae_truncations', '3 environments × 6 steps, truncations inside the segments',
                        rng_for(2), N=3, T=6, gamma=KIT_GAMMA, lmbda=KIT_LMBDA, truncations=[(0, None), (1, None)]),
        advantages_case('gae_segments', '3 environments × 6 steps, episode ends inside and at the end of segments',
                        rng_for(3), N=3, T=6, gamma=KIT_GAMMA, lmbda=KIT_LMBDA, terminations=[(0, None), (1, 5)],
                        truncations=[(1, None), (2, 5)]),
        advantages_case('gae_lambda_0', 'λ = 0, 2 environments × 5 steps', rng_for(4), N=2, T=5, gamma=KIT_GAMMA,
                        lmbda=0.0, terminations=[(0, None)], truncations=[(1, None)]),
        advantages_case('gae_lambda_1', 'λ = 1, 2 environments × 5 steps', rng_for(5), N=2, T=5, gamma=KIT_GAMMA,
                        lmbda=1.0, terminations=[(0, None)], truncations=[(1, None)]),
        advantages_case('gae_long', '8 environments × 16 steps, random episode ends, γ = 0.99', rng_for(6), N=8,
                        T=16, gamma=0.99, lmbda=0.95, terminations=[(0, None)], truncations=[(1, None)],
                        end_rates=(0.06, 0.03)),
        loss_case('loss_regions', 'ratios inside and on both sides of [1 - ε, 1 + ε], advantages of both signs',
                  rng_for(7), batch_size=12, epsilon=0.2),
        loss_case('loss_small_epsilon', 'ε = 0.1, most ratios clipped', rng_for(8), batch_size=10, epsilon=0.1,
                  regions=('flat+', 'flat-', 'steep+', 'steep-', 'flat+', 'flat-')),
        loss_case('loss_flat_gradient', 'the gradient where min() picks the clipped term', rng_for(9),
                  batch_size=4, epsilon=0.2, regions=('flat+', 'flat-'), gradient='flat'),
        loss_case('loss_steep_gradient', 'the gradient where min() picks the unclipped term', rng_for(10),
                  batch_size=6, epsilon=0.2, regions=('steep+', 'steep-', 'inside+', 'inside-'), gradient='steep'),
    ]
    for case in cases:
        case.pairs = case.id in PAIRED
    return cases


def course_replays(rng_for):
    """The course's six cases with fresh numbers: the same sizes, γ, λ and ε, with a live
    critic and at least one termination and one continuing step in each. They take the
    kit's tolerances (records.RTOL, ATOL), not the course's: with a live critic the course's
    atol of 1e-8 would fail a correct order of float32 operations on a small value."""
    cases = []
    for index, expected in enumerate(COURSE_ADVANTAGES, 1):
        rng = rng_for(100 + index)
        n = len(expected)
        ends = [(int(k), 0) for k in rng.choice(n, int(rng.integers(1, n)), replace=False)]
        case = advantages_case(f'gae_course_{index}', f'{n} environments × 1 step', rng, N=n, T=1, gamma=COURSE_GAMMA,
                               lmbda=COURSE_LMBDA, terminations=ends, group='gae_course')
        case.inputs.pop('truncations')
        case.checked, case.detached, case.in_place = ('advantages',), False, False
        cases.append(case)
    for index, (n, _, _) in enumerate(COURSE_LOSSES, 1):
        case = loss_case(f'loss_course_{index}', f'batch of {n}', rng_for(200 + index), batch_size=n,
                         epsilon=COURSE_EPSILON, group='loss_course')
        case.in_place = False
        cases.append(case)
    return cases


def fixed_cases(loss_targets=None):
    """The fixed cases (make_cases() sorts them into the report's order): the course's six,
    the kit's own, the probes. loss_targets: as course_cases() takes them."""
    return course_cases(loss_targets) + extended_cases(fixed_rng) + probe_cases(fixed_rng, fresh=False)


def fixed_rng(index):
    """The numpy Generator of the index-th fixed case (the grader's fresh ones never share it)."""
    return np.random.default_rng([0, index])


def make_cases(seed=None, groups=None):
    """The cases, in the order of the report. seed=None: the fixed cases (the course's six
    verbatim, then the kit's own), whose expected values rl_expected.py stores. An int: the
    same structures with fresh numbers drawn from it (the grader's secret seed)."""
    if seed is None:
        cases = fixed_cases()
    else:
        rng_for = lambda index: np.random.default_rng([1, int(seed), index])  # noqa: E731
        cases = course_replays(rng_for) + extended_cases(rng_for) + probe_cases(rng_for, fresh=True)
    order = list(GROUPS)
    cases.sort(key=lambda case: order.index(case.group))  # stable: keeps the order within a group
    return [case for case in cases if groups is None or case.group in groups]

