"""The tests of the PPO exercise: its cases, its known mistakes, and the feedback.

In the notebook:

    rl_tests.run_tests(rl_tests.test_ppo(PPO))   # the report: what passes, what is wrong
    rl_tests.check_ready(PPO)                    # before training: stops if the code cannot train yet

Every case is judged in two steps, so that the same cases and checks serve the student's
report and the instructor's grader:
  1. observe(PPO, case) runs the student's code on the case's inputs and describes what
     came back as plain data (an Observation): values, shapes, dtypes, gradients. This is
     the only place where student code runs.
  2. judge(case, observation, expected, mistakes) compares that with the expected values
     and with the outputs of known mistakes on the same inputs, and puts what it finds
     into words (a rl_harness.CaseResult).
Here the expected values are the stored ones in rl_expected.py (generated from the
reference solution by the instructor; this file holds no solution). The instructor's
grade.py draws fresh cases of the same structure, make_cases(secret_seed), and computes
the expected values live from the reference.
"""

import math
import os
import sys
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

import rl_harness
from rl_harness import (CaseResult, Failure, Kind, Mistake, call, check_torch_tensor, collect, fmt,
                        run_tests, shape_problem)

rl_harness.HARNESS_FILES.add(os.path.abspath(__file__))

__all__ = ['test_ppo', 'check_ready', 'assert_group', 'NotReadyError', 'run_tests', 'collect', 'check_torch_tensor',
           'make_cases', 'observe', 'judge', 'Case', 'Observation', 'GROUPS', 'MISTAKES']

STATE_DIM, NUM_ACTIONS = 5, 3     # of every case's networks
HIDDEN = 128                      # the notebook's hidden layer width
# Tolerances of the extended cases: loose enough for any correct order of floating-point
# operations (a loop, a vectorised sum, float64 inside), tight enough that every known
# mistake is far outside them (the cases are built so that mistakes differ by > 1e-2).
RTOL, ATOL = 1e-4, 1e-5
# The course's own tolerances: torch.allclose / torch.isclose defaults.
COURSE_RTOL, COURSE_ATOL = 1e-5, 1e-8

GROUPS = {
    'gae_course': "compute_advantages(): the course's cases",
    'loss_course': "compute_loss(): the course's cases",
    'gae': 'compute_advantages(): rollouts of several environments with a live critic',
    'loss': 'compute_loss(): clipped objective, critic loss and gradients',
}
OUTPUTS = {'compute_advantages': ('advantages', 'critic_targets'), 'compute_loss': ('actor_loss', 'critic_loss')}
INPUTS = {'compute_advantages': ('states', 'rewards', 'next_states', 'terminations', 'truncations'),
          'compute_loss': ('states', 'actions', 'advantages', 'critic_targets', 'log_probs_old')}
MAX_BATCH = 4096           # inputs and outputs larger than this are refused when read from data
MAX_GRADIENT = 4 * HIDDEN + 4  # the last layer of the actor: num_actions x (HIDDEN + 1) at most


# ------------------------------------------------------------------------------------
# Known mistakes: what each looks like in words, and the fix. ppo_mistakes.py (instructor
# side) implements each one; their outputs on the cases are stored in rl_expected.py.
# ------------------------------------------------------------------------------------

def _mistakes(*entries):
    return {id_: Mistake(id_, title, fix) for id_, title, fix in entries}


MISTAKES = _mistakes(
    # compute_advantages()
    ('across_envs', 'GAE runs across environment boundaries',
     'rows i*T .. (i+1)*T-1 belong to environment i: start the backward sum afresh (a_T = 0) at the end of '
     'every segment.'),
    ('ignores_terminations', 'terminations are ignored',
     'after a termination the episode is over: v(s_{t+1}) counts as 0 and the backward sum must not carry over '
     'from the next episode.'),
    ('bootstraps_terminal', 'v(s_{t+1}) is used after a termination',
     'a terminal state has no future: multiply γ * v(s_{t+1}) by (1 - termination).'),
    ('carries_over_terminations', 'the backward sum carries over terminations',
     'a_t must not include the next episode: reset the running advantage when the episode terminated at step t.'),
    ('ignores_truncations', 'truncations are ignored',
     'a truncation (time limit) also ends the episode: stop the backward sum there (but keep γ * v(s_{t+1}) '
     'in δ_t).'),
    ('truncation_as_termination', 'a truncation is treated like a termination',
     'a time limit does not make the state terminal: keep γ * v(s_{t+1}) in δ_t after a truncation, only stop '
     'the backward sum.'),
    ('truncation_bootstraps_current', 'a truncated step is bootstrapped from v(s_t) instead of v(s_{t+1})',
     'after a truncation, next_states[t] is the last state of the episode: δ_t = r_{t+1} + γ * v(s_{t+1}) - '
     'v(s_t) with that state.'),
    ('no_reset', 'the backward sum is not reset at episode ends',
     'at a termination or truncation the next row starts a new episode: set the running advantage to 0 there.'),
    ('no_lambda', 'λ is missing', 'the backward sum decays by γλ per step, not by γ.'),
    ('no_gamma_in_sum', 'γ is missing in the backward sum', 'the backward sum decays by γλ per step, not by λ.'),
    ('no_gamma_in_delta', 'γ is missing in δ_t', 'δ_t = r_{t+1} + γ * v(s_{t+1}) - v(s_t).'),
    ('not_reversed', 'the advantages are in reverse order',
     'iterating backwards fills the list from the last step: reverse it afterwards (or write into index t).'),
    ('forward_sum', 'the sum runs forwards in time',
     'a_t sums the deltas of the steps AFTER t: iterate t = T-1, ..., 0.'),
    ('wrong_sign', 'the sign of δ_t is flipped', 'δ_t = r_{t+1} + γ * v(s_{t+1}) - v(s_t).'),
    ('no_segment_bootstrap', 'the last step of a segment is treated as terminal',
     'the rollout stops there, not the episode: bootstrap δ_{T-1} from v(next_state) unless the episode '
     'terminated.'),
    ('skips_last_step', 'the last step of each segment is skipped',
     'the loop must visit t = T-1 too: range(T - 1, -1, -1) or reversed(range(T)).'),
    ('skips_first_step', 'the first step of each segment is skipped',
     'the loop must visit t = 0 too: range(T - 1, -1, -1) stops after 0, range(T - 1, 0, -1) before it.'),
    ('target_without_value', 'critic_targets are missing + v(s_t)',
     'v_target = a(s_t, a_t) + v(s_t): add the values of the states to the advantages.'),
    ('target_td', 'critic_targets are the one-step TD targets',
     'v_target = a(s_t, a_t) + v(s_t), which uses the whole GAE, not r + γ * v(s_{t+1}).'),
    ('target_returns', 'critic_targets are the discounted rewards-to-go',
     'v_target = a(s_t, a_t) + v(s_t): the GAE-based target, which bootstraps from the critic at the end of the '
     'segment, not the sum of the remaining rewards.'),
    # compute_loss()
    ('max_not_min', 'max instead of min in L^clip',
     'PPO takes the pessimistic (smaller) of the clipped and unclipped objective: torch.min.'),
    ('clipped_advantage', 'the advantage is clipped instead of the ratio',
     'clip r_t(θ) into [1 - ε, 1 + ε], then multiply by the advantage.'),
    ('inverted_ratio', 'the ratio is inverted', 'r_t = π_θ / π_θold = exp(log_probs - log_probs_old).'),
    ('actor_sign', 'the actor loss has the wrong sign', 'L^clip = - mean(min(L1, L2)): minimising it maximises '
     'the objective.'),
    ('log_ratio', 'the ratio is computed from log-probabilities directly',
     'log_probs are logarithms: r_t = exp(log_probs - log_probs_old), not log_probs / log_probs_old.'),
    ('ratio_without_exp', 'the ratio is missing exp()',
     'log_probs - log_probs_old is log r_t: take exp() of it to get the ratio r_t.'),
    ('no_clipping', 'the ratio is not clipped', 'L^clip = - mean(min(r * a, clip(r, 1 - ε, 1 + ε) * a)).'),
    ('only_clipped', 'only the clipped term is used',
     'take the minimum of the unclipped term r * a and the clipped term clip(r) * a.'),
    ('ratio_one', 'the ratio is always 1',
     'log_probs_old is given: compare the current log-probabilities to it, do not recompute it.'),
    ('min_of_means', 'min is taken after averaging',
     'take the minimum per transition, then the mean: mean(min(L1, L2)), not min(mean(L1), mean(L2)).'),
    ('actor_sum', 'the actor loss is a sum, not a mean', 'average over the batch with .mean().'),
    ('normalized_advantages', 'the advantages are normalised inside compute_loss',
     'compute_loss must use the advantages as given; normalising them (zero mean, unit variance) belongs to the '
     'training loop, which does it per minibatch.'),
    ('critic_half', 'the critic loss has a factor 1/2', 'L_VF = mean((v_target - v(s_t))^2), without 1/2.'),
    ('critic_abs', 'the critic loss is not squared', 'L_VF = mean((v_target - v(s_t))^2).'),
    ('critic_huber', 'the critic loss is a smooth-L1 (Huber) loss',
     'L_VF = mean((v_target - v(s_t))^2): a plain squared error, not F.smooth_l1_loss.'),
    ('critic_clipped', 'the critic loss is clipped around the old values',
     'this exercise uses the plain L_VF = mean((v_target - v(s_t))^2), without the value clipping some PPO '
     'implementations add.'),
    ('critic_sum', 'the critic loss is a sum, not a mean', 'average over the batch with .mean().'),
    ('critic_uses_advantages', 'the critic is fitted to the advantages',
     'the critic target is critic_targets (= a + v(s_t)), not advantages.'),
)


# ------------------------------------------------------------------------------------
# Cases
# ------------------------------------------------------------------------------------

@dataclass
class Case:
    """One input for one of the student's functions, and how to judge its outputs."""
    id: str
    group: str              # a key of GROUPS
    title: str
    function: str           # 'compute_advantages' or 'compute_loss'
    gamma: float
    lmbda: float
    epsilon: float
    num_steps: int          # T
    weights: tuple          # ('course', seed) or ('live', seed): how the networks' weights are drawn
    inputs: dict            # name: np.ndarray, in the order of the call
    checked: tuple          # outputs whose values are judged
    rtol: float = RTOL
    atol: float = ATOL
    detached: bool = True   # compute_advantages' outputs must be detached
    in_place: bool = True   # the inputs must not be changed
    gradient: str = ''      # 'flat' or 'steep': judge the actor loss's gradient (see loss_case)
    pairs: bool = False     # small enough to also match pairs of mistakes (ids 'a+b'): two bugs at once

    @property
    def layout(self):
        """(N, T) of a compute_advantages() case, else None."""
        if self.function != 'compute_advantages':
            return None
        return len(self.inputs['states']) // self.num_steps, self.num_steps

    def tensors(self):
        """Fresh tensors of the inputs, in the order of the call."""
        return [torch.as_tensor(np.array(self.inputs[name])) for name in INPUTS[self.function] if name in self.inputs]

    def to_data(self):
        data = {name: getattr(self, name) for name in ('id', 'group', 'title', 'function', 'gamma', 'lmbda',
                                                       'epsilon', 'num_steps', 'rtol', 'atol', 'detached',
                                                       'in_place', 'gradient', 'pairs')}
        data['weights'] = list(self.weights)
        data['checked'] = list(self.checked)
        data['inputs'] = {name: {'dtype': str(x.dtype), 'shape': list(x.shape), 'values': x.ravel().tolist()}
                          for name, x in self.inputs.items()}
        return data

    @classmethod
    def from_data(cls, data):
        """The Case of to_data(); ValueError naming the field for anything malformed."""
        _require(isinstance(data, dict), 'a case must be a dict')
        function = data.get('function')
        _require(function in INPUTS, f'case.function must be one of {sorted(INPUTS)}, got {function!r}')
        _require(data.get('group') in GROUPS, f'case.group must be one of {sorted(GROUPS)}')
        for name in ('id', 'title', 'gradient'):
            _require(isinstance(data.get(name), str) and len(data[name]) < 500, f'case.{name} must be a short string')
        for name in ('gamma', 'lmbda', 'epsilon', 'rtol', 'atol'):
            _require(isinstance(data.get(name), (int, float)) and math.isfinite(data[name]),
                     f'case.{name} must be a finite number')
        _require(isinstance(data.get('num_steps'), int) and 0 < data['num_steps'] <= MAX_BATCH,
                 'case.num_steps must be a positive int')
        weights = data.get('weights')
        _require(isinstance(weights, list) and len(weights) == 2 and weights[0] in ('course', 'live')
                 and isinstance(weights[1], int), "case.weights must be ['course' or 'live', seed]")
        checked = data.get('checked')
        _require(isinstance(checked, list) and set(checked) <= set(OUTPUTS[function]),
                 f'case.checked must be outputs of {function}')
        raw = data.get('inputs')
        _require(isinstance(raw, dict) and set(raw) <= set(INPUTS[function]) and len(raw) >= 4,
                 f'case.inputs must name inputs of {function}')
        inputs = {name: _array(f'case.inputs.{name}', raw[name]) for name in INPUTS[function] if name in raw}
        case = cls(id=data['id'], group=data['group'], title=data['title'], function=function,
                   gamma=float(data['gamma']), lmbda=float(data['lmbda']), epsilon=float(data['epsilon']),
                   num_steps=data['num_steps'], weights=(weights[0], weights[1]), inputs=inputs,
                   checked=tuple(checked), rtol=float(data['rtol']), atol=float(data['atol']),
                   detached=bool(data['detached']), in_place=bool(data['in_place']), gradient=data['gradient'],
                   pairs=bool(data.get('pairs')))
        _require(len(inputs['states']) % case.num_steps == 0 or function == 'compute_loss',
                 'case: the batch is not N segments of num_steps')
        return case


_DTYPES = {'float32': np.float32, 'int64': np.int64, 'bool': np.bool_}


def _require(condition, message):
    if not condition:
        raise ValueError(message)


def _array(name, data):
    _require(isinstance(data, dict) and data.get('dtype') in _DTYPES, f'{name}: dtype must be one of {list(_DTYPES)}')
    shape, values = data.get('shape'), data.get('values')
    _require(isinstance(shape, list) and 1 <= len(shape) <= 2 and all(isinstance(n, int) and 0 < n <= MAX_BATCH
                                                                     for n in shape), f'{name}: bad shape')
    _require(isinstance(values, list) and len(values) == math.prod(shape), f'{name}: values do not match the shape')
    _require(all(isinstance(v, (int, float)) for v in values), f'{name}: values must be numbers')
    return np.array(values, dtype=_DTYPES[data['dtype']]).reshape(shape)


# --- the networks' weights ----------------------------------------------------------

def layer_shapes():
    """(out, in) of the three Linear layers of the actor, then of the critic."""
    return [(HIDDEN, STATE_DIM), (HIDDEN, HIDDEN), (NUM_ACTIONS, HIDDEN),
            (HIDDEN, STATE_DIM), (HIDDEN, HIDDEN), (1, HIDDEN)]


def course_weights(rng):
    """The course's scheme (its test_ppo()): per layer a mean from U(-0.5, 0.5), weights from
    N(mean, 0.1), zero biases. Draws from rng in the course's order. [(weight, bias)]"""
    weights = []
    for shape in layer_shapes():
        mean = rng.uniform(-0.5, 0.5)
        weights.append((rng.normal(mean, 0.1, shape), np.zeros(shape[0])))
    return weights


def live_weights(seed):
    """Weights under which the critic is alive: values of order 1 to 10 that differ from
    state to state (under the course's weights its ReLUs are dead and v(s) = 0)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    weights = []
    for index, (out_features, in_features) in enumerate(layer_shapes()):
        weight = rng.normal(0.0, 1.5 / np.sqrt(in_features), (out_features, in_features))
        bias = rng.normal(0.1, 0.2, out_features)
        if index == 5:  # the critic's output layer: spread the values over roughly -10 .. 10
            weight, bias = 3.0 * weight, bias + rng.uniform(-2.0, 2.0)
        weights.append((weight, bias))
    return weights


def linear_layers(network):
    """The Linear layers of one of the notebook's networks, in order."""
    return [module for module in network if isinstance(module, nn.Linear)]


NETWORKS_CHANGED = ('PPO.actor and PPO.critic must stay the given networks (nn.Sequential of Linear, ReLU, '
                    'Linear, ReLU, Linear, with the given sizes); setting their weights failed: ')


def set_weights(ac, recipe):
    """Gives both networks of `ac` the weights of a case (ValueError if the networks differ)."""
    scheme, seed = recipe
    weights = course_weights(np.random.Generator(np.random.PCG64(seed))) if scheme == 'course' else live_weights(seed)
    layers = linear_layers(ac.actor) + linear_layers(ac.critic)
    if [tuple(layer.weight.shape) for layer in layers] != layer_shapes() or any(l.bias is None for l in layers):
        raise ValueError(f'layers {[tuple(layer.weight.shape) for layer in layers]}, expected {layer_shapes()}')
    with torch.no_grad():
        for layer, (weight, bias) in zip(layers, weights):
            layer.weight[:] = torch.as_tensor(weight)
            layer.bias[:] = torch.as_tensor(bias)
    return ac


class _Networks(nn.Module):
    """The notebook's two networks on their own (no PPO method), for drawing case inputs."""

    def __init__(self):
        super().__init__()
        layer = lambda out_features, in_features: nn.Linear(in_features, out_features)  # noqa: E731
        shapes = layer_shapes()
        self.actor = nn.Sequential(layer(*shapes[0]), nn.ReLU(), layer(*shapes[1]), nn.ReLU(), layer(*shapes[2]))
        self.critic = nn.Sequential(layer(*shapes[3]), nn.ReLU(), layer(*shapes[4]), nn.ReLU(), layer(*shapes[5]))

    def log_probs_and_values(self, states, actions):
        with torch.no_grad():
            log_policy = torch.log_softmax(self.actor(states), dim=1)
            return log_policy.gather(1, actions.unsqueeze(1)).squeeze(1), self.critic(states).squeeze(-1)


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
    _Networks()  # the course built its PPO here, which draws the default init from torch's generator
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
        loss_targets = _stored().COURSE_LOSS_INPUTS
    gae, loss = course_draws()
    common = dict(gamma=COURSE_GAMMA, lmbda=COURSE_LMBDA, epsilon=COURSE_EPSILON, num_steps=1,
                  weights=('course', COURSE_SEED), rtol=COURSE_RTOL, atol=COURSE_ATOL, detached=False, in_place=False)
    cases = []
    for index, draws in enumerate(gae, 1):
        cases.append(Case(id=f'gae_course_{index}', group='gae_course', title=f'{len(draws["states"])} steps',
                          function='compute_advantages', inputs=draws, checked=('advantages',), **common))
    for index, draws in enumerate(loss, 1):
        case_id = f'loss_course_{index}'
        targets = loss_targets[case_id]
        inputs = dict(states=draws['states'], actions=draws['actions'],
                      advantages=np.array(targets['advantages'], dtype=np.float32),
                      critic_targets=np.array(targets['critic_targets'], dtype=np.float32),
                      log_probs_old=draws['log_probs_old'])
        cases.append(Case(id=case_id, group='loss_course', title=f'batch of {len(draws["states"])}',
                          function='compute_loss', inputs=inputs, checked=('actor_loss', 'critic_loss'), **common))
    return cases


def _stored():
    try:
        import rl_expected
    except ImportError:
        raise ImportError('rl_expected.py is missing: it must be in the same folder as rl_tests.py (instructors: '
                          'python tools/build.py writes it)') from None
    return rl_expected


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
    return Case(id=id, group=group, title=title, function='compute_advantages', gamma=gamma, lmbda=lmbda,
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
    networks = _Networks()
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
    return Case(id=id, group=group, title=title, function='compute_loss', gamma=0.9, lmbda=0.9, epsilon=epsilon,
                num_steps=1, weights=recipe, inputs=inputs, checked=('actor_loss', 'critic_loss'), gradient=gradient)


PAIRED = ('gae_no_ends', 'gae_terminations', 'gae_truncations', 'loss_regions', 'loss_small_epsilon')


def extended_cases(rng_for):
    """The kit's own cases. rng_for(index) gives each case its own numpy Generator.
    Each isolates a few mistakes, so that code with several bugs gets each named where
    it shows on its own."""
    cases = [
        advantages_case('gae_no_ends', '2 environments × 8 steps, no episode ends', rng_for(0), N=2, T=8,
                        gamma=0.9, lmbda=0.8),
        advantages_case('gae_terminations', '3 environments × 6 steps, terminations inside the segments',
                        rng_for(1), N=3, T=6, gamma=0.9, lmbda=0.8, terminations=[(0, None), (2, None)]),
        advantages_case('gae_truncations', '3 environments × 6 steps, truncations inside the segments',
                        rng_for(2), N=3, T=6, gamma=0.9, lmbda=0.8, truncations=[(0, None), (1, None)]),
        advantages_case('gae_segments', '3 environments × 6 steps, episode ends inside and at the end of segments',
                        rng_for(3), N=3, T=6, gamma=0.9, lmbda=0.8, terminations=[(0, None), (1, 5)],
                        truncations=[(1, None), (2, 5)]),
        advantages_case('gae_lambda_0', 'λ = 0, 2 environments × 5 steps', rng_for(4), N=2, T=5, gamma=0.9,
                        lmbda=0.0, terminations=[(0, None)], truncations=[(1, None)]),
        advantages_case('gae_lambda_1', 'λ = 1, 2 environments × 5 steps', rng_for(5), N=2, T=5, gamma=0.9,
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
    critic and at least one termination and one continuing step in each."""
    cases = []
    for index, expected in enumerate(COURSE_ADVANTAGES, 1):
        rng = rng_for(100 + index)
        n = len(expected)
        ends = [(int(k), 0) for k in rng.choice(n, int(rng.integers(1, n)), replace=False)]
        case = advantages_case(f'gae_course_{index}', f'{n} steps', rng, N=n, T=1, gamma=COURSE_GAMMA,
                               lmbda=COURSE_LMBDA, terminations=ends, group='gae_course')
        case.inputs.pop('truncations')
        case.checked, case.rtol, case.atol, case.detached, case.in_place = ('advantages',), COURSE_RTOL, \
            COURSE_ATOL, False, False
        cases.append(case)
    for index, (n, _, _) in enumerate(COURSE_LOSSES, 1):
        case = loss_case(f'loss_course_{index}', f'batch of {n}', rng_for(200 + index), batch_size=n,
                         epsilon=COURSE_EPSILON, group='loss_course')
        case.rtol, case.atol, case.in_place = COURSE_RTOL, COURSE_ATOL, False
        cases.append(case)
    return cases


def fixed_rng(index):
    """The numpy Generator of the index-th fixed case (the grader's fresh ones never share it)."""
    return np.random.default_rng([0, index])


def make_cases(seed=None, groups=None):
    """The cases, in the order of the report. seed=None: the fixed cases (the course's six
    verbatim, then the kit's own), whose expected values rl_expected.py stores. An int: the
    same structures with fresh numbers drawn from it (the grader's secret seed)."""
    if seed is None:
        cases = course_cases() + extended_cases(fixed_rng)
    else:
        rng_for = lambda index: np.random.default_rng([1, int(seed), index])  # noqa: E731
        cases = course_replays(rng_for) + extended_cases(rng_for)
    order = list(GROUPS)
    cases.sort(key=lambda case: order.index(case.group))  # stable: keeps the order within a group
    return [case for case in cases if groups is None or case.group in groups]


# ------------------------------------------------------------------------------------
# Observing the student's code (the only place it runs)
# ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Output:
    """One value a student's function returned, described as plain data."""
    name: str
    type: str                # type name, e.g. 'Tensor', 'ndarray', 'float'
    shape: tuple = None      # tensors and arrays
    dtype: str = None        # e.g. 'torch.float32'
    requires_grad: bool = None
    values: tuple = None     # float64, flattened (tensors only)

    @classmethod
    def of(cls, name, value):
        if isinstance(value, torch.Tensor):
            flat = value.detach().to(torch.float64).flatten() if value.numel() <= MAX_BATCH else None
            return cls(name, 'Tensor', tuple(value.shape), str(value.dtype), bool(value.requires_grad),
                       tuple(flat.tolist()) if flat is not None else None)
        if isinstance(value, np.ndarray) and value.dtype.kind in 'fiub' and value.size <= MAX_BATCH:
            return cls(name, 'ndarray', tuple(value.shape), str(value.dtype),
                       values=tuple(value.astype(np.float64).ravel().tolist()))
        if isinstance(value, np.ndarray):
            return cls(name, 'ndarray', tuple(value.shape), str(value.dtype))
        return cls(name, type(value).__name__)

    def array(self):
        return np.array(self.values, dtype=np.float64)


@dataclass
class Observation:
    """What a student's function did on one case, as plain data: no tensors, no code."""
    case_id: str
    failure: Failure = None        # it raised, or could not run, or returned the wrong number of values
    outputs: tuple = ()            # (Output, ...)
    gradients: dict = field(default_factory=dict)        # loss name: gradient w.r.t. the last layer of its network
    gradient_errors: dict = field(default_factory=dict)  # loss name: why its gradient could not be computed
    inputs_changed: bool = False

    def values(self):
        """{name: np.ndarray} of the tensor outputs and gradients (name + '.grad')."""
        found = {o.name: o.array().reshape(o.shape) for o in self.outputs
                 if o.type == 'Tensor' and o.values is not None}
        found.update({f'{name}.grad': np.array(g, dtype=np.float64) for name, g in self.gradients.items()})
        return found

    def to_data(self):
        return {'case_id': self.case_id, 'failure': self.failure and self.failure.to_data(),
                'outputs': [{'name': o.name, 'type': o.type, 'shape': o.shape and list(o.shape), 'dtype': o.dtype,
                             'requires_grad': o.requires_grad, 'values': o.values and list(o.values)}
                            for o in self.outputs],
                'gradients': {name: list(g) for name, g in self.gradients.items()},
                'gradient_errors': dict(self.gradient_errors), 'inputs_changed': self.inputs_changed}

    @classmethod
    def from_data(cls, data):
        """The Observation of to_data(), validated: it may come from an untrusted process.
        ValueError for anything malformed or too large."""
        _require(isinstance(data, dict) and isinstance(data.get('case_id'), str), 'an observation must be a dict '
                                                                                   'with a case_id')
        failure = None if data.get('failure') is None else Failure.from_data(data['failure'])
        raw_outputs = data.get('outputs')
        _require(isinstance(raw_outputs, list) and len(raw_outputs) <= 2, 'observation.outputs: at most 2')
        outputs = tuple(_output(raw) for raw in raw_outputs)
        gradients, errors = data.get('gradients'), data.get('gradient_errors')
        _require(isinstance(gradients, dict) and set(gradients) <= {'actor_loss', 'critic_loss'},
                 'observation.gradients: of actor_loss and critic_loss only')
        for g in gradients.values():
            _require(isinstance(g, list) and len(g) <= MAX_GRADIENT and all(isinstance(v, (int, float)) for v in g),
                     'observation.gradients: lists of numbers')
        _require(isinstance(errors, dict) and all(isinstance(k, str) and isinstance(v, str) and len(k) < 50
                                                  for k, v in errors.items()) and len(errors) <= 2,
                 'observation.gradient_errors: {name: message}')
        _require(isinstance(data.get('inputs_changed'), bool), 'observation.inputs_changed must be a bool')
        return cls(data['case_id'][:200], failure, outputs, {k: tuple(map(float, v)) for k, v in gradients.items()},
                   {k: v[:2000] for k, v in errors.items()}, data['inputs_changed'])


def _output(raw):
    _require(isinstance(raw, dict) and isinstance(raw.get('name'), str) and isinstance(raw.get('type'), str),
             'observation.outputs: dicts with a name and a type')
    shape, values = raw.get('shape'), raw.get('values')
    if shape is not None:
        _require(isinstance(shape, list) and len(shape) <= 8 and all(isinstance(n, int) and n >= 0 for n in shape),
                 'observation: bad shape')
    if values is not None:
        _require(shape is not None and isinstance(values, list) and len(values) == math.prod(shape) <= MAX_BATCH
                 and all(isinstance(v, (int, float)) for v in values), 'observation: values do not match the shape')
    for name in ('dtype',):
        _require(raw.get(name) is None or (isinstance(raw[name], str) and len(raw[name]) < 50), f'observation: bad {name}')
    _require(raw.get('requires_grad') in (None, True, False), 'observation: bad requires_grad')
    return Output(raw['name'][:50], raw['type'][:50], shape and tuple(shape), raw.get('dtype'),
                  raw.get('requires_grad'), values and tuple(map(float, values)))


def observe(PPO, case):
    """Runs the student's code on one case and describes the outcome. Never raises for
    anything the student's code does (exceptions and sys.exit() become obs.failure)."""
    ac, failure = call(PPO, STATE_DIM, NUM_ACTIONS, case.gamma, case.lmbda, case.epsilon, case.num_steps)
    if failure is not None:
        return Observation(case.id, Failure(failure.kind, failure.message, case.function))
    try:
        set_weights(ac, case.weights)
        function = getattr(ac, case.function)
    except Exception as exc:  # noqa: BLE001 - a student's class may break anything
        return Observation(case.id, Failure(Kind.NOT_RUN, NETWORKS_CHANGED + f'{type(exc).__name__}: {exc}',
                                            case.function))
    inputs = case.tensors()
    originals = [x.clone() for x in inputs]
    result, failure = call(function, *inputs, returns=2)
    if failure is not None:
        return Observation(case.id, failure)
    try:
        outputs = tuple(Output.of(name, value) for name, value in zip(OUTPUTS[case.function], result))
        gradients, errors = {}, {}
        if case.function == 'compute_loss':
            for (name, value), network in zip(zip(OUTPUTS[case.function], result), (ac.actor, ac.critic)):
                gradient, error = _last_layer_gradient(value, network)
                if gradient is not None:
                    gradients[name] = gradient
                if error is not None:
                    errors[name] = error
        changed = not all(torch.equal(a, b) for a, b in zip(inputs, originals))
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - e.g. a returned object that breaks when inspected
        return Observation(case.id, Failure(Kind.RAISED, rl_harness.describe_exception(exc, case.function),
                                            case.function))
    return Observation(case.id, None, outputs, gradients, errors, changed)


def _last_layer_gradient(loss, network):
    """(gradient of loss w.r.t. the weights and bias of the network's last layer, flattened;
    or None, with why not)."""
    if not (isinstance(loss, torch.Tensor) and loss.dim() == 0 and loss.requires_grad):
        return None, None
    last = linear_layers(network)[-1]
    try:
        grads = torch.autograd.grad(loss, [last.weight, last.bias], retain_graph=True, allow_unused=True)
    except RuntimeError as exc:
        return None, str(exc).split('\n')[0]
    flat = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, (last.weight, last.bias))]
    return tuple(torch.cat([g.flatten() for g in flat]).to(torch.float64).tolist()), None


# ------------------------------------------------------------------------------------
# Judging (no student code runs here)
# ------------------------------------------------------------------------------------

def judge(case, observed, expected, mistakes=None, trusted=True):
    """The verdict on one case. expected: the reference's Observation (or {name: values});
    mistakes: {mistake id: Observation (or {name: values})} of the known mistakes on the
    same inputs; an id 'a+b' is two mistakes at once, matched only where no single one
    explains an output. Returns a rl_harness.CaseResult.

    trusted=False is for an observation that comes from a process the student controls
    (the grader's sandbox): there, what the student's code says about its outputs (their
    type, shape, dtype, whether they require gradients, whether the inputs changed) could
    be a lie, so those checks become notes that do not count. The verdict then rests on
    what cannot be forged without a correct computation: the values, that they are
    float32 numbers, and the losses' gradients compared with the reference's."""
    expected = _values(expected)
    mistakes = {mistake: _values(outputs) for mistake, outputs in (mistakes or {}).items()}
    result = CaseResult(section=GROUPS[case.group], group=case.group, title=case.title)
    if observed.case_id != case.id:
        result.failures.append(Failure(Kind.WRONG_TYPE, f'no answer for this case (got one for {observed.case_id!r})',
                                       case.function))
        return result
    if observed.failure is not None:
        result.failures.append(observed.failure)
        return result
    outputs = {output.name: output for output in observed.outputs}
    wrong = {}
    formed = set()  # outputs that passed the form checks
    for name in case.checked:
        result.checks += 1
        output = outputs.get(name)
        problem = _form_problem(case, name, output)
        if not trusted and (problem is None or problem.kind in SELF_REPORTED) and output is not None \
                and output.values is not None and len(output.values) == math.prod(_expected_shape(case)):
            if problem is not None:
                result.notes.append(f'Not counted (reported by your code, which the grader cannot check): '
                                    f'{problem.message}.')
            problem = _value_form_problem(case, name, output)
        if problem is not None:
            result.failures.append(problem)
            continue
        formed.add(name)
        got = output.array().reshape(np.shape(expected[name]))
        want = np.asarray(expected[name], dtype=np.float64).reshape(got.shape)
        # evidence against a mistake: it would change this output, and the output is not what it gives
        result.ruled_out.extend(mistake for mistake, outputs_of_mistake in mistakes.items()
                                if '+' not in mistake and name in outputs_of_mistake and not (
                                    np.shape(outputs_of_mistake[name]) == got.shape
                                    and _close(got, np.asarray(outputs_of_mistake[name]), case)))
        if _close(got, want, case):
            continue
        wrong[name] = got
        result.failures.append(Failure(Kind.WRONG_VALUE, _value_message(case, name, got, want), case.function))
        matched = [mistake for mistake, outputs_of_mistake in mistakes.items()
                   if name in outputs_of_mistake and np.shape(outputs_of_mistake[name]) == got.shape
                   and _close(got, np.asarray(outputs_of_mistake[name]), case)]
        singles = [mistake for mistake in matched if '+' not in mistake]
        for combination in singles or matched:  # two mistakes at once only where no single one explains it
            for mistake in combination.split('+'):
                if MISTAKES[mistake] not in result.mistakes:
                    result.mistakes.append(MISTAKES[mistake])
        if not result.mistakes or name not in _named_outputs(result, mistakes):
            result.notes.extend(_difference_notes(case, name, got, want))
    note, mistake = _target_relation(case, wrong, expected)
    if note:
        result.notes.append(note)
    if mistake and MISTAKES[mistake] not in result.mistakes:
        result.mistakes.append(MISTAKES[mistake])
    for name in ('actor_loss', 'critic_loss'):
        if f'{name}.grad' in expected and name in formed:
            result.checks += 1
            problem = _gradient_problem(case, name, observed, expected)
            if problem is not None:
                result.failures.append(problem)
    if case.in_place:
        result.checks += 1
        if observed.inputs_changed:
            message = (f'{case.function}() changed its input tensors in place; work on copies (e.g. x = x.clone())')
            if trusted:
                result.failures.append(Failure(Kind.IN_PLACE, message, case.function))
            else:
                result.notes.append(f'Not counted (reported by your code, which the grader cannot check): {message}.')
    return result


# What only the student's own process can tell: judged where the student runs the tests,
# a note in the grader (judge(trusted=False)).
SELF_REPORTED = {Kind.WRONG_TYPE, Kind.WRONG_SHAPE, Kind.WRONG_DTYPE, Kind.GRADIENT}


def _expected_shape(case):
    """The shape each output of the case's function must have: (N * T,) or a scalar's ()."""
    return (len(case.inputs['states']),) if case.function == 'compute_advantages' else ()


def _value_form_problem(case, name, output):
    """The form checks that rest on the values alone: finite float32 numbers."""
    values = np.array(output.values, dtype=np.float64)
    if not np.isfinite(values).all():
        return Failure(Kind.NOT_FINITE, f'{name} contains NaN or infinity', case.function)
    if not np.array_equal(values.astype(np.float32).astype(np.float64), values):
        return Failure(Kind.WRONG_DTYPE, f'{name} holds values that are not float32 numbers (expected dtype '
                                         'torch.float32)', case.function)
    return None


def _values(x):
    if isinstance(x, Observation):
        return x.values()
    return {name: np.asarray(value, dtype=np.float64) for name, value in x.items()}


def _named_outputs(result, mistakes):
    """The outputs that one of the named mistakes explains."""
    return {name for mistake in result.mistakes for name in mistakes.get(mistake.id, {})}


def _close(got, want, case):
    return bool(np.allclose(got, want, rtol=case.rtol, atol=case.atol))


def _form_problem(case, name, output):
    if output is None:
        return Failure(Kind.WRONG_TYPE, f'{case.function}() returned no {name}', case.function)
    if output.type == 'ndarray':
        return Failure(Kind.WRONG_TYPE, f'{name} is a numpy array; return a torch.Tensor (e.g. torch.as_tensor(...))',
                       case.function)
    if output.type != 'Tensor' or output.shape is None:
        return Failure(Kind.WRONG_TYPE, f'{name} must be a torch.Tensor, got {output.type}', case.function)
    shape = _expected_shape(case)
    if output.values is None and tuple(output.shape) == shape:
        return Failure(Kind.WRONG_SHAPE, f'{name} is too large to check', case.function)
    finite = output.values is None or all(math.isfinite(v) for v in output.values)
    requires_grad = True if case.function == 'compute_loss' else (False if case.detached else None)
    problem = shape_problem(name, output.shape, output.dtype, output.requires_grad, finite, shape, 'torch.float32',
                            requires_grad)
    if problem is not None and problem.kind == Kind.NOT_FINITE:
        problem = Failure(Kind.NOT_FINITE, f'{name} contains NaN or infinity: {rl_harness.short(output.values)}')
    return problem and Failure(problem.kind, problem.message, case.function)


def _wrong_mask(got, want, case):
    return np.abs(got - want) > case.atol + case.rtol * np.abs(want)


def _step_event(case, row):
    """What happens at a transition of a compute_advantages() case, in words ('' if nothing)."""
    T = case.num_steps
    events = []
    if case.inputs['terminations'][row]:
        events.append('the episode terminates here')
    if 'truncations' in case.inputs and case.inputs['truncations'][row]:
        events.append('the episode is truncated here')
    if row % T == T - 1 and T > 1:
        events.append('the last step of the segment')
    return ', '.join(events)


def _value_message(case, name, got, want):
    error = np.abs(got - want)
    if got.ndim == 0:
        return f'{name} is incorrect: got {fmt(got.item())}, expected {fmt(want.item())}'
    N, T = case.layout
    wrong = _wrong_mask(got, want, case).reshape(N, T)
    envs = [env for env in range(N) if wrong[env].any()]
    places = []
    for env in envs[:2]:
        step = int(np.flatnonzero(wrong[env])[-1])  # a backward sum's error starts at the latest wrong step
        row = env * T + step
        event = _step_event(case, row)
        where = f'step {step}' if N == 1 or T > 1 else f'row {row}'
        where = f'environment {env}, {where}' if T > 1 else f'step {row}'
        places.append(f'{where}{" (" + event + ")" if event else ""}: got {fmt(got[row])}, expected {fmt(want[row])}')
    more = f'; and {len(envs) - 2} more environment{"s" if len(envs) > 3 else ""}' if len(envs) > 2 else ''
    lead = 'the last wrong value' if T > 1 else 'the first wrong value'
    return (f'{name} are incorrect (max error {fmt(error.max())}); {lead}: ' + '; '.join(places) + more)


def _difference_notes(case, name, got, want):
    """What kind of difference it is, where no known mistake explains it."""
    notes = []
    scale = max(np.abs(want).max(), 1.0)
    near = lambda a, b: np.allclose(a, b, rtol=1e-3, atol=1e-3 * scale)  # noqa: E731
    if got.ndim == 0:
        return _scalar_notes(name, got.item(), want.item())
    if np.dot(want, want) > 0:
        factor = float(np.dot(got, want) / np.dot(want, want))
        if abs(factor - 1) > 1e-3 and near(got, factor * want):
            notes.append('every value has the wrong sign (a factor -1).' if abs(factor + 1) < 1e-3 else
                         f'every value is {fmt(factor)} × the expected one: a constant factor is off.')
            return notes
    shift = float(np.mean(got - want))
    if abs(shift) > 1e-3 * scale and near(got, want + shift):
        notes.append(f'every value is off by the same amount ({fmt(shift)}): a constant shift.')
        return notes
    N, T = case.layout
    wrong = _wrong_mask(got, want, case)
    envs = [env for env in range(N) if wrong.reshape(N, T)[env].any()]
    if N > 1 and len(envs) < N:
        notes.append(f'only environment{"s" if len(envs) > 1 else ""} {", ".join(map(str, envs))} '
                     f'{"are" if len(envs) > 1 else "is"} wrong; the other{"s are" if N - len(envs) > 1 else " is"} '
                     'right: compare what happens in them (episode ends, segment ends).')
    rows = set(np.flatnonzero(wrong))
    ends = set(np.flatnonzero(case.inputs['terminations'] | case.inputs.get('truncations', False)))
    last = {env * T + T - 1 for env in range(N)}
    if T > 1 and rows and rows <= last:
        notes.append('only the last step of a segment is wrong: check what δ_{T-1} bootstraps from.')
    elif T > 1 and rows and rows <= ends:
        notes.append('only steps where an episode ends are wrong: check δ_t there (what v(s_{t+1}) counts for).')
    if T > 1 and envs:
        notes.append('in a backward sum an error travels to the earlier steps: fix the latest wrong step first.')
    return notes


def _scalar_notes(name, got, want):
    """A factor worth naming between two numbers: -1, an integer, or 1 / an integer."""
    if want == 0 or got == 0:
        return []
    factor = got / want
    if abs(factor + 1) < 1e-3:
        return [f'{name} has the right size but the wrong sign.']
    for k in range(2, 1025):
        if abs(factor - k) < 1e-3 * k:
            return [f'{name} is {k} × the expected value: a sum instead of a mean, or a factor too many?']
        if abs(1 / factor - k) < 1e-3 * k:
            return [f'{name} is 1/{k} of the expected value: a factor too many?']
    return []


def _target_relation(case, wrong, expected):
    """How a wrong critic_targets relates to the student's own advantages: (note, mistake id)
    when that relation tells something even though the advantages are wrong too."""
    if case.function != 'compute_advantages' or 'critic_targets' not in wrong or 'advantages' not in wrong:
        return None, None
    got = wrong['critic_targets'] - wrong['advantages']
    values = expected['critic_targets'] - expected['advantages']   # v(s_t)
    if _close(got, values, case):
        return ('critic_targets - advantages is right (it is v(s_t)): critic_targets is wrong only because the '
                'advantages are.'), None
    if _close(got, np.zeros_like(got), case) and not _close(values, np.zeros_like(values), case):
        return None, 'target_without_value'
    return None, None


def _gradient_problem(case, name, observed, expected):
    """A loss's gradient (w.r.t. the last layer of its network) against the reference's."""
    if name in observed.gradient_errors:
        return Failure(Kind.GRADIENT, f'the gradient of {name} could not be computed: '
                                      f'{observed.gradient_errors[name]}', case.function)
    got, want = observed.gradients.get(name), np.asarray(expected[f'{name}.grad'])
    if got is None or len(got) != len(want):
        return Failure(Kind.GRADIENT, f'{name} has no gradient: it must be computed from the networks with '
                                      'gradients on (not detached, not under torch.no_grad())', case.function)
    got = np.array(got)
    if np.allclose(got, want, rtol=1e-3, atol=1e-6):
        return None
    size = float(np.abs(got).max())
    if name == 'actor_loss' and case.gradient == 'flat':
        return Failure(Kind.GRADIENT, f'actor_loss has a gradient (max {fmt(size)}) where every ratio is clipped on '
                                      'the flat side (a > 0 with r > 1 + ε, a < 0 with r < 1 - ε): there min(L1, L2) '
                                      'is the clipped term, whose gradient is 0', case.function)
    if name == 'actor_loss' and case.gradient == 'steep' and size <= 1e-6:
        return Failure(Kind.GRADIENT, 'actor_loss has no gradient where min() must pick the unclipped term (a > 0 '
                                      'with r < 1 - ε, a < 0 with r > 1 + ε) or the ratio is inside the clip range: '
                                      'take min(L1, L2) of both terms, each with its gradient', case.function)
    return Failure(Kind.GRADIENT, f'the gradient of {name} is wrong (max error '
                                  f'{fmt(float(np.abs(got - want).max()))}) although its value is right: is a '
                                  'term detached, or computed from a copy?', case.function)


# ------------------------------------------------------------------------------------
# The student's side: test_ppo(), check_ready(), assert_group()
# ------------------------------------------------------------------------------------

def test_ppo(PPO, groups=None):
    """All cases of the exercise, judged against the stored expected values: the course's
    six, then the kit's own. A generator for run_tests() / collect()."""
    stored = _stored()
    for case in make_cases(groups=groups):
        yield judge(case, observe(PPO, case), stored.EXPECTED[case.id], stored.MISTAKE_OUTPUTS.get(case.id, {}))


class NotReadyError(RuntimeError):
    """Raised by check_ready() when the PPO class cannot be used for training yet."""


def check_ready(PPO):
    """Raises NotReadyError, saying what to do first, if compute_advantages() or
    compute_loss() is not implemented or crashes. Warns if they run but the tests find
    mistakes."""
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
        print(f'Warning: {report.summary_line()} Training may not learn. Run the tests cell for details.',
              file=sys.stderr)


def assert_group(PPO, group):
    """For a grading cell worth points (e.g. nbgrader's): runs the cases of one group,
    prints their report and raises AssertionError if any fails."""
    if group not in GROUPS:
        raise ValueError(f'assert_group: group must be one of {list(GROUPS)}, got {group!r}')
    report = collect(test_ppo(PPO, groups=(group,)))
    print(report.to_text())
    if not report:
        raise AssertionError(f'{GROUPS[group]}: {report.summary_line()}')
