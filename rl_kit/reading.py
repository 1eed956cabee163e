"""Behaviour read off the probe cases, put into one sentence each (shipped to students).

A probe (rl_tests.decay_probe, ends_probe, restarts_probe, loss_probes) is an ordinary case
whose numbers are chosen so that one behaviour shows in the outputs by itself: a critic that
reads v(s) = s[0], rewards where they tell something, steps after which nothing can flow
back. read() looks at the student's outputs on them and says what the code does and what it
should do ("your backward sum decays by 0.9 per step; GAE decays by γλ = 0.72"), with the id
of the mistake where what it read is one (rl_kit.mistakes), and with no id where it is not.

A reading speaks only when its model fits every value it describes; otherwise it stays
silent and the catalogue (and the difference notes) speak. No solution is computed here: the
numbers compared are the case's own design (a probe's r, a, v(s)) and the expected values
stored with the cases.
"""

import math
from dataclasses import dataclass

import numpy as np

from rl_kit.harness import fmt

TOLERANCE = 1e-3   # relative: float32 sums of a probe's few numbers are far closer than this
# Values of γ and λ that code often writes as numbers instead of self.gamma / self.lmbda (the
# course's γ = 0.8, the usual 0.9 to 0.999, λ = 1): the probes' own rates stay away from them and
# from their products, so that a decay by one of them reads as what it is.
HARD_CODED_RATES = (0.8, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999, 1.0)


@dataclass(frozen=True)
class Reading:
    """What a probe showed: one sentence, and the mistake id it is (or '')."""
    mistake: str        # an id of rl_kit.mistakes, or '' when what was read has no name
    detail: str         # what the code does, and what it should do
    outputs: tuple = ()  # the outputs of the case it explains
    row: int = None      # the row of a compute_advantages() probe it reads, where it reads one


def close(x, y, tolerance=TOLERANCE):
    return bool(abs(x - y) <= tolerance * max(1.0, abs(y)))


def read(cases, observations, expected):
    """{case id: [Reading]} for the probes among `cases` whose outputs are wrong.
    observations: {case id: Observation}; expected: {case id: {output: values}}."""
    readings = {}
    outputs = {case.id: _outputs(observations.get(case.id)) for case in cases if case.probe}
    for case in cases:
        got = outputs.get(case.id)
        if case.probe in GAE_READERS and got and {'advantages', 'critic_targets'} <= set(got) and all(
                np.shape(got[name]) == (len(case.inputs['states']),) and np.all(np.isfinite(got[name]))
                for name in ('advantages', 'critic_targets')):
            found = GAE_READERS[case.probe](case, got['advantages'], got['critic_targets'],
                                            _expected(expected, case))
            if found:
                readings[case.id] = found
    across = any(r.mistake == 'across_envs' for found in readings.values() for r in found)
    for case in cases:   # a sum across environments reaches the last step of every segment: not δ_t alone there
        if across and case.probe == 'ends' and case.id in readings:
            readings[case.id] = [r for r in readings[case.id] if r.row is None or r.row % case.num_steps != case.num_steps - 1]
    loss = [case for case in cases if case.probe == 'loss']
    if loss:
        for case_id, found in read_losses(loss, outputs, {c.id: _expected(expected, c) for c in loss}).items():
            readings.setdefault(case_id, []).extend(found)
    return readings


def _outputs(observation):
    """{name: np.ndarray} of an observation's tensor outputs (None if it failed)."""
    if observation is None or observation.failure is not None:
        return None
    return {name: value for name, value in observation.values().items() if not name.endswith('.grad')}


def _expected(expected, case):
    """{output: np.ndarray} of a case's expected values (an Observation or a dict)."""
    values = expected.get(case.id, {})
    values = values if isinstance(values, dict) else values.values()
    return {name: np.asarray(value, dtype=np.float64) for name, value in values.items()}


def _normalised(x):
    """The ddof (0 or 1) with which x has mean 0 and standard deviation 1, or None."""
    if len(x) < 2 or abs(np.mean(x)) > 1e-3:
        return None
    for ddof in (1, 0):
        if abs(np.std(x, ddof=ddof) - 1) < 1e-3:
            return ddof
    return None


DDOF_WORDS = {1: 'the sample standard deviation (ddof=1, torch\'s default)',
              0: 'the population standard deviation (ddof=0, numpy\'s and JAX\'s default)'}


def _transform_holds(advantages, alpha, beta):
    """Whether the anchor's (alpha, beta) can be one transform of all the advantages: none, a
    flipped sign, or a normalising over the whole batch. Anything else (normalising each
    environment on its own, say) leaves the probe unreadable."""
    return ((close(alpha, 1) or close(alpha, -1)) and close(beta, 0, 1e-4)) or _normalised(advantages) is not None


def _scale_reading(advantages, alpha, beta):
    """What a probe's anchor says about the advantages as a whole: they are the values of the
    probe scaled by alpha and shifted by beta. A Reading, or None when alpha = 1, beta = 0."""
    if close(alpha, 1) and close(beta, 0, 1e-4):
        return None
    ddof = _normalised(advantages)
    if ddof is not None:
        return Reading('normalized_in_gae', f'your advantages come out normalised: mean 0 and standard deviation 1, '
                       f'with {DDOF_WORDS[ddof]}; compute_advantages must return them as GAE gives them',
                       ('advantages',))
    if close(alpha, -1) and close(beta, 0, 1e-4):
        return Reading('wrong_sign', 'every advantage has the wrong sign (δ_t = r_{t+1} + γ v(s_{t+1}) - v(s_t), '
                       'not its negative)', ('advantages',))
    if close(beta, 0, 1e-4):
        return Reading('', f'every advantage is {fmt(alpha)} × what GAE gives here', ('advantages',))
    return Reading('', f'your advantages are {fmt(alpha)} × what GAE gives here, plus {fmt(beta)}', ('advantages',))


# ------------------------------------------------------------------------------------
# compute_advantages() probes
# ------------------------------------------------------------------------------------

def _decay_fit(a, anchor, null, reward):
    """(alpha, beta, decays) of a decay probe's advantages: a_t = alpha * reward * D_t + beta
    with D_anchor = 1, D_null = 0, and decays[j] = D_{anchor-j-1} / D_{anchor-j}, the factor of
    the j-th step back. None where the anchor shows nothing or a decay is not in [0, 1.05]."""
    beta = a[null]
    alpha = (a[anchor] - beta) / reward
    if abs(alpha) < 1e-6:
        return None
    raw = (a - beta) / (alpha * reward)
    decays = []
    for t in range(anchor - 1, -1, -1):
        if abs(raw[t + 1]) < 1e-9 or abs(raw[t]) < 1e-6:
            return None   # a step with nothing where GAE has something: no decay (a step skipped?)
        decays.append(raw[t] / raw[t + 1])
    if not all(-1e-3 <= d <= 1.05 for d in decays):
        return None
    return alpha, beta, decays


def _gae_decay(case):
    """γλ, the factor by which GAE's backward sum decays per step (the case's numbers)."""
    return math.prod((case.gamma, case.lmbda))


def _decay_words(case, decays):
    """(mistake id, sentence) for decays that are not γλ."""
    gamma, lmbda = case.gamma, case.lmbda
    gl = math.prod((gamma, lmbda))
    should = f'GAE decays by γλ = {fmt(gl)}'
    if all(close(d, decays[0]) for d in decays):
        d = decays[0]
        for value, mistake, words in ((gamma, 'no_lambda', f'γ = {fmt(gamma)}'),
                                      (lmbda, 'no_gamma_in_sum', f'λ = {fmt(lmbda)}')):
            if close(d, value):
                return mistake, f'your backward sum decays by {words} per step; {should}'
        return 'decay', f'your backward sum decays by {fmt(d)} per step{_hard_coded_words(d, gamma, lmbda)}; {should}'
    if len(decays) > 2 and all(close(d, decays[1]) for d in decays[1:]):
        return 'decay', (f'your backward sum decays by {fmt(decays[0])} for the first step back, then by '
                         f'{fmt(decays[1])} per step; {should} at every step')
    return 'decay', f'your backward sum decays by {", ".join(fmt(d) for d in decays)} step after step; {should}'


def _hard_coded_words(d, gamma, lmbda):
    """Where a decay d is a rate written as a number (reading.HARD_CODED_RATES), alone or times
    γ or λ: what that suggests, in words ('' where it is none of them, or more than one)."""
    rates = [c for c in HARD_CODED_RATES if c < 1]
    found = [f' ({fmt(c)}: is γ or λ written as a number instead of self.gamma / self.lmbda?)'
             for c in rates if close(d, c)]
    found += [f' (γ × {fmt(c)}: is λ written as {fmt(c)} instead of self.lmbda?)' for c in rates
              if close(d, gamma * c)]
    found += [f' (λ × {fmt(c)}: is γ written as {fmt(c)} instead of self.gamma?)' for c in rates
              if close(d, math.prod((lmbda, c)))]
    return found[0] if len(found) == 1 else ''


def read_decay(case, a, targets, expected):
    """The decay probe: one environment, critic 0, a single reward R at the anchor step."""
    anchor, null, reward = int(case.design['anchor']), int(case.design['null']), case.design['reward']
    readings = []
    want = expected.get('advantages')
    wrong_advantages = want is None or not np.allclose(a, want, rtol=case.rtol, atol=case.atol)
    if wrong_advantages and want is not None and np.allclose(a[:-1], want[1:], rtol=1e-3, atol=1e-4) and close(
            a[-1], 0, 1e-4):
        return [Reading('stored_late', f'your advantage at step t is GAE\'s at step t + 1 (the reward of step '
                        f'{anchor} shows at step {anchor - 1}, and step {len(a) - 1} gets 0): the running advantage '
                        'is stored before it is updated, one step late', ('advantages',))]
    fit = _decay_fit(a, anchor, null, reward)
    mirrored = _decay_fit(a[::-1].copy(), anchor, null, reward) if fit is None else None
    if fit is not None and not _transform_holds(a, fit[0], fit[1]) and not close(fit[1], 0, 1e-4):
        fit = None
    if wrong_advantages and fit is not None:
        alpha, beta, decays = fit
        scale = _scale_reading(a, alpha, beta)
        if scale is not None:
            readings.append(scale)
        if not all(close(d, _gae_decay(case)) for d in decays):
            mistake, words = _decay_words(case, decays)
            readings.append(Reading(mistake, words, ('advantages',)))
    elif wrong_advantages and mirrored is not None:
        readings.append(Reading('not_reversed', f'your advantages are in reverse order: the reward at step {anchor} '
                                f'shows at step {len(a) - 1 - anchor}, and the earlier steps get nothing from it',
                                ('advantages',)))
    # the targets: v = 0 everywhere, so critic_targets must equal the advantages
    want_targets = expected.get('critic_targets')
    if want_targets is None or np.allclose(targets, want_targets, rtol=case.rtol, atol=case.atol):
        return readings
    own = (a - fit[1]) / fit[0] if fit is not None else a
    if np.allclose(targets, own, rtol=1e-3, atol=1e-4):
        return readings  # critic_targets = the advantages (before any normalising) + v(s) = 0: they follow them
    target_fit = _decay_fit(targets, anchor, null, reward)
    if target_fit is not None and close(target_fit[0], 1) and close(target_fit[1], 0, 1e-4):
        decays = target_fit[2]
        if all(close(d, case.gamma) for d in decays) and not close(case.gamma, _gae_decay(case)):
            readings.append(Reading('target_returns', f'your critic_targets decay by γ = {fmt(case.gamma)} per step '
                                    '(here, with a critic worth 0, they are the discounted rewards-to-go); they '
                                    'should be the advantages + v(s_t), which decay by γλ', ('critic_targets',)))
    elif np.allclose(targets, case.inputs['rewards'], rtol=1e-3, atol=1e-4):
        readings.append(Reading('target_td', 'your critic_targets are r + γ v(s_{t+1}) (here just the rewards: the '
                                'critic is worth 0), the one-step TD targets; they should be the advantages + v(s_t)',
                                ('critic_targets',)))
    return readings


def _unscale(a, anchor, null, reward=1.0):
    """(alpha, beta) of an anchor whose advantages must be `reward`, then 0."""
    return (a[anchor] - a[null]) / reward, a[null]


def _value(case, name, row):
    """The readable critic's value of a probe's state (its first number)."""
    return float(case.inputs[name][row][0])


def read_ends(case, a, targets, expected):
    """The ends probe: which value δ_t bootstraps from at a termination, a truncation, an
    ordinary step and a segment end. The examined steps' advantages are their δ_t alone."""
    design, T, gamma = case.design, case.num_steps, case.gamma
    alpha, beta = _unscale(a, int(design['anchor']), int(design['null']))
    if abs(alpha) < 1e-6 or not _transform_holds(a, alpha, beta):
        return []
    raw = (a - beta) / alpha
    want = expected.get('advantages')
    readings = []
    wrong_rows = []
    for index, row in enumerate(int(r) for r in design['rows']):
        kind = END_KINDS_WORDS[int(design['kinds'][index])]
        r, A = design['reward'][index], design['value'][index]
        B, C = design['next_value'][index], design['next_row_value'][index]
        should = float(want[row]) if want is not None else None
        if should is None or close(raw[row], should):
            continue
        wrong_rows.append(row)
        where = f'environment {row // T}, step {row % T}'
        bootstrap = raw[row] - (r - A)   # what δ_t adds to r - v(s_t)
        inflow = raw[row + 1] if row % T == 0 else 0.0   # the step after it: 0, unless a sum runs across
        carry = 0.0
        if not close(inflow, 0, 1e-4):
            # either the sum stops here (a_t = δ_t) or it carries the next step over (a_t = δ_t + γλ a_{t+1})
            hypotheses = [(bootstrap, 0.0), (bootstrap - math.prod((gamma, case.lmbda, inflow)),
                                             math.prod((gamma, case.lmbda, inflow)))]
            fits = [(x, c) for x, c in hypotheses
                    if any(close(x, v) for v in _bootstrap_terms(kind, gamma, case.lmbda, A, B, C).values())]
            if len(fits) != 1:
                continue
            bootstrap, carry = fits[0]
        names = _bootstrap_terms(kind, gamma, case.lmbda, A, B, C)
        said = (f'at the {kind} ({where}) your advantage is {fmt(raw[row])}; with r = {fmt(r)}, v(s_t) = {fmt(A)} '
                f'and v(s_{{t+1}}) = {fmt(B)} it should be {fmt(should)}')
        if carry:
            # the sum runs on past this step: a mistake where the episode ends here, none at an ordinary step
            if kind in CARRY_MISTAKES:
                readings.append(Reading(CARRY_MISTAKES[kind], (
                    f'{said}: your backward sum carries γλ × a_{{t+1}} = {fmt(carry)} over the {kind} from the next '
                    'episode; it must restart there'), ('advantages',), row))
            said = (f'at the {kind} ({where}), apart from what is carried over, your δ_t is '
                    f'{fmt(raw[row] - carry)}; it should be {fmt(should)}')
            if close(raw[row] - carry, should):
                continue
        if close(raw[row], 0, 1e-4) and not close(should, 0, 1e-4) and kind == 'truncation':
            readings.append(Reading('truncation_zeroed', f'{said}: your code sets the advantage of a truncated step '
                                    'to 0, but its δ_t still counts', ('advantages',), row))
            continue
        matches = [words for words, value in names.items() if close(bootstrap, value)]
        if close(raw[row], 0, 1e-4) or len(matches) != 1:   # nothing at all there (a step skipped?): no reading
            readings.append(Reading('', said, ('advantages',), row))
            continue
        uses = matches[0]
        mistake = END_MISTAKES.get((kind, uses), '')
        readings.append(Reading(mistake, f'{said}: your δ_t adds {uses} to r - v(s_t); it should add '
                                f'{END_SHOULD[kind]}', ('advantages',), row))
    scale = _scale_reading(a, alpha, beta)
    if scale is not None:
        readings.insert(0, scale)
    readings += _target_relation(case, raw, targets, expected)
    return readings


def _bootstrap_terms(kind, gamma, lmbda, A, B, C):
    """{what δ_t adds to r - v(s_t): its value} that code may use at a step of this kind."""
    names = {'γ v(s_{t+1})': gamma * B, 'v(s_{t+1}) without γ': B, 'nothing': 0.0,
             'γλ v(s_{t+1})': math.prod((gamma, lmbda, B))}
    if kind == 'truncation':
        names.update({'γ v(s_t), the value of the state before the time limit': gamma * A,
                      'v(s_t), without γ': A})
    if kind in ('termination', 'truncation'):
        names.update({"γ v of the next row's state (the next episode's first state)": gamma * C,
                      "v of the next row's state, without γ": C})
    return names


END_KINDS_WORDS = ('termination', 'truncation', 'ordinary step', 'segment end')
END_SHOULD = {'termination': 'nothing (a terminal state has no future)',
              'truncation': 'γ v(s_{t+1}), the value of the last state of the episode (next_states[t])',
              'ordinary step': 'γ v(s_{t+1})',
              'segment end': 'γ v(s_{t+1}), the value of the state where the rollout stopped'}
# what happens at the step -> the mistake of a backward sum that runs on past it
CARRY_MISTAKES = {'termination': 'carries_over_terminations', 'truncation': 'ignores_truncations'}
# (what happens at the step, what δ_t uses there) -> the mistake it is
END_MISTAKES = {
    ('termination', 'γ v(s_{t+1})'): 'bootstraps_terminal',
    ('termination', 'v(s_{t+1}) without γ'): 'bootstraps_terminal',
    ('termination', "γ v of the next row's state (the next episode's first state)"): 'bootstraps_terminal',
    ('truncation', 'nothing'): 'truncation_as_termination',
    ('truncation', 'γ v(s_t), the value of the state before the time limit'): 'truncation_bootstraps_current',
    ('truncation', 'v(s_t), without γ'): 'truncation_bootstraps_current',
    ('truncation', "γ v of the next row's state (the next episode's first state)"): 'truncation_bootstraps_next_row',
    ('truncation', "v of the next row's state, without γ"): 'truncation_bootstraps_next_row',
    ('truncation', 'v(s_{t+1}) without γ'): 'no_gamma_in_delta',
    ('ordinary step', 'v(s_{t+1}) without γ'): 'no_gamma_in_delta',
    ('segment end', 'nothing'): 'no_segment_bootstrap',
    ('segment end', 'v(s_{t+1}) without γ'): 'no_gamma_in_delta',
}


def _target_relation(case, raw, targets, expected):
    """critic_targets against the code's own advantages (before any normalising): they must
    be those + v(s_t). A Reading where they are those alone (v(s_t) is not 0 here)."""
    want = expected.get('critic_targets')
    if want is None or np.allclose(targets, want, rtol=case.rtol, atol=case.atol):
        return []
    values = case.inputs['states'][:, 0].astype(np.float64)
    if np.allclose(targets - raw, values, rtol=1e-3, atol=1e-4):
        return []   # critic_targets = advantages + v(s_t): they follow the advantages
    next_values = case.inputs['next_states'][:, 0].astype(np.float64)
    if np.allclose(targets - raw, next_values, rtol=1e-3, atol=1e-4) and not np.allclose(values, next_values):
        return [Reading('', 'your critic_targets are the advantages + v(s_{t+1}), the value of the next state; '
                        'they should be the advantages + v(s_t)', ('critic_targets',))]
    if np.allclose(targets, raw, rtol=1e-3, atol=1e-4) and np.abs(values).max() > 0.1:
        return [Reading('target_without_value', 'your critic_targets equal your advantages; they should be the '
                        'advantages + v(s_t) (here v(s_t) is not 0)', ('critic_targets',))]
    return []


def read_restarts(case, a, targets, expected):
    """The restarts probe: any advantage where the sum must restart is carried over."""
    design, T = case.design, case.num_steps
    reward = design.get('reward', 1.0)
    alpha, beta = _unscale(a, int(design['anchor']), int(design['null']), reward)
    if abs(alpha) < 1e-6 or not _transform_holds(a, alpha, beta):
        return []
    raw = (a - beta) / (alpha * reward)   # in units of the reward: 1 where it is earned
    after = [raw[int(k)] for k in design['after']]
    readings = []
    across = raw[int(design['across'])]
    across *= reward
    if not close(across, 0, 1e-4):
        env = int(design['across']) // T
        readings.append(Reading('across_envs', f'the last step of environment {env} gets an advantage of '
                                f'{fmt(across)} from environment {env + 1}, whose first step earns a reward: your '
                                'backward sum runs across the boundary between environments; it must restart '
                                '(a_T = 0) at the end of every segment', ('advantages',)))
    carried = {}
    for name, row, following in (('termination', int(design['termination']), after[0]),
                                 ('truncation', int(design['truncation']), after[1])):
        value = raw[row]   # δ = 0 there: anything is carried over from the next episode
        # carried over: a_t = d × a_{t+1} with a decay d in (0, 1.05], as a backward sum carries (anything
        # else is not a carry, and left unsaid)
        if not close(value, 0, 1e-4) and not close(following, 0, 1e-4) and 0 < value / following <= 1.05:
            carried[name] = (value * reward, row // T)
    if len(carried) == 2:
        (v1, e1), (v2, e2) = carried['termination'], carried['truncation']
        readings.append(Reading('no_reset', f'the step where an episode ends gets an advantage from the next episode: '
                                f'{fmt(v1)} at the termination (environment {e1}, step 0) and {fmt(v2)} at the '
                                f'truncation (environment {e2}, step 0); the running advantage must restart at every '
                                'episode end', ('advantages',)))
    for name, (value, where) in carried.items() if len(carried) == 1 else ():
        mistake = 'carries_over_terminations' if name == 'termination' else 'ignores_truncations'
        readings.append(Reading(mistake, f'the {name} (environment {where}, step 0) gets an advantage of '
                                f'{fmt(value)} from the next episode, which earns a reward at its first step; the '
                                f'running advantage must restart there', ('advantages',)))
    if readings and not (close(alpha, 1) and close(beta, 0, 1e-4)):
        scale = _scale_reading(a, alpha, beta)
        if scale is not None:
            readings.insert(0, scale)
    return readings


GAE_READERS = {'decay': read_decay, 'ends': read_ends, 'restarts': read_restarts}


# ------------------------------------------------------------------------------------
# compute_loss() probes, read together (they share one state, so any extra term is common)
# ------------------------------------------------------------------------------------

# The names of rl_tests.LOSS_PROBES, in order (a case's design['name'] is an index here).
PROBE_NAMES = ('zero', 'flat+', 'steep+', 'steep-', 'flat-', 'far-', 'inside')


@dataclass(frozen=True)
class _Probe:
    case: object
    actor: float      # the student's actor_loss (nan if it is not finite; None if there is none)
    critic: float
    want_actor: float
    want_critic: float

    @property
    def name(self):
        return PROBE_NAMES[int(self.case.design['name'])]

    def __getattr__(self, item):   # r, a, e, v of the design
        names = {'r': 'ratio', 'a': 'advantage', 'e': 'error', 'v': 'value'}
        if item in names:
            return self.case.design[names[item]]
        raise AttributeError(item)

    def right(self, output):
        got, want = (self.actor, self.want_actor) if output == 'actor_loss' else (self.critic, self.want_critic)
        return got is not None and math.isfinite(got) and bool(np.isclose(got, want, rtol=self.case.rtol,
                                                                          atol=self.case.atol))


def read_losses(cases, outputs, expected):
    """{case id: [Reading]} of the loss probes, read together: first what is common to all of
    them (normalising, an extra term, a factor), then each probe's effective ratio -L / a, and
    the critic loss's shape over the errors of all of them."""
    probes = {}
    for case in cases:
        got, want = outputs.get(case.id) or {}, expected.get(case.id, {})
        if 'actor_loss' in want and 'critic_loss' in want:
            value = lambda name: float(got[name]) if name in got and np.ndim(got[name]) == 0 else None  # noqa: E731
            probe = _Probe(case, value('actor_loss'), value('critic_loss'), float(want['actor_loss']),
                           float(want['critic_loss']))
            probes[probe.name] = probe
    readings = {}
    for name, found in list(_read_actor(probes).items()) + list(_read_critic(probes).items()):
        readings.setdefault(probes[name].case.id, []).extend(found)
    return readings


def _read_actor(probes):
    """{probe name: [Reading]} about actor_loss."""
    if all(p.right('actor_loss') for p in probes.values() if p.actor is not None):
        return {}
    moving = [p for p in probes.values() if p.a != 0 and p.actor is not None]
    if moving and all(math.isnan(p.actor) for p in moving):
        return {p.name: [Reading('normalized_advantages', 'on a batch of one transition your actor loss is NaN: the '
                                 'advantages are normalised inside compute_loss (the sample standard deviation of one '
                                 'value is NaN); compute_loss must use them as given', ('actor_loss',))]
                for p in moving}
    if moving and all(abs(p.actor) < 1e-6 for p in moving):
        return {p.name: [Reading('normalized_advantages', 'your actor loss is 0 on every batch of one transition, '
                                 'whatever its advantage: the advantages are normalised inside compute_loss (one '
                                 'advantage minus the mean of one is 0); compute_loss must use them as given',
                                 ('actor_loss',))] for p in moving}
    recomputed = _read_recomputed_advantages(probes)
    if recomputed:
        return recomputed
    readings = {}
    zero = probes.get('zero')
    extra = zero.actor if zero is not None and zero.actor is not None and math.isfinite(zero.actor) else 0.0
    if abs(extra) > 1e-6:
        readings['zero'] = [Reading('actor_extra_term', f'with an advantage of 0 your actor loss is {fmt(extra)}; it '
                                    'should be 0 (min(r * 0, clip(r) * 0) = 0): it has a term that does not depend on '
                                    'the advantage, such as an entropy bonus', ('actor_loss',))]
    factor = 1.0
    inside = probes.get('inside')
    if inside is not None and inside.actor is not None and math.isfinite(inside.actor) and inside.a != 0:
        # right, or one of the mistakes that pick the wrong term, all times a factor (plus the extra term)
        k = (extra - inside.actor) / (inside.r * inside.a)
        for family, predicted in (('', EXPECTED_LABELS),) + tuple(FAMILIES.items()):
            fits = k > 0 and all(p.actor is not None and math.isfinite(p.actor) and close(
                p.actor, extra - k * _ratio_value(p, predicted[p.name]) * p.a, 1e-3)
                for p in probes.values() if p.name in predicted)
            if not fits:
                continue
            if family:
                for p in probes.values():
                    if p.name in predicted and predicted[p.name] != EXPECTED_LABELS[p.name]:
                        rho = _ratio_value(p, predicted[p.name])
                        readings.setdefault(p.name, []).append(Reading(family, (
                            f'with r = {fmt(p.r)} and a = {fmt(p.a)} your objective is {fmt(rho)} × a '
                            f'({RATIO_WORDS[predicted[p.name]]}); min(r * a, clip(r) * a) is '
                            f'{fmt(-p.want_actor / p.a)} × a here ({EXPECTED_WORDS[p.name]})'), ('actor_loss',)))
            if not close(k, 1):
                readings.setdefault('inside', []).append(Reading(
                    'actor_factor', f'your actor loss is {fmt(k)} × the clipped objective (here {fmt(inside.actor)}'
                    f'{" with its extra term" if abs(extra) > 1e-6 else ""} instead of {fmt(inside.want_actor)})',
                    ('actor_loss',)))
            return readings
    labels = {}
    for p in probes.values():
        if p.a == 0 or p.actor is None or not math.isfinite(p.actor) or p.right('actor_loss'):
            continue
        rho = (extra - p.actor) / (factor * p.a)
        labels[p.name] = (_ratio_label(p, rho), rho)
    mistake_of = _actor_mistakes(probes, labels)
    for name, (label, rho) in labels.items():
        p = probes[name]
        words = (f'the bound c = {fmt(rho)} of a dual clip, max(min(r * a, clip(r) * a), c * a)'
                 if mistake_of.get(name) == 'dual_clip' else RATIO_WORDS.get(label, 'a number that is neither'))
        detail = (f'with r = {fmt(p.r)} and a = {fmt(p.a)} your objective is {fmt(rho)} × a '
                  f'({words}); min(r * a, clip(r) * a) is '
                  f'{fmt(-p.want_actor / p.a)} × a here ({EXPECTED_WORDS[name]})')
        readings.setdefault(name, []).append(Reading(mistake_of.get(name, ''), detail, ('actor_loss',)))
    return readings


def _objective_ratio(p):
    """The effective ratio -L / a that the exercise's objective gives on probe p for any advantage
    of the sign of its own (the same side of the clip): -want / a, or r itself where a = 0 and r
    lies inside the clip range, as the zero probe's does. None where the probe does not say."""
    if p.a != 0:
        return -p.want_actor / p.a
    eps = p.case.epsilon
    return p.r if 1 - eps < p.r < 1 + eps else None


def _read_recomputed_advantages(probes):
    """{probe name: [Reading]} where the actor loss is the objective of critic_targets - v(s_t),
    the critic's error e, instead of the advantage a given: on every probe (most have a = e and
    are right; those with a != e show it; e is on the same side of the clip as a). {} where any
    probe disagrees."""
    shown = [p for p in probes.values() if p.actor is not None]
    if not shown or not all(math.isfinite(p.actor) and _objective_ratio(p) is not None and (p.a == 0 or p.a * p.e > 0)
                            and close(p.actor, -_objective_ratio(p) * p.e) for p in shown):
        return {}
    differ = [p for p in shown if not p.right('actor_loss')]
    if not differ:
        return {}
    return {p.name: [Reading('actor_uses_critic_error', (
        f'with a = {fmt(p.a)} and critic_targets - v(s_t) = {fmt(p.e)} your actor loss is {fmt(p.actor)}, the '
        f'objective of an advantage of {fmt(p.e)}; with the advantage given it is {fmt(p.want_actor)}'),
        ('actor_loss',))] for p in differ}


RATIO_WORDS = {'r': 'r itself: the unclipped term', 'high': '1 + ε: the clipped term', 'low': '1 - ε: the clipped term',
               'log r': 'log r: the ratio without exp()', '1/r': '1 / r: the ratio inverted', 'one': '1: a ratio of 1',
               'sign': 'the right size with the wrong sign'}
EXPECTED_WORDS = {'flat+': 'clip(r) = 1 + ε: the gain stops there', 'steep+': 'the unclipped r * a is the smaller',
                  'steep-': 'the unclipped r * a is the smaller', 'flat-': 'clip(r) = 1 - ε: the loss stops there',
                  'far-': 'the unclipped r * a, however large r is', 'inside': 'r inside the clip range: r * a'}


def _ratio_value(p, label):
    """The effective ratio a label stands for on a probe."""
    eps = p.case.epsilon
    return {'r': p.r, 'high': 1 + eps, 'low': 1 - eps}[label]


def _ratio_label(p, rho):
    """What an effective ratio -L / a is, in the probe's own numbers ('other' if none)."""
    eps = p.case.epsilon
    want = -p.want_actor / p.a
    candidates = {'r': p.r, 'high': 1 + eps, 'low': 1 - eps, 'log r': math.log(p.r), '1/r': 1 / p.r, 'one': 1.0,
                  'sign': -want}
    found = [label for label, value in candidates.items() if close(rho, value) and not close(value, want)]
    return found[0] if len(found) == 1 else 'other'


# The effective ratio -L / a each probe shows under the exercise's objective and under the
# mistakes that choose the wrong term (labels of _ratio_label; a bound X reads as 'other').
EXPECTED_LABELS = {'flat+': 'high', 'steep+': 'r', 'steep-': 'r', 'flat-': 'low', 'far-': 'r', 'inside': 'r'}
FAMILIES = {
    'max_not_min': {'flat+': 'r', 'steep+': 'low', 'steep-': 'high', 'flat-': 'r', 'far-': 'high', 'inside': 'r'},
    'only_clipped': {'flat+': 'high', 'steep+': 'low', 'steep-': 'high', 'flat-': 'low', 'far-': 'high',
                     'inside': 'r'},
    'no_clipping': {'flat+': 'r', 'steep+': 'r', 'steep-': 'r', 'flat-': 'r', 'far-': 'r', 'inside': 'r'},
}


def _actor_mistakes(probes, labels):
    """{probe name: mistake id} for the probes whose effective ratio a known mistake explains,
    judged from all probes together: a mistake is named only where every probe agrees with it
    (those it changes read what it gives, the others are right)."""
    label = {name: value[0] for name, value in labels.items()}
    rho = {name: value[1] for name, value in labels.items()}
    shown = [name for name in EXPECTED_LABELS if name in probes and probes[name].actor is not None]
    if labels and all(value == 'sign' for value in label.values()):
        return {name: 'actor_sign' for name in labels}
    for form, mistake in (('log r', 'ratio_without_exp'), ('1/r', 'inverted_ratio'), ('one', 'ratio_one')):
        if form in label.values() and all(value in (form, 'other') for value in label.values()):
            return {name: mistake for name in labels}

    def agrees(predicted):
        """Every probe shows what `predicted` ({probe: label}) says: read where it differs, right elsewhere."""
        return all(label.get(name, EXPECTED_LABELS[name]) == predicted.get(name, EXPECTED_LABELS[name])
                   for name in shown)

    for mistake, predicted in FAMILIES.items():
        if agrees(predicted):
            return {name: mistake for name in labels}
    eps = next(iter(probes.values())).case.epsilon
    found = {}
    # other clip bounds: the clipped side reads a constant between 1 and r; every other probe is right
    bounds = {name: rho[name] for name in ('flat+', 'flat-') if label.get(name) == 'other' and (
        1 < rho[name] < probes[name].r if name == 'flat+' else probes[name].r < rho[name] < 1)}
    if bounds and all(name in bounds for name in label):
        found.update({name: 'clip_bounds' for name in bounds})
    far = probes.get('far-')
    if set(label) == {'far-'} and label['far-'] == 'other' and 1 + eps < rho['far-'] < far.r:
        found['far-'] = 'dual_clip'
    return found


def _huber(e):
    return 0.5 * e * e if abs(e) < 1 else abs(e) - 0.5


def _read_critic(probes):
    """{probe name: [Reading]} about critic_loss: its shape over the probes' errors."""
    usable = [p for p in probes.values() if p.critic is not None and math.isfinite(p.critic)]
    failing = [p for p in usable if not p.right('critic_loss')]
    if not failing:
        return {}
    inert = [p for p in usable if p.a == p.e]   # v = the old value: value clipping has nothing to clip

    def factor(shape, among=inert):
        ks = [p.critic / shape(p) for p in among if shape(p) != 0]
        return ks[0] if ks and all(close(k, ks[0]) for k in ks) else None

    readings = {}

    def say(p, mistake, detail):
        readings.setdefault(p.name, []).append(Reading(mistake, detail, ('critic_loss',)))

    square = factor(lambda p: p.e * p.e)
    if square is not None:
        mistake = '' if close(square, 1) else 'critic_half' if close(square, 0.5) else 'critic_factor'
        for p in failing:
            if close(p.critic, square * p.e * p.e):
                say(p, mistake, f'your critic loss is {fmt(square)} × (v_target - v(s_t))^2: at an error of {fmt(p.e)}'
                    f' it is {fmt(p.critic)}, not {fmt(p.e * p.e)}')
                continue
            clip = _value_clip(p, p.critic / square)
            if clip is not None:
                say(p, 'critic_clipped', f'with an error of {fmt(p.e)} and an advantage of {fmt(p.a)} your critic loss '
                    f'is {fmt(p.critic)}: the value is clipped around the old value critic_targets - advantages '
                    f'(within ±{fmt(clip)}); the exercise uses the plain squared error, {fmt(p.want_critic)}')
                if mistake:
                    say(p, mistake, f'{fmt(square)} × the value-clipped squared error here ({fmt(p.critic / square)} '
                        'without the factor)')
            else:
                say(p, '', f'with an error of {fmt(p.e)} your critic loss is {fmt(p.critic)}; the squared error is '
                    f'{fmt(p.want_critic)}')
        return readings
    for shape, mistake, words in ((lambda p: abs(p.e), 'critic_abs', '|v_target - v(s_t)|'),
                                  (lambda p: _huber(p.e), 'critic_huber', 'the smooth-L1 (Huber) loss'),
                                  (lambda p: (p.a - p.v) ** 2, 'critic_uses_advantages', '(advantages - v(s_t))^2')):
        k = factor(shape, usable if mistake == 'critic_uses_advantages' else inert)
        if k is not None:
            for p in failing:
                say(p, mistake, f'your critic loss is {"" if close(k, 1) else fmt(k) + " × "}{words}: at an error of '
                    f'{fmt(p.e)} it is {fmt(p.critic)}; the squared error is {fmt(p.want_critic)}')
            return readings
    right = [p for p in inert if close(p.critic, p.e * p.e)]
    capped = [p for p in inert if p.critic < p.e * p.e - 1e-3]
    if right and capped and all(close(p.critic, capped[0].critic) for p in capped):
        for p in failing:
            say(p, 'critic_capped', f'your critic loss stops at {fmt(capped[0].critic)}: at an error of {fmt(p.e)} it '
                f'is {fmt(p.critic)}, not the squared error {fmt(p.want_critic)}')
        return readings
    for p in failing:
        say(p, '', f'with an error of {fmt(p.e)} your critic loss is {fmt(p.critic)}; the squared error is '
            f'{fmt(p.want_critic)}')
    return readings


def _value_clip(p, q):
    """The half-width c of a value clipping around the old value that gives the critic loss q
    (already divided by its factor) on probe p: max(e^2, (a - s c)^2) = q with s = sign(a - e)."""
    if q <= p.e * p.e + 1e-6:
        return None
    s = 1.0 if p.a > p.e else -1.0
    root = math.sqrt(q)
    for c in (s * (p.a - root), s * (p.a + root)):
        if 0 < c < abs(p.a - p.e) and close((p.a - s * c) ** 2, q):
            return c
    return None
