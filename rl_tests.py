"""Grading harness for the PPO exercise.

In the notebook:

    rl_tests.run_tests(rl_tests.test_ppo(PPO))

A test is a generator that yields
  - a string: the heading of a new section,
  - (passed: bool, message: str): one check; the message says what is wrong if it failed,
  - None: the end of a case (a group of checks about one input),
and may use `yield from check_torch_tensor(...)`, which returns True when the tensor
has the right type, shape and dtype.

This file holds no solution. The expected values below are literals, written by the
instructor-side script tests/make_expected.py from the reference solution, together
with the outputs of common mistakes on the same inputs, so that feedback can say
which mistake a wrong answer looks like.
"""

import html
import linecache
import math
import os
import sys
import traceback
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from rl_gui import in_kernel

__all__ = ['check_torch_tensor', 'run_tests', 'test_ppo', 'check_ready', 'NotReadyError', 'TestReport']

# Tolerances of the extended cases: loose enough for any correct order of floating-point
# operations (a loop, a vectorised sum, float64 inside), tight enough to tell mistakes apart.
RTOL, ATOL = 1e-4, 1e-5


# ------------------------------------------------------------------------------------
# The protocol: checks and student calls
# ------------------------------------------------------------------------------------

def check_torch_tensor(x, name, shape=None, dtype=None, requires_grad=None, finite=True):
    """Yields one check that x is a torch.Tensor with the given shape and dtype; returns
    True if it is, so that value checks can be skipped when it is not.

    requires_grad=True/False also checks that gradients do/do not flow through x;
    finite=True checks for NaN and infinity.
    """
    problem = None
    if isinstance(x, np.ndarray):
        problem = f'{name} is a numpy array; return a torch.Tensor (e.g. torch.as_tensor(...))'
    elif not isinstance(x, torch.Tensor):
        problem = f'{name} must be a torch.Tensor, got {type(x).__name__}'
    elif shape is not None and tuple(x.shape) != tuple(shape):
        problem = f'{name} has shape {tuple(x.shape)}, expected {tuple(shape)}'
        if x.numel() == math.prod(shape):
            problem += ' (same number of elements: reshape or squeeze it)'
    elif dtype is not None and x.dtype != dtype:
        problem = f'{name} has dtype {x.dtype}, expected {dtype}'
    elif finite and not torch.isfinite(x.detach()).all():
        problem = f'{name} contains NaN or infinity: {_short(x)}'
    elif requires_grad is True and not x.requires_grad:
        problem = f'{name} does not require gradients: it was detached (or computed under torch.no_grad())'
    elif requires_grad is False and x.requires_grad:
        problem = f'{name} requires gradients; it should be detached (.detach())'
    yield (problem is None, problem or f'{name} is a well-formed tensor')
    return problem is None


class _Failed:
    """Returned by call() when the student's function raised or returned the wrong kind of thing."""

    def __repr__(self):
        return 'FAILED'


FAILED = _Failed()


def call(function, *args, returns=None, **kwargs):
    """Calls student code. If it raises, yields a failed check that names the exception and
    the student's line, and returns FAILED; the tests go on with the next case.

    returns=k also checks that the result is a tuple of k values.
    """
    name = getattr(function, '__name__', 'the function')
    try:
        result = function(*args, **kwargs)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - student code may raise anything
        yield (False, describe_exception(exc, name))
        return FAILED
    if returns is not None and not (isinstance(result, (tuple, list)) and len(result) == returns):
        got = f'a {type(result).__name__}' if not isinstance(result, (tuple, list)) else f'{len(result)} values'
        yield (False, f'{name}() must return {returns} values, got {got}')
        return FAILED
    return result


# files whose frames are never the student's code (grade.py adds itself)
HARNESS_FILES = {os.path.abspath(__file__)}


def describe_exception(exc, function_name=None):
    """One line: what was raised (by function_name, if given), with the student's line."""
    where = _student_frame(exc)
    if isinstance(exc, NotImplementedError):
        name = where.name if where is not None else function_name or 'a function'
        return f'{name}() is not implemented yet: fill in its TODO, run the cell, then run the tests again'
    text = f'{type(exc).__name__}: {exc}'.rstrip(': ')
    if function_name:
        text = f'{function_name}() raised {text}'
    if where is not None:
        line = (where.line or linecache.getline(where.filename, where.lineno)).strip()
        cell = f'{where.filename[1:-1]}, ' if where.filename.startswith('<cell ') else ''
        text += f' ({cell}in {where.name}, line {where.lineno}' + (f': {line})' if line else ')')
    return text


def _student_frame(exc):
    # the deepest frame of the traceback that is not in this file, a library or Python itself
    libraries = {os.path.dirname(os.__file__), os.path.dirname(torch.__file__), os.path.dirname(np.__file__),
                 *HARNESS_FILES}
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if frame.filename.startswith('<frozen'):
            continue
        path = os.path.abspath(frame.filename) if not frame.filename.startswith('<') else frame.filename
        if not any(path.startswith(lib) for lib in libraries) and 'site-packages' not in path:
            return frame
    return None


def _short(x, limit=6):
    values = x.detach().flatten().tolist()
    text = ', '.join(f'{v:.4g}' for v in values[:limit])
    return f'[{text}{", ..." if len(values) > limit else ""}]'


# ------------------------------------------------------------------------------------
# The report
# ------------------------------------------------------------------------------------

@dataclass
class Case:
    section: str
    number: int                                   # 1, 2, ... within its section
    failures: list = field(default_factory=list)  # messages of the failed checks
    hints: list = field(default_factory=list)     # named mistakes: explanations
    checks: int = 0

    @property
    def passed(self):
        return not self.failures


@dataclass
class TestReport:
    """What run_tests() found. Truthy only when every check passed."""
    cases: list = field(default_factory=list)
    passed: int = 0        # checks
    failed: int = 0        # checks
    mistakes: list = field(default_factory=list)  # named mistakes: the one explaining most cases first
    stopped: str = None    # set if the tests could not run to the end

    def __bool__(self):
        return self.failed == 0 and self.stopped is None and self.passed > 0

    @property
    def cases_passed(self):
        return sum(case.passed for case in self.cases)

    @property
    def score(self):
        """Fraction of cases in which every check passed."""
        return self.cases_passed / len(self.cases) if self.cases else 0.0

    def __repr__(self):
        return (f'TestReport(passed={self.passed}, failed={self.failed}, '
                f'cases={self.cases_passed}/{len(self.cases)})')

    def _lines(self):
        # (kind, text) with kind in heading, pass, fail, hint, summary
        section = None
        for case in self.cases:
            if case.section != section:
                section = case.section
                yield 'heading', section
            label = f'case {case.number}' if case.number else 'stopped'
            if case.passed:
                yield 'pass', f'{label}: {case.checks} checks passed'
            for message in case.failures:
                yield 'fail', f'{label}: {message}'
            for hint in case.hints:
                yield 'hint', hint
        if self:
            yield 'summary', f'All {len(self.cases)} cases passed ({self.passed} checks). Well done!'
        else:
            yield 'summary', (f'{self.cases_passed} of {len(self.cases)} cases passed '
                              f'({self.passed} checks passed, {self.failed} failed).')

    def to_text(self):
        marks = {'heading': '', 'pass': '  ✓ ', 'fail': '  ✗ ', 'hint': '      → ', 'summary': ''}
        lines = []
        for kind, text in self._lines():
            if kind in ('heading', 'summary') and lines:
                lines.append('')
            lines.append(marks[kind] + text)
        return '\n'.join(lines)

    def to_markdown(self):
        marks = {'heading': '### ', 'pass': '- ✓ ', 'fail': '- ✗ ', 'hint': '  - → ', 'summary': '\n**'}
        out = []
        for kind, text in self._lines():
            out.append(marks[kind] + text + ('**' if kind == 'summary' else ''))
        return '\n'.join(out) + '\n'

    def to_html(self):
        styles = {'heading': 'font-weight:bold;margin-top:0.6em',
                  'pass': 'color:#1a7f37', 'fail': 'color:#cf222e',
                  'hint': 'color:#6e5200;margin-left:2.5em',
                  'summary': 'font-weight:bold;margin-top:0.6em'}
        marks = {'heading': '', 'pass': '✓ ', 'fail': '✗ ', 'hint': '→ ', 'summary': ''}
        rows = [f'<div style="{styles[kind]}">{marks[kind]}{html.escape(text)}</div>' for kind, text in self._lines()]
        return '<div style="font-family:monospace;line-height:1.5">' + ''.join(rows) + '</div>'


def collect(tests):
    """Runs a test generator and returns its TestReport, without printing anything."""
    report = TestReport()
    section, case = 'tests', None
    matches = {}  # title of a named mistake: number of cases it explains

    def current_case():
        nonlocal case
        if case is None:
            number = sum(c.section == section for c in report.cases) + 1
            case = Case(section, number)
            report.cases.append(case)
        return case

    to_send = None
    try:
        while True:
            item = tests.send(to_send)
            to_send = None
            if item is None:
                case = None
            elif isinstance(item, str):
                section, case = item, None
            elif isinstance(item, Hint):
                if item.text not in current_case().hints:
                    current_case().hints.append(item.text)
                    matches[item.title] = matches.get(item.title, 0) + 1
            else:
                passed, message = item
                passed = bool(passed)
                current = current_case()
                current.checks += 1
                if passed:
                    report.passed += 1
                else:
                    report.failed += 1
                    current.failures.append(str(message))
    except StopIteration:
        pass
    except Exception as exc:  # noqa: BLE001 - the tests must never crash the grading cell
        report.stopped = 'the tests stopped early: ' + describe_exception(exc)
        report.failed += 1
        report.cases.append(Case(section, 0, failures=[report.stopped]))
    if report.stopped is None and not report.cases:
        report.stopped = 'no checks were run'
    # dicts keep insertion order and sorted() is stable: ties stay in order of appearance
    report.mistakes = sorted(matches, key=lambda title: -matches[title])
    return report


def run_tests(tests):
    """Runs a test generator, shows the report (coloured in Jupyter, plain text elsewhere)
    and returns it. The report is truthy only if every check passed."""
    report = collect(tests)
    if in_kernel():
        from IPython.display import display
        display({'text/plain': report.to_text(), 'text/html': report.to_html()}, raw=True)
    else:
        print(report.to_text())
    return report


# ------------------------------------------------------------------------------------
# Named mistakes
# ------------------------------------------------------------------------------------

@dataclass
class Hint:
    """Yielded by a test to explain a failure: the mistake the output looks like."""
    title: str
    text: str


# id: (title, what to change). The outputs of each mistake on the cases' inputs are
# in EXPECTED['...']['mistakes'] below.
MISTAKES = {
    # compute_advantages()
    'across_envs': ('GAE runs across environment boundaries',
                    'rows i*T .. (i+1)*T-1 belong to environment i: start the backward sum afresh '
                    '(a_{T} = 0) at the end of every segment.'),
    'ignores_terminations': ('terminations are ignored',
                             'after a termination the episode is over: v(s_{t+1}) counts as 0 and the '
                             'backward sum must not carry over from the next episode.'),
    'bootstraps_terminal': ('v(s_{t+1}) is used after a termination',
                            'a terminal state has no future: multiply γ * v(s_{t+1}) by (1 - termination).'),
    'carries_over_terminations': ('the backward sum carries over terminations',
                                  'a_t must not include the next episode: reset the running advantage '
                                  'when the episode ended at step t.'),
    'ignores_truncations': ('truncations are ignored',
                            'a truncation (time limit) also ends the episode: stop the backward sum there '
                            '(but keep γ * v(s_{t+1}) in δ_t).'),
    'truncation_as_termination': ('a truncation is treated like a termination',
                                  'a time limit does not make the state terminal: keep γ * v(s_{t+1}) '
                                  'in δ_t after a truncation, only stop the backward sum.'),
    'no_lambda': ('λ is missing', 'the backward sum decays by γλ per step, not by γ.'),
    'no_gamma_in_sum': ('γ is missing in the backward sum',
                        'the backward sum decays by γλ per step, not by λ.'),
    'no_gamma_in_delta': ('γ is missing in δ_t', 'δ_t = r_{t+1} + γ * v(s_{t+1}) - v(s_t).'),
    'not_reversed': ('the advantages are in reverse order',
                     'iterating backwards fills the list from the last step: reverse it afterwards '
                     '(or write into index t).'),
    'forward_sum': ('the sum runs forwards in time',
                    'a_t sums the deltas of the steps AFTER t: iterate t = T-1, ..., 0.'),
    'wrong_sign': ('the sign of δ_t is flipped', 'δ_t = r_{t+1} + γ * v(s_{t+1}) - v(s_t).'),
    'no_segment_bootstrap': ('the last step of a segment is treated as terminal',
                             'the rollout stops there, not the episode: bootstrap δ_{T-1} from '
                             'v(next_state) unless the episode terminated.'),
    'target_without_value': ('critic_targets are missing + v(s_t)',
                             'v_target = a(s_t, a_t) + v(s_t): add the values of states to the advantages.'),
    'target_td': ('critic_targets are the one-step TD targets',
                  'v_target = a(s_t, a_t) + v(s_t), which uses the whole GAE, not r + γ * v(s_{t+1}).'),
    # compute_loss()
    'max_not_min': ('max instead of min in L^clip',
                    'PPO takes the pessimistic (smaller) of the clipped and unclipped objective: torch.min.'),
    'clipped_advantage': ('the advantage is clipped instead of the ratio',
                          'clip r_t(θ) into [1 - ε, 1 + ε], then multiply by the advantage.'),
    'inverted_ratio': ('the ratio is inverted',
                       'r_t = π_θ / π_θold = exp(log_probs - log_probs_old).'),
    'actor_sign': ('the actor loss has the wrong sign',
                   'L^clip = - mean(min(L1, L2)): minimising it maximises the objective.'),
    'log_ratio': ('the ratio is computed from log-probabilities directly',
                  'log_probs are logarithms: r_t = exp(log_probs - log_probs_old), not log_probs / log_probs_old.'),
    'no_clipping': ('the ratio is not clipped', 'L^clip = - mean(min(r * a, clip(r, 1 - ε, 1 + ε) * a)).'),
    'only_clipped': ('only the clipped term is used',
                     'take the minimum of the unclipped term r * a and the clipped term clip(r) * a.'),
    'ratio_one': ('the ratio is always 1',
                  'log_probs_old is given: compare the current log-probabilities to it, do not recompute it.'),
    'min_of_means': ('min is taken after averaging',
                     'take the minimum per transition, then the mean: mean(min(L1, L2)), not min(mean(L1), mean(L2)).'),
    'actor_sum': ('the actor loss is a sum, not a mean', 'average over the batch with .mean().'),
    'critic_half': ('the critic loss has a factor 1/2', 'L_VF = mean((v_target - v(s_t))^2), without 1/2.'),
    'critic_abs': ('the critic loss is not squared', 'L_VF = mean((v_target - v(s_t))^2).'),
    'critic_sum': ('the critic loss is a sum, not a mean', 'average over the batch with .mean().'),
    'critic_uses_advantages': ('the critic is fitted to the advantages',
                               'the critic target is critic_targets (= a + v(s_t)), not advantages.'),
}


def _match_mistakes(case_data, output_name, output):
    """Ids of the mistakes whose stored output for this case equals the student's."""
    found = []
    for mistake, outputs in case_data.get('mistakes', {}).items():
        if output_name in outputs:
            stored = torch.tensor(outputs[output_name], dtype=torch.float32)
            if stored.shape == output.shape and torch.allclose(output.detach().float(), stored, rtol=RTOL, atol=ATOL):
                if not torch.allclose(stored, torch.tensor(case_data[output_name]), rtol=RTOL, atol=ATOL):
                    found.append(mistake)
    return found


def check_values(case_data, output_name, output, layout=None):
    """Yields the value check of one output against the stored expectation, then a Hint for
    each known mistake the output matches. layout=(N, T) names environment and step."""
    expected = torch.tensor(case_data[output_name], dtype=torch.float32)
    output = output.detach().float()
    ok = torch.allclose(output, expected, rtol=RTOL, atol=ATOL)
    if ok:
        yield (True, f'{output_name} are correct')
        return True
    error = (output - expected).abs()
    if expected.dim() == 0:
        yield (False, f'{output_name} is incorrect: got {output.item():.6g}, expected {expected.item():.6g}')
    else:
        row = int(torch.nonzero(error > ATOL + RTOL * expected.abs())[0])
        where = f'row {row}'
        if layout is not None:
            where = f'environment {row // layout[1]}, step {row % layout[1]} (row {row})'
        yield (False, f'{output_name} are incorrect (max error {error.max().item():.4g}); first wrong value at '
                      f'{where}: got {output[row].item():.6g}, expected {expected[row].item():.6g}')
    for mistake in _match_mistakes(case_data, output_name, output):
        title, explanation = MISTAKES[mistake]
        yield Hint(title, f'This looks like a known mistake: {title}. {explanation[0].upper()}{explanation[1:]}')
    return False


# ------------------------------------------------------------------------------------
# The inputs of the cases
# ------------------------------------------------------------------------------------

STATE_DIM, NUM_ACTIONS = 5, 3


def set_case_weights(ac, seed):
    """Gives both networks fixed random weights with biases, so that the critic's values
    are far from 0 (unlike the course's cases, where its ReLUs are dead)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    with torch.no_grad():
        for layer in (ac.actor[0], ac.actor[2], ac.actor[4], ac.critic[0], ac.critic[2], ac.critic[4]):
            fan_in = layer.weight.shape[1]
            layer.weight[:] = torch.as_tensor(rng.normal(0.0, 1.5 / np.sqrt(fan_in), layer.weight.shape))
            layer.bias[:] = torch.as_tensor(rng.normal(0.1, 0.2, layer.bias.shape))
    return ac


def make_agent(PPO, gamma, lmbda, epsilon, num_steps, seed):
    """Constructs the student's PPO with the case's weights; returns FAILED if that fails."""
    ac = yield from call(PPO, STATE_DIM, NUM_ACTIONS, gamma, lmbda, epsilon, num_steps)
    if ac is FAILED:
        return FAILED
    try:
        return set_case_weights(ac, seed)
    except Exception as exc:  # noqa: BLE001
        yield (False, NETWORKS_CHANGED + f'{type(exc).__name__}: {exc}')
        return FAILED


# Each case: N environments x T steps, and where episodes end, as (environment, step).
GAE_CASES = {
    'segments': dict(
        title='3 environments × 6 steps, with terminations and truncations inside the segments',
        N=3, T=6, gamma=0.9, lmbda=0.8, seed=11,
        terminations=[(0, 2), (1, 5), (2, 0)], truncations=[(1, 2), (2, 3)]),
    'lambda_0': dict(
        title='λ = 0, 2 environments × 5 steps',
        N=2, T=5, gamma=0.9, lmbda=0.0, seed=12, terminations=[(0, 1)], truncations=[(1, 3)]),
    'lambda_1': dict(
        title='λ = 1, 2 environments × 5 steps',
        N=2, T=5, gamma=0.9, lmbda=1.0, seed=13, terminations=[(0, 3)], truncations=[(1, 1)]),
    'long': dict(
        title='8 environments × 16 steps, random episode ends, γ = 0.99',
        N=8, T=16, gamma=0.99, lmbda=0.95, seed=14, random_ends=(0.08, 0.04), name_mistakes=False),
}


def gae_inputs(case):
    """The inputs of a compute_advantages() case: (states, rewards, next_states,
    terminations, truncations), env-major, from a fixed numpy seed."""
    N, T = case['N'], case['T']
    rng = np.random.Generator(np.random.PCG64(case['seed'] + 1000))
    states = rng.standard_normal((N * T, STATE_DIM), dtype=np.float32)
    # consecutive transitions chain: next_states[k] = states[k + 1] inside a segment
    next_states = np.concatenate([states[1:], rng.standard_normal((1, STATE_DIM), dtype=np.float32)])
    rewards = rng.normal(0.0, 1.0, N * T).astype(np.float32)
    terminations = np.zeros(N * T, dtype=bool)
    truncations = np.zeros(N * T, dtype=bool)
    if 'random_ends' in case:
        draws = rng.uniform(size=N * T)
        terminations = draws < case['random_ends'][0]
        truncations = (draws >= case['random_ends'][0]) & (draws < sum(case['random_ends']))
    for env, step in case.get('terminations', []):
        terminations[env * T + step] = True
    for env, step in case.get('truncations', []):
        truncations[env * T + step] = True
    # after an episode end or a segment end, the next row starts elsewhere
    for k in np.flatnonzero(terminations | truncations):
        if k + 1 < N * T:
            states[k + 1] = rng.standard_normal(STATE_DIM, dtype=np.float32)
        next_states[k] = rng.standard_normal(STATE_DIM, dtype=np.float32)
    for env in range(N):
        next_states[env * T + T - 1] = rng.standard_normal(STATE_DIM, dtype=np.float32)
    return (torch.as_tensor(states), torch.as_tensor(rewards), torch.as_tensor(next_states),
            torch.as_tensor(terminations), torch.as_tensor(truncations))


# compute_loss() cases: the ratio r_t = pi_theta / pi_theta_old of every transition is set
# by choosing log_probs_old, so each case puts transitions on known sides of the clip range.
# In the first case the mean of the unclipped term L1 is below that of L2, in the second above.
LOSS_CASES = {
    'clip_both_sides': dict(
        title='ratios inside and outside [1 - ε, 1 + ε], advantages of both signs',
        epsilon=0.2, seed=21,
        ratios=[0.5, 0.7, 0.85, 0.95, 1.0, 1.05, 1.15, 1.3, 1.6, 0.6, 1.4, 1.0],
        advantages=[1.2, -0.8, 0.5, -1.5, 0.9, 2.0, -0.3, 1.1, -1.7, -0.6, 0.4, -2.2]),
    'mostly_clipped': dict(
        title='most ratios clipped, on the side where min() picks the clipped term',
        epsilon=0.1, seed=24,
        ratios=[1.8, 1.5, 0.4, 0.6, 1.02, 0.7, 1.3, 0.95],
        advantages=[1.5, 0.8, -1.2, -0.9, 0.6, 0.4, -0.5, -1.1]),
}
# no gradient where min() picks the clipped term (the flat side for the advantage's sign) ...
FLAT_SIDE = dict(epsilon=0.2, seed=22, ratios=[1.5, 1.3, 0.6, 0.7], advantages=[1.0, 0.5, -1.0, -0.5])
# ... and a gradient where min() picks the unclipped term or the ratio is inside the range
STEEP_SIDE = dict(epsilon=0.2, seed=23, ratios=[0.6, 1.5, 0.5, 1.4], advantages=[1.0, -1.0, 0.3, -0.2])


def loss_inputs(ac, case):
    """(states, actions, advantages, critic_targets, log_probs_old) for a compute_loss() case."""
    rng = np.random.Generator(np.random.PCG64(case['seed'] + 1000))
    batch_size = len(case['ratios'])
    states = torch.as_tensor(rng.standard_normal((batch_size, STATE_DIM), dtype=np.float32))
    actions = torch.as_tensor(rng.choice(NUM_ACTIONS, batch_size))
    critic_targets = torch.as_tensor(rng.normal(0.0, 2.0, batch_size).astype(np.float32))
    with torch.no_grad():
        # log pi_theta(a|s) of the fixed actor (the notebook's compute_log_probs, written out)
        log_probs = torch.log_softmax(ac.actor(states), dim=1).gather(1, actions.unsqueeze(1)).squeeze(1)
    log_probs_old = log_probs - torch.log(torch.tensor(case['ratios'], dtype=torch.float32))
    advantages = torch.tensor(case['advantages'], dtype=torch.float32)
    return states, actions, advantages, critic_targets, log_probs_old


# ------------------------------------------------------------------------------------
# test_ppo()
# ------------------------------------------------------------------------------------

def test_ppo(PPO):
    """All tests of the exercise: the course's six fixed cases, then the extended ones."""
    yield from seed_cases(PPO)
    yield from advantage_cases(PPO)
    yield from loss_cases(PPO)


SEED_SECTIONS = ("compute_advantages(): the course's cases", "compute_loss(): the course's cases")
NETWORKS_CHANGED = ('PPO.actor and PPO.critic must stay the given networks (nn.Sequential of Linear, ReLU, '
                    'Linear, ReLU, Linear); setting their weights failed: ')


def not_run(sections, reason, cases_per_section=3):
    """Failed cases standing in for cases that could not run, so that the count stays fixed."""
    for section in sections:
        yield section
        for _ in range(cases_per_section):
            yield (False, f'not run: {reason}')
            yield None


def seed_cases(PPO):
    # The course's original six cases, with the same seeds, draws, order and tolerances.
    # (Under these weights the critic's ReLUs are dead, so v(s) = 0 and T = 1: they only
    # check the shape of the computation. The extended cases below check the rest.)
    torch.manual_seed(42)
    rng = np.random.Generator(np.random.PCG64(seed=42))
    state_dim = 5
    num_actions = 3
    gamma = 0.8
    lmbda = 0.95
    epsilon = 0.2
    num_collection_steps = 1
    try:
        ac = PPO(state_dim, num_actions, gamma, lmbda, epsilon, num_collection_steps)
    except (Exception, SystemExit) as exc:  # noqa: BLE001
        yield from not_run(SEED_SECTIONS, describe_exception(exc, PPO.__name__))
        return
    try:
        with torch.no_grad():
            for layer in (ac.actor[0], ac.actor[2], ac.actor[4], ac.critic[0], ac.critic[2], ac.critic[4]):
                mean = rng.uniform(-0.5, 0.5)
                layer.weight[:] = torch.as_tensor(rng.normal(mean, 0.1, layer.weight.shape))
                nn.init.zeros_(layer.bias)
    except Exception as exc:  # noqa: BLE001
        yield from not_run(SEED_SECTIONS, NETWORKS_CHANGED + f'{type(exc).__name__}: {exc}')
        return

    sample_states = lambda batch_size: torch.as_tensor(rng.standard_normal((batch_size, state_dim), dtype=np.float32))
    sample_actions = lambda batch_size: torch.as_tensor(rng.choice(num_actions, batch_size))

    yield SEED_SECTIONS[0]
    for expected_advantages in [
        [0.01287864, 1.91237950, 0.50822473, 1.22912478],
        [-0.18249962, 0.55023891, 0.32651904, 2.21070695, 0.97387546],
        [0.73423117, -2.70612144, -1.03495073, -0.23954383, -0.12438969, 1.06986928, -0.15151261]
    ]:
        batch_size = len(expected_advantages)
        states = sample_states(batch_size)
        expected_advantages = torch.as_tensor(expected_advantages)
        rewards = torch.randn(batch_size, dtype=torch.float32)
        next_states = sample_states(batch_size)
        terminations = torch.rand(batch_size) < 0.5
        result = yield from call(ac.compute_advantages, states, rewards, next_states, terminations, returns=2)
        if result is not FAILED:
            advantages, _ = result
            if (yield from check_torch_tensor(advantages, 'advantages', shape=(batch_size,), dtype=torch.float32)):
                yield torch.allclose(advantages, torch.as_tensor(expected_advantages)), f'advantages are incorrect (error = {torch.sum(torch.abs(advantages - expected_advantages)).item()})'
        yield None

    yield SEED_SECTIONS[1]
    for batch_size, expected_actor_loss, expected_critic_loss in [
        (4, -0.27133098, 3.71168423),
        (8, 0.30093294, 0.64200860),
        (12, -0.15494117, 0.97636366)
    ]:
        states = sample_states(batch_size)
        actions = sample_actions(batch_size)
        next_states = sample_states(batch_size)
        terminations = torch.rand(batch_size) < 0.5
        rewards = torch.randn(batch_size, dtype=torch.float32)
        result = yield from call(ac.compute_advantages, states, rewards, next_states, terminations, returns=2)
        log_probs_old = torch.randn(batch_size, dtype=torch.float32)
        if result is not FAILED:
            advantages, critic_targets = result
            losses = yield from call(ac.compute_loss, states, actions, advantages, critic_targets, log_probs_old,
                                     returns=2)
            if losses is not FAILED:
                actor_loss, critic_loss = losses
                if (yield from check_torch_tensor(actor_loss, 'actor_loss', shape=tuple(), dtype=torch.float32)):
                    expected_actor_loss = torch.tensor(expected_actor_loss)
                    yield torch.isclose(actor_loss, expected_actor_loss), f'actor_loss is incorrect (error = {(actor_loss - expected_actor_loss).item()})'
                    yield actor_loss.requires_grad, 'gradients disabled for actor_loss'
                if (yield from check_torch_tensor(critic_loss, 'critic_loss', shape=tuple(), dtype=torch.float32)):
                    expected_critic_loss = torch.tensor(expected_critic_loss)
                    yield torch.isclose(critic_loss, expected_critic_loss), f'critic_loss is incorrect (error = {(critic_loss - expected_critic_loss).item()})'
                    yield critic_loss.requires_grad, 'gradients disabled for critic_loss'
        yield None


def advantage_cases(PPO):
    for name, case in GAE_CASES.items():
        yield f'compute_advantages(): {case["title"]}'
        expected = EXPECTED[name]
        ac = yield from make_agent(PPO, case['gamma'], case['lmbda'], 0.2, case['T'], case['seed'])
        if ac is FAILED:
            yield None
            continue
        inputs = gae_inputs(case)
        originals = [x.clone() for x in inputs]
        result = yield from call(ac.compute_advantages, *inputs, returns=2)
        if result is not FAILED:
            size = case['N'] * case['T']
            for output_name, output in zip(('advantages', 'critic_targets'), result):
                if (yield from check_torch_tensor(output, output_name, shape=(size,), dtype=torch.float32,
                                                  requires_grad=False)):
                    yield from check_values(expected, output_name, output, layout=(case['N'], case['T']))
            yield (all(torch.equal(a, b) for a, b in zip(inputs, originals)),
                   'compute_advantages() changed its input tensors in place; work on copies')
        yield None


def loss_cases(PPO):
    for name, case in LOSS_CASES.items():
        yield f'compute_loss(): {case["title"]}'
        ac = yield from make_agent(PPO, 0.9, 0.9, case['epsilon'], 1, case['seed'])
        if ac is not FAILED:
            inputs = loss_inputs(ac, case)
            originals = [x.clone() for x in inputs]
            losses = yield from call(ac.compute_loss, *inputs, returns=2)
            if losses is not FAILED:
                for output_name, output in zip(('actor_loss', 'critic_loss'), losses):
                    if (yield from check_torch_tensor(output, output_name, shape=(), dtype=torch.float32,
                                                      requires_grad=True)):
                        yield from check_values(EXPECTED[name], output_name, output)
                yield (all(torch.equal(a, b) for a, b in zip(inputs, originals)),
                       'compute_loss() changed its input tensors in place; work on copies')
        yield None

    yield 'compute_loss(): gradients'
    yield from gradient_case(PPO, FLAT_SIDE, expect_gradient=False)
    yield from gradient_case(PPO, STEEP_SIDE, expect_gradient=True)


def gradient_size(loss, network, name, retain_graph=False):
    """The largest absolute gradient of loss with respect to the network's parameters, or
    FAILED (after a failed check) if it cannot be computed."""
    try:
        gradients = torch.autograd.grad(loss, list(network.parameters()), allow_unused=True,
                                        retain_graph=retain_graph)
    except RuntimeError as exc:
        yield (False, f'the gradient of {name} could not be computed: {exc}')
        return FAILED
    return max((g.abs().max().item() for g in gradients if g is not None), default=0.0)


def gradient_case(PPO, case, expect_gradient):
    ac = yield from make_agent(PPO, 0.9, 0.9, case['epsilon'], 1, case['seed'])
    if ac is not FAILED:
        losses = yield from call(ac.compute_loss, *loss_inputs(ac, case), returns=2)
        if losses is not FAILED:
            actor_loss, critic_loss = losses
            if (yield from check_torch_tensor(actor_loss, 'actor_loss', shape=(), requires_grad=True)):
                size = yield from gradient_size(actor_loss, ac.actor, 'actor_loss', retain_graph=True)
                if size is FAILED:
                    pass
                elif expect_gradient:
                    yield (size > 1e-6, 'actor_loss has no gradient where min() must pick the unclipped term '
                                        '(a > 0 with r < 1 - ε, a < 0 with r > 1 + ε): take min(L1, L2) of '
                                        'both terms, each with its gradient')
                else:
                    yield (size <= 1e-6, f'actor_loss has a gradient (max {size:.3g}) where the ratio is clipped '
                                         'on the flat side (a > 0 with r > 1 + ε, a < 0 with r < 1 - '
                                         'ε): there min(L1, L2) is the clipped term, whose gradient is 0')
            if expect_gradient and (yield from check_torch_tensor(critic_loss, 'critic_loss', shape=(),
                                                                  requires_grad=True)):
                size = yield from gradient_size(critic_loss, ac.critic, 'critic_loss')
                if size is not FAILED:
                    yield (size > 1e-6, 'critic_loss has no gradient with respect to the critic network')
    yield None


# ------------------------------------------------------------------------------------
# Before training: is the student's code there at all?
# ------------------------------------------------------------------------------------

class NotReadyError(RuntimeError):
    """Raised by check_ready() when the PPO class cannot be used for training yet."""


def check_ready(PPO):
    """Raises NotReadyError, saying what to implement first, if compute_advantages() or
    compute_loss() is missing or crashes on a small input. Prints a warning if they run
    but the tests find mistakes."""
    report = collect(test_ppo(PPO))
    missing = [name for name in ('compute_advantages', 'compute_loss')
               if any(f'{name}() is not implemented yet' in message
                      for case in report.cases for message in case.failures)]
    if missing:
        raise NotReadyError(' and '.join(f'{name}()' for name in missing) + ' not implemented yet: fill in the '
                            'TODO in the PPO cell, run it and the tests, then run this cell again.')
    crashes = [message for case in report.cases for message in case.failures if ' raised ' in message]
    if crashes:
        raise NotReadyError(f'your PPO code crashes, so it cannot train yet: {crashes[0]}. '
                            'Run the tests cell for details.')
    if not report:
        print(f'Warning: the tests find mistakes ({report.cases_passed} of {len(report.cases)} cases pass); '
              'training may not learn. Run the tests cell for details.', file=sys.stderr)
    return report


# ------------------------------------------------------------------------------------
# Expected values: generated by tests/make_expected.py from ppo_reference.py. Do not edit.
# ------------------------------------------------------------------------------------
# BEGIN GENERATED
EXPECTED = {
    'segments': {
        'advantages': [
            0.591297507, -1.7682749, 0.621784925, 2.28312254, 0.061027512, -0.275826454, 1.45544302,
            0.682518959, -1.82891643, 3.28205299, 0.63117975, 1.41257429, -0.863760829, 0.707562685,
            2.75984168, 2.30993485, 0.493560195, -1.05892992],
        'critic_targets': [
            -1.43035495, -2.15120506, -0.470299006, 1.66973543, 0.646206856, -0.0313153863,
            -0.329459071, -0.252279341, -1.88064432, 0.119164228, -0.0408035517, 1.2392118,
            -0.390214503, -0.638415575, 0.261233568, 0.687414408, -0.451433361, -1.79747105],
        'mistakes': {
            'across_envs': {
                'advantages': [
                    0.591297507, -1.7682749, 0.621784925, 2.8263638, 0.815529227, 0.772092581,
                    1.45544302, 0.682518959, -1.82891643, 3.28205299, 0.63117975, 1.41257429,
                    -0.863760829, 0.707562685, 2.75984168, 2.30993485, 0.493560195, -1.05892992],
                'critic_targets': [
                    -1.43035495, -2.15120506, -0.470299006, 2.21297669, 1.40070856, 1.01660371,
                    -0.329459071, -0.252279341, -1.88064432, 0.119164228, -0.0408035517, 1.2392118,
                    -0.390214503, -0.638415575, 0.261233568, 0.687414408, -0.451433361, -1.79747105],
            },
            'ignores_terminations': {
                'advantages': [
                    2.16559505, 0.418249369, 3.65862417, 2.28312254, 0.061027512, -0.275826454,
                    1.45544302, 0.682518959, -1.82891643, 2.97939801, 0.210825503, 0.828748882,
                    -0.980611384, 0.707562685, 2.75984168, 2.30993485, 0.493560195, -1.05892992],
                'critic_targets': [
                    0.143942595, 0.0353191495, 2.56654024, 1.66973543, 0.646206856, -0.0313153863,
                    -0.329459071, -0.252279341, -1.88064432, -0.183490753, -0.461157799, 0.655386448,
                    -0.507065058, -0.638415575, 0.261233568, 0.687414408, -0.451433361, -1.79747105],
            },
            'bootstraps_terminal': {
                'advantages': [
                    1.31342411, -0.765321374, 2.01477575, 2.28312254, 0.061027512, -0.275826454,
                    1.45544302, 0.682518959, -1.82891643, 2.97939801, 0.210825503, 0.828748882,
                    -1.49005651, 0.707562685, 2.75984168, 2.30993485, 0.493560195, -1.05892992],
                'critic_targets': [
                    -0.70822835, -1.14825153, 0.922691822, 1.66973543, 0.646206856, -0.0313153863,
                    -0.329459071, -0.252279341, -1.88064432, -0.183490753, -0.461157799, 0.655386448,
                    -1.01651025, -0.638415575, 0.261233568, 0.687414408, -0.451433361, -1.79747105],
            },
            'carries_over_terminations': {
                'advantages': [
                    1.44346845, -0.584704161, 2.26563311, 2.28312254, 0.061027512, -0.275826454,
                    1.45544302, 0.682518959, -1.82891643, 3.28205299, 0.63117975, 1.41257429,
                    -0.354315698, 0.707562685, 2.75984168, 2.30993485, 0.493560195, -1.05892992],
                'critic_targets': [
                    -0.578184009, -0.96763438, 1.17354918, 1.66973543, 0.646206856, -0.0313153863,
                    -0.329459071, -0.252279341, -1.88064432, 0.119164228, -0.0408035517, 1.2392118,
                    0.119230628, -0.638415575, 0.261233568, 0.687414408, -0.451433361, -1.79747105],
            },
            'ignores_truncations': {
                'advantages': [
                    0.591297507, -1.7682749, 0.621784925, 2.28312254, 0.061027512, -0.275826454,
                    2.68046284, 2.38393545, 0.534161925, 3.28205299, 0.63117975, 1.41257429,
                    -0.863760829, 0.891782999, 3.0157032, 2.66529822, 0.493560195, -1.05892992],
                'critic_targets': [
                    -1.43035495, -2.15120506, -0.470299006, 1.66973543, 0.646206856, -0.0313153863,
                    0.895560741, 1.44913721, 0.482434034, 0.119164228, -0.0408035517, 1.2392118,
                    -0.390214503, -0.454195261, 0.517095089, 1.04277778, -0.451433361, -1.79747105],
            },
            'truncation_as_termination': {
                'advantages': [
                    0.591297507, -1.7682749, 0.621784925, 2.28312254, 0.061027512, -0.275826454,
                    1.69872701, 1.0204134, -1.35961854, 3.28205299, 0.63117975, 1.41257429,
                    -0.863760829, 1.0770967, 3.27308321, 3.02277017, 0.493560195, -1.05892992],
                'critic_targets': [
                    -1.43035495, -2.15120506, -0.470299006, 1.66973543, 0.646206856, -0.0313153863,
                    -0.0861750841, 0.0856150985, -1.41134644, 0.119164228, -0.0408035517, 1.2392118,
                    -0.390214503, -0.268881559, 0.774475098, 1.40024972, -0.451433361, -1.79747105],
            },
            'no_lambda': {
                'advantages': [
                    0.373737216, -1.65635359, 0.621784925, 2.2494235, 0.0113787651, -0.275826454,
                    1.28201199, 0.353314161, -1.82891643, 3.62450242, 0.885443151, 1.41257429,
                    -0.863760829, 1.57854342, 3.17562985, 2.30993485, 0.302952886, -1.05892992],
                'critic_targets': [
                    -1.64791524, -2.03928375, -0.470299006, 1.6360364, 0.596558094, -0.0313153863,
                    -0.50289011, -0.581484139, -1.88064432, 0.461613655, 0.213459849, 1.2392118,
                    -0.390214503, 0.232565165, 0.677021742, 0.687414408, -0.64204067, -1.79747105],
            },
            'no_gamma_in_sum': {
                'advantages': [
                    0.489629745, -1.71853209, 0.621784925, 2.27035189, 0.0389614105, -0.275826454,
                    1.39299381, 0.536205649, -1.82891643, 3.42295218, 0.744185746, 1.41257429,
                    -0.863760829, 1.0761857, 2.94463634, 2.30993485, 0.408845842, -1.05892992],
                'critic_targets': [
                    -1.53202271, -2.10146236, -0.470299006, 1.65696478, 0.624140739, -0.0313153863,
                    -0.391908288, -0.398592651, -1.88064432, 0.26006341, 0.0722024441, 1.2392118,
                    -0.390214503, -0.269792557, 0.446028233, 0.687414408, -0.536147714, -1.79747105],
            },
            'no_gamma_in_delta': {
                'advantages': [
                    0.474374175, -1.87748349, 0.621784925, 2.33628368, 0.0535875708, -0.320119619,
                    1.33120716, 0.639802337, -1.88106072, 3.20237279, 0.61384362, 1.41257429,
                    -0.863760829, 0.299821258, 2.54056287, 2.23073101, 0.322169006, -1.19439816],
                'critic_targets': [
                    -1.54727829, -2.26041365, -0.470299006, 1.72289658, 0.638766885, -0.0756085515,
                    -0.45369494, -0.294995964, -1.93278861, 0.039484024, -0.0581396818, 1.2392118,
                    -0.390214503, -1.046157, 0.0419547558, 0.608210564, -0.62282455, -1.93293929],
            },
            'not_reversed': {
                'advantages': [
                    -0.275826454, 0.061027512, 2.28312254, 0.621784925, -1.7682749, 0.591297507,
                    1.41257429, 0.63117975, 3.28205299, -1.82891643, 0.682518959, 1.45544302,
                    -1.05892992, 0.493560195, 2.30993485, 2.75984168, 0.707562685, -0.863760829],
                'critic_targets': [
                    -2.29747891, -0.321902692, 1.19103861, 0.00839787722, -1.18309557, 0.835808575,
                    -0.372327805, -0.30361855, 3.23032522, -4.99180508, 0.0105356574, 1.28208065,
                    -0.585383594, -0.852418065, -0.188673258, 1.13732123, -0.237430871, -1.60230184],
            },
            'forward_sum': {
                'advantages': [
                    1.86445546, -0.873552084, -0.00717258453, 2.23918271, 1.87183416, 1.07189417,
                    0.964029312, 2.69343996, 0.110360384, 2.82760358, 1.65000081, 2.60057497,
                    -0.863760829, -1.27952337, 0.175431669, 2.43624568, 1.25598979, -0.15461725],
                'critic_targets': [
                    -0.157196999, -1.25648236, -1.09925652, 1.6257956, 2.45701361, 1.3164053,
                    -0.820872784, 1.75864172, 0.058632493, -0.335285187, 0.978017509, 2.42721248,
                    -0.390214503, -2.62550163, -2.32317638, 0.813725233, 0.310996234, -0.893158317],
            },
            'wrong_sign': {
                'advantages': [
                    -0.591297507, 1.7682749, -0.621784925, -2.28312254, -0.061027512, 0.275826454,
                    -1.45544302, -0.682518959, 1.82891643, -3.28205299, -0.63117975, -1.41257429,
                    0.863760829, -0.707562685, -2.75984168, -2.30993485, -0.493560195, 1.05892992],
                'critic_targets': [
                    -2.61294985, 1.38534474, -1.71386886, -2.89650965, 0.524151802, 0.520337522,
                    -3.240345, -1.6173172, 1.77718854, -6.44494152, -1.30316305, -1.58593678,
                    1.33730721, -2.05354095, -5.25844955, -3.9324553, -1.43855381, 0.320388854],
            },
            'no_segment_bootstrap': {
                'advantages': [
                    0.591297507, -1.7682749, 0.621784925, 2.48977661, 0.348047256, 0.122812033,
                    1.45544302, 0.682518959, -1.82891643, 3.28205299, 0.63117975, 1.41257429,
                    -0.863760829, 0.707562685, 2.75984168, 2.30993485, 1.37139416, 0.160283864],
                'critic_targets': [
                    -1.43035495, -2.15120506, -0.470299006, 1.8763895, 0.933226585, 0.367323101,
                    -0.329459071, -0.252279341, -1.88064432, 0.119164228, -0.0408035517, 1.2392118,
                    -0.390214503, -0.638415575, 0.261233568, 0.687414408, 0.426400602, -0.578257203],
            },
            'target_without_value': {
                'critic_targets': [
                    0.591297507, -1.7682749, 0.621784925, 2.28312254, 0.061027512, -0.275826454,
                    1.45544302, 0.682518959, -1.82891643, 3.28205299, 0.63117975, 1.41257429,
                    -0.863760829, 0.707562685, 2.75984168, 2.30993485, 0.493560195, -1.05892992],
            },
            'target_td': {
                'critic_targets': [
                    -0.157197028, -2.5988903, -0.470298976, 1.62579572, 0.844801903, -0.0313153863,
                    -0.820872784, 1.06454062, -1.88064432, -0.335285127, -1.05785704, 1.2392118,
                    -0.390214503, -2.62550163, -1.4019196, 0.687414467, 0.310996294, -1.79747093],
            },
        },
    },
    'lambda_0': {
        'advantages': [
            -4.93334627, 5.00385571, -0.258351654, -0.304480314, -0.976558924, -0.554782927,
            -0.0183607936, -3.52474117, 1.19656599, 0.317376018],
        'critic_targets': [
            -3.52615976, 0.130898952, 0.155602247, 0.254089713, -0.727111816, -0.117684007,
            0.821279407, -2.15395713, 0.19730401, 0.193056986],
        'mistakes': {
            'ignores_terminations': {
                'advantages': [
                    -4.93334627, 5.55182552, -0.258351654, -0.304480314, -0.976558924, -0.554782927,
                    -0.0183607936, -3.52474117, 1.19656599, 0.317376018],
                'critic_targets': [
                    -3.52615976, 0.678868771, 0.155602247, 0.254089713, -0.727111816, -0.117684007,
                    0.821279407, -2.15395713, 0.19730401, 0.193056986],
            },
            'bootstraps_terminal': {
                'advantages': [
                    -4.93334627, 5.55182552, -0.258351654, -0.304480314, -0.976558924, -0.554782927,
                    -0.0183607936, -3.52474117, 1.19656599, 0.317376018],
                'critic_targets': [
                    -3.52615976, 0.678868771, 0.155602247, 0.254089713, -0.727111816, -0.117684007,
                    0.821279407, -2.15395713, 0.19730401, 0.193056986],
            },
            'truncation_as_termination': {
                'advantages': [
                    -4.93334627, 5.00385571, -0.258351654, -0.304480314, -0.976558924, -0.554782927,
                    -0.0183607936, -3.52474117, 0.958079636, 0.317376018],
                'critic_targets': [
                    -3.52615976, 0.130898952, 0.155602247, 0.254089713, -0.727111816, -0.117684007,
                    0.821279407, -2.15395713, -0.0411823392, 0.193056986],
            },
            'no_lambda': {
                'advantages': [
                    -0.429876328, 5.00385571, -1.32339668, -1.18338335, -0.976558924, -2.5540514,
                    -2.22140956, -2.44783187, 1.19656599, 0.317376018],
                'critic_targets': [
                    0.9773103, 0.130898952, -0.909442782, -0.624813318, -0.727111816, -2.11695242,
                    -1.38176942, -1.07704782, 0.19730401, 0.193056986],
            },
            'no_gamma_in_delta': {
                'advantages': [
                    -5.4206419, 5.00385571, -0.202494651, -0.279535592, -1.00372994, -0.470818877,
                    0.118717611, -3.62466741, 1.22306442, 0.397934854],
                'critic_targets': [
                    -4.01345539, 0.130898952, 0.211459249, 0.279034436, -0.754282832, -0.0337199569,
                    0.958357811, -2.25388336, 0.223802447, 0.273615837],
            },
            'not_reversed': {
                'advantages': [
                    -0.976558924, -0.304480314, -0.258351654, 5.00385571, -4.93334627, 0.317376018,
                    1.19656599, -3.52474117, -0.0183607936, -0.554782927],
                'critic_targets': [
                    0.430627704, -5.17743683, 0.155602247, 5.56242561, -4.68389893, 0.754474938,
                    2.03620625, -2.15395713, -1.01762271, -0.679101944],
            },
            'wrong_sign': {
                'advantages': [
                    4.93334627, -5.00385571, 0.258351654, 0.304480314, 0.976558924, 0.554782927,
                    0.0183607936, 3.52474117, -1.19656599, -0.317376018],
                'critic_targets': [
                    6.34053278, -9.87681198, 0.672305584, 0.863050342, 1.22600603, 0.991881847,
                    0.858000994, 4.89552498, -2.19582796, -0.441695035],
            },
            'no_segment_bootstrap': {
                'advantages': [
                    -4.93334627, 5.00385571, -0.258351654, -0.304480314, -0.732019424, -0.554782927,
                    -0.0183607936, -3.52474117, 1.19656599, -0.407653034],
                'critic_targets': [
                    -3.52615976, 0.130898952, 0.155602247, 0.254089713, -0.482572317, -0.117684007,
                    0.821279407, -2.15395713, 0.19730401, -0.531972051],
            },
            'target_without_value': {
                'critic_targets': [
                    -4.93334627, 5.00385571, -0.258351654, -0.304480314, -0.976558924, -0.554782927,
                    -0.0183607936, -3.52474117, 1.19656599, 0.317376018],
            },
        },
    },
    'lambda_1': {
        'advantages': [
            2.58334923, 1.09783244, 0.894436836, 2.66433787, -0.574574471, 1.84212935, -0.876472414,
            -1.76087379, 0.335633755, -0.0627875328],
        'critic_targets': [
            0.683301449, 0.77078867, 0.0143327713, 0.248274326, -1.8051579, -0.707101464,
            -1.73886251, -2.54038596, -3.23050737, -2.58771849],
        'mistakes': {
            'across_envs': {
                'advantages': [
                    2.58334923, 1.09783244, 0.894436836, 2.66433787, 1.08334196, 1.84212935,
                    -0.876472414, -1.76087379, 0.335633755, -0.0627875328],
                'critic_targets': [
                    0.683301449, 0.77078867, 0.0143327713, 0.248274326, -0.147241473, -0.707101464,
                    -1.73886251, -2.54038596, -3.23050737, -2.58771849],
            },
            'ignores_terminations': {
                'advantages': [
                    1.09680331, -0.553885221, -0.940805078, 0.625180006, -0.574574471, 1.84212935,
                    -0.876472414, -1.76087379, 0.335633755, -0.0627875328],
                'critic_targets': [
                    -0.803244472, -0.880928993, -1.82090914, -1.79088354, -1.8051579, -0.707101464,
                    -1.73886251, -2.54038596, -3.23050737, -2.58771849],
            },
            'bootstraps_terminal': {
                'advantages': [
                    1.47378159, -0.135020405, -0.475399733, 1.14229703, -0.574574471, 1.84212935,
                    -0.876472414, -1.76087379, 0.335633755, -0.0627875328],
                'critic_targets': [
                    -0.426266193, -0.462064177, -1.3555038, -1.27376652, -1.8051579, -0.707101464,
                    -1.73886251, -2.54038596, -3.23050737, -2.58771849],
            },
            'carries_over_terminations': {
                'advantages': [
                    2.20637083, 0.678967774, 0.42903161, 2.14722085, -0.574574471, 1.84212935,
                    -0.876472414, -1.76087379, 0.335633755, -0.0627875328],
                'critic_targets': [
                    0.306323051, 0.351924002, -0.451072454, -0.268842697, -1.8051579, -0.707101464,
                    -1.73886251, -2.54038596, -3.23050737, -2.58771849],
            },
            'ignores_truncations': {
                'advantages': [
                    2.58334923, 1.09783244, 0.894436836, 2.66433787, -0.574574471, 0.415821552,
                    -2.46125889, -1.76087379, 0.335633755, -0.0627875328],
                'critic_targets': [
                    0.683301449, 0.77078867, 0.0143327713, 0.248274326, -1.8051579, -2.13340926,
                    -3.32364893, -2.54038596, -3.23050737, -2.58771849],
            },
            'truncation_as_termination': {
                'advantages': [
                    2.58334923, 1.09783244, 0.894436836, 2.66433787, -0.574574471, 3.89315414,
                    1.40244412, -1.76087379, 0.335633755, -0.0627875328],
                'critic_targets': [
                    0.683301449, 0.77078867, 0.0143327713, 0.248274326, -1.8051579, 1.34392333,
                    0.540054023, -2.54038596, -3.23050737, -2.58771849],
            },
            'no_gamma_in_sum': {
                'advantages': [
                    3.04901004, 1.45371008, 1.16087079, 2.66433787, -0.574574471, 1.75448203,
                    -0.876472414, -1.73358917, 0.329355001, -0.0627875328],
                'critic_targets': [
                    1.14896226, 1.12666631, 0.280766726, 0.248274326, -1.8051579, -0.794748783,
                    -1.73886251, -2.51310134, -3.23678613, -2.58771849],
            },
            'no_gamma_in_delta': {
                'advantages': [
                    2.27573395, 0.792376041, 0.652830124, 2.66433787, -0.74282527, 1.52799857,
                    -1.1296854, -2.47816634, -0.065120101, -0.227521658],
                'critic_targets': [
                    0.375686169, 0.46533227, -0.227273941, 0.248274326, -1.9734087, -1.02123225,
                    -1.99207544, -3.25767851, -3.63126135, -2.75245261],
            },
            'not_reversed': {
                'advantages': [
                    -0.574574471, 2.66433787, 0.894436836, 1.09783244, 2.58334923, -0.0627875328,
                    0.335633755, -1.76087379, -0.876472414, 1.84212935],
                'critic_targets': [
                    -2.47462225, 2.3372941, 0.0143327713, -1.31823111, 1.3527658, -2.61201835,
                    -0.526756346, -2.54038596, -4.4426136, -0.682801604],
            },
            'forward_sum': {
                'advantages': [
                    1.59529996, 1.72860932, 0.0522812605, 2.71139097, -0.574574471, 2.6309545,
                    1.49138641, -2.06294417, -1.46450722, -1.380844],
                'critic_targets': [
                    -0.30474782, 1.40156555, -0.827822804, 0.295327425, -1.8051579, 0.08172369,
                    0.628996313, -2.84245634, -5.03064823, -3.90577507],
            },
            'wrong_sign': {
                'advantages': [
                    -2.58334923, -1.09783244, -0.894436836, -2.66433787, 0.574574471, -1.84212935,
                    0.876472414, 1.76087379, -0.335633755, 0.0627875328],
                'critic_targets': [
                    -4.48339701, -1.42487621, -1.7745409, -5.08040142, -0.656008959, -4.39136028,
                    0.0140823126, 0.981361687, -3.90177488, -2.46214342],
            },
            'no_segment_bootstrap': {
                'advantages': [
                    2.58334923, 1.09783244, 0.894436836, 2.66433787, 0.939682543, 1.84212935,
                    -0.876472414, -0.559962988, 1.6699791, 1.4198184],
                'critic_targets': [
                    0.683301449, 0.77078867, 0.0143327713, 0.248274326, -0.290900886, -0.707101464,
                    -1.73886251, -1.33947515, -1.89616203, -1.10511255],
            },
            'target_without_value': {
                'critic_targets': [
                    2.58334923, 1.09783244, 0.894436836, 2.66433787, -0.574574471, 1.84212935,
                    -0.876472414, -1.76087379, 0.335633755, -0.0627875328],
            },
            'target_td': {
                'critic_targets': [
                    -0.30474782, -0.0342044234, -2.38357115, 0.248274431, -1.8051579, 0.0817236304,
                    -1.73886251, -2.84245634, -3.17399859, -2.58771849],
            },
        },
    },
    'long': {
        'advantages': [
            -0.659882367, 0.862106025, -0.487551212, -2.73741436, -0.485921741, 0.402772427,
            0.288468122, -1.42390394, -3.18662333, -0.0184804797, 0.669461191, 1.28167868,
            3.09792995, 2.07425404, 2.04381609, 1.18892801, 2.53988123, 0.0313768387, 1.92417216,
            -1.33281207, -2.18286419, -0.655331254, 0.228711128, 1.26918507, 1.90113878, 2.36253405,
            -1.43177617, -1.18579578, -0.884125769, -1.99763656, 0.097163558, -1.98866963,
            0.213126183, 2.78084993, 1.77389967, 2.55678892, 2.68642926, 2.82035756, 0.973995328,
            2.53557301, 1.16830778, 0.837159753, -2.11883736, -1.94857526, -2.61865854, -1.38922453,
            0.198939011, 0.000179648399, 0.462229729, -1.94077587, -0.432838559, -0.421828389,
            1.5073092, 0.899173856, 0.554265797, -0.626383305, -3.50409603, 0.182076871, 2.5057354,
            4.38499546, 3.10332322, 1.668226, 1.41114402, 0.874133706, -2.44854522, -0.187178433,
            -1.25876474, -3.47668695, -3.02029324, -0.0168569088, -2.13404846, -3.46393251,
            -1.90088153, -2.21540141, -1.97563326, -1.27840638, -0.806091368, -1.31782055,
            -1.38732231, -0.348969102, -1.64176559, -0.821148574, -1.0182898, 0.629721045,
            0.436828017, 0.333658606, -0.209139824, -2.35702705, 3.35211182, 2.82434964,
            -0.295878053, -1.14691424, -0.0994272381, 0.0640287399, -3.02507687, -1.88545108,
            -1.25586152, -3.35206509, -3.94074321, -4.64343739, -2.73515463, -3.77385902,
            -2.37585425, -2.27034736, -2.44866633, -2.19310522, 0.863272786, -1.06889009, 0.82005924,
            1.15345085, 1.6238718, -0.571398497, 1.35580969, 0.496725082, -2.09776378, 1.27501357,
            -0.798651814, 1.11678743, -0.910891891, 0.00180602074, 0.802779317, 0.319373429,
            1.73270047, 0.119853526, -1.30451965, -1.29871094, -1.41554928, -0.292673022],
        'critic_targets': [
            -0.856619775, -1.25057483, -1.50908351, -1.73074758, -0.153972685, 0.722091377,
            -0.0211093426, -0.50314641, -1.54911053, -0.0175368935, 0.754555225, 1.42070055,
            2.45643663, 2.3915832, 1.53121722, 1.31781673, 1.75346136, 0.066445604, 1.89981246,
            0.815707684, -1.13910496, -0.876726925, 0.73589021, 0.892002761, 1.57701468, 2.85078812,
            -0.95840919, -0.910828412, -1.50598598, 0.0560331345, 0.779614747, -1.4185288,
            0.400631487, 1.71965873, 1.96834528, 2.57902575, 2.28586292, 1.46632695, 1.11063814,
            1.98335886, 1.3730526, 0.390235722, -1.01914418, -1.05732143, -1.30742228, -0.931363463,
            -1.21915662, -0.619078279, 0.195186496, -0.0752593279, -0.496865392, -0.168705583,
            1.30489814, 0.814343452, -0.0965597034, -0.262848437, -1.56183112, -0.848863423,
            4.20509052, 3.31741047, 3.51802969, 1.93301105, 2.01290655, 1.74980569, -2.41379356,
            -1.19479179, -2.08430362, -2.56802082, -3.11206341, -0.940840542, -1.68574762,
            -1.44561005, -0.975182295, -1.63088429, -1.37580848, -1.02429128, -0.380269408,
            -0.137509584, 0.11167419, 0.748814583, -0.990342617, -1.63538361, -0.0928268433,
            0.540316045, 0.863448262, 0.205292389, 0.474646449, -0.700593829, 4.27705717, 2.39212704,
            1.45037556, -0.413156688, -0.456130028, -0.513625443, -1.73948205, -1.74462557,
            -1.22227669, -2.04368782, -3.365098, -3.47831917, -2.241117, -2.12769985, -2.44844937,
            -2.15557742, -1.22097349, -2.47754312, -0.398113728, 0.119005084, 1.02116251,
            0.540080547, 1.27186954, 0.791937351, -0.639088631, -0.0825862288, -1.4468745,
            0.231208682, 0.19283843, 0.216855049, -0.391968966, 0.0929154605, 0.928788722,
            0.838835776, 1.98764169, -0.151828974, -0.947061419, -0.569197416, -0.532960057,
            0.103590816],
        'mistakes': {
        },
    },
    'clip_both_sides': {
        'actor_loss': 0.165416688,
        'critic_loss': 7.98129225,
        'mistakes': {
            'max_not_min': {
                'actor_loss': 0.0462499969,
            },
            'clipped_advantage': {
                'actor_loss': 0.202916697,
            },
            'inverted_ratio': {
                'actor_loss': 0.131484076,
            },
            'actor_sign': {
                'actor_loss': -0.165416688,
            },
            'log_ratio': {
                'actor_loss': 0.230283931,
            },
            'no_clipping': {
                'actor_loss': 0.132916704,
            },
            'only_clipped': {
                'actor_loss': 0.0787500218,
            },
            'ratio_one': {
                'actor_loss': 0.0833333433,
            },
            'min_of_means': {
                'actor_loss': 0.132916704,
            },
            'actor_sum': {
                'actor_loss': 1.98500025,
            },
            'critic_half': {
                'critic_loss': 3.99064612,
            },
            'critic_abs': {
                'critic_loss': 2.35926628,
            },
            'critic_sum': {
                'critic_loss': 95.7755051,
            },
            'critic_uses_advantages': {
                'critic_loss': 10.1096201,
            },
        },
    },
    'mostly_clipped': {
        'actor_loss': 0.0203748792,
        'critic_loss': 16.9354229,
        'mistakes': {
            'max_not_min': {
                'actor_loss': -0.282125175,
            },
            'clipped_advantage': {
                'actor_loss': -0.169625178,
            },
            'inverted_ratio': {
                'actor_loss': 0.464124322,
            },
            'actor_sign': {
                'actor_loss': -0.0203748792,
            },
            'log_ratio': {
                'actor_loss': 0.326826513,
            },
            'no_clipping': {
                'actor_loss': -0.259625137,
            },
            'only_clipped': {
                'actor_loss': -0.0021251291,
            },
            'ratio_one': {
                'actor_loss': 0.0500000119,
            },
            'min_of_means': {
                'actor_loss': -0.0021251291,
            },
            'actor_sum': {
                'actor_loss': 0.162999034,
            },
            'critic_half': {
                'critic_loss': 8.46771145,
            },
            'critic_abs': {
                'critic_loss': 3.65890718,
            },
            'critic_sum': {
                'critic_loss': 135.483383,
            },
            'critic_uses_advantages': {
                'critic_loss': 9.8946476,
            },
        },
    },
}
# END GENERATED
