"""Classes of feedback failure a red-team review found, each held by a test that fails when the
class comes back: a wrong verdict (a dual clip at DI-engine's bound), a wrong name (advantages
recomputed in the loss), a probe constant that a hard-coded rate can imitate, lines that say
the code does what it should, and lines that contradict each other in words (which
instructor.feedback_checks.contradictions() must catch)."""

import dataclasses
import functools
import os

import pytest
import torch

import rl_tests
from instructor import ppo_mistakes
from instructor.feedback_checks import contradictions
from ppo_reference import PPO
from rl_kit import harness, judging
from rl_kit.reading import HARD_CODED_RATES


@functools.lru_cache(maxsize=None)
def report_of(cls):
    return harness.collect(rl_tests.test_ppo(cls))


def named(report):
    return [m.id for m in report.mistakes]


def text_of(report, case_id):
    index = [case.id for case in rl_tests.make_cases()].index(case_id)
    case = report.cases[index]
    return ' '.join([f.message for f in case.failures] + case.notes + [m.title for m in case.mistakes]
                    + [d for ds in case.details.values() for d in ds] + case.observed + [case.partial])


def loss_class(name, loss):
    """A PPO whose compute_loss is loss(self, ratio, advantages, critic_targets, states), the critic
    loss the reference's plain squared error."""
    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        ratio = torch.exp(self.compute_log_probs(states, actions) - log_probs_old)
        actor_loss = loss(self, ratio, advantages, critic_targets, states)
        return actor_loss, ((critic_targets - self.compute_values(states)) ** 2).mean()
    return type(name, (PPO,), {'compute_loss': compute_loss})


def dual_clip(c):
    def loss(self, ratio, advantages, critic_targets, states):
        clipped = torch.min(ratio * advantages, ratio.clamp(1 - self.epsilon, 1 + self.epsilon) * advantages)
        return -torch.where(advantages < 0, torch.max(clipped, c * advantages), clipped).mean()
    return loss_class(f'DualClip{c}', loss)


# ------------------------------------------------------------------ A: a verdict a common bound hid

@pytest.mark.parametrize('c', [2.0, 3.0, 5.0, 10.0])
def test_a_dual_clip_fails_and_is_named_whatever_its_common_bound(c):
    # DI-engine's documented bound is 5: no case had a ratio above it, so "All cases pass"
    report = report_of(dual_clip(c))
    assert not all(case.passed for case in report.cases if case.group.startswith('loss')), report.summary_line()
    assert named(report) == ['dual_clip'], named(report)
    assert f'the bound c = {c:g} of a dual clip' in text_of(report, 'loss_probe_far_neg')


def test_the_far_probe_lies_above_the_common_dual_clip_bounds_for_any_seed():
    for seed in (None, 1, 7, 2024):
        far = next(case for case in rl_tests.make_cases(seed) if case.id == 'loss_probe_far_neg')
        assert far.design['ratio'] > 10


# ------------------------------------------------------------------ B: the name of a recomputed advantage

class RecomputedAdvantages(PPO):
    """advantages = critic_targets - v(s) inside compute_loss, with the current critic."""
    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        values = self.compute_values(states)
        advantages = critic_targets - values
        ratio = torch.exp(self.compute_log_probs(states, actions) - log_probs_old)
        actor_loss = -torch.min(ratio * advantages, ratio.clamp(1 - self.epsilon, 1 + self.epsilon) * advantages).mean()
        return actor_loss, ((critic_targets - values) ** 2).mean()


def test_advantages_recomputed_in_the_loss_are_named_so_not_an_extra_term():
    report = report_of(RecomputedAdvantages)
    assert named(report) == ['actor_uses_critic_error'], named(report)
    assert 'with a = 0 and critic_targets - v(s_t) = 1 your actor loss is' in text_of(report, 'loss_probe_zero')
    assert 'entropy' not in report.to_text() and 'a factor too many' not in report.to_text()


# ------------------------------------------------------------------ E: rates a hard-coded number can imitate

def near_hard_coded(x):
    return any(abs(x - c * d) <= 0.005 for c in HARD_CODED_RATES for d in HARD_CODED_RATES)


def test_the_kits_rates_keep_away_from_hard_coded_ones_for_any_seed():
    # the probes' and the kit's own GAE cases' (γ = 0.99 is the long case's point: a real setting)
    for seed in (None,) + tuple(range(40)):
        for case in rl_tests.make_cases(seed):
            if case.function == 'compute_advantages' and case.group == 'gae' and case.id != 'gae_long':
                # λ = 0 and λ = 1 are those cases' point: their γ alone
                rates = (case.gamma,) if case.id.startswith('gae_lambda_') else (
                    case.gamma, case.lmbda, case.gamma * case.lmbda)
                assert not any(near_hard_coded(x) for x in rates), (seed, case.id, rates)


class HardCodedLambda(PPO):
    """Hard-coded rates: the backward sum decays by `decay(self)` per step (δ_t as it should be)."""
    decay = staticmethod(lambda self: 0.9)

    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        truncations = torch.zeros_like(terminations) if truncations is None else truncations
        with torch.no_grad():
            values, next_values = self.compute_values(states), self.compute_values(next_states)
        deltas = rewards + self.gamma * next_values * (~terminations) - values
        ends = terminations | truncations
        advantages = torch.zeros_like(deltas)
        running = 0.0
        for k in reversed(range(len(deltas))):
            last = k % self.num_steps == self.num_steps - 1
            running = deltas[k] + (0.0 if ends[k] or last else self.decay(self) * running)
            advantages[k] = running
        return advantages, advantages + values


class HardCodedLambdaTimesGamma(HardCodedLambda):
    decay = staticmethod(lambda self: self.gamma * 0.95)


@pytest.mark.parametrize('cls,words', [
    (HardCodedLambda, 'decays by 0.9 per step (0.9: is γ or λ written as a number instead of self.gamma'),
    (HardCodedLambdaTimesGamma, 'per step (γ × 0.95: is λ written as 0.95 instead of self.lmbda?)'),
])
def test_a_hard_coded_rate_is_read_as_one_not_as_gamma_or_lambda(cls, words):
    report = report_of(cls)
    assert words in text_of(report, 'gae_probe_decay'), text_of(report, 'gae_probe_decay')
    assert 'no_lambda' not in named(report) and 'no_gamma_in_sum' not in named(report), named(report)


# ------------------------------------------------------------------ C, H, I: what a probe reads, exactly

def test_a_sum_carried_over_an_episode_end_is_said_so_not_as_the_right_bootstrap():
    report = report_of(ppo_mistakes.mutant('across_envs', 'carries_over_terminations'))
    text = text_of(report, 'gae_probe_ends')
    assert 'carries γλ × a_{t+1} =' in text and 'over the termination from the next episode' in text, text
    assert contradictions(report, rl_tests.make_cases()) == []


def test_a_value_stored_before_its_update_is_one_step_late_not_a_skipped_step():
    report = report_of(ppo_mistakes.mutant('stored_late'))
    assert named(report) == ['stored_late'] and 'skipped' not in report.to_text()
    assert "your advantage at step t is GAE's at step t + 1" in text_of(report, 'gae_probe_decay')


class MaskOnDelta(PPO):
    """a_t = (1 - done_t) δ_t + γλ a_{t+1}: the mask on δ_t instead of on the carried sum."""
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        truncations = torch.zeros_like(terminations) if truncations is None else truncations
        with torch.no_grad():
            values, next_values = self.compute_values(states), self.compute_values(next_states)
        deltas = rewards + self.gamma * next_values * (~terminations) - values
        keep = (~(terminations | truncations)).float()
        advantages = torch.zeros_like(deltas)
        running = 0.0
        for k in reversed(range(len(deltas))):
            running = keep[k] * deltas[k] + (0.0 if k % self.num_steps == self.num_steps - 1 else
                                             self.gamma * self.lmbda * running)
            advantages[k] = running
        return advantages, advantages + values


def test_a_match_on_one_case_that_the_others_rule_out_is_not_named():
    # with λ = 0 and a termination at step 0 the mask on δ_t gives what skipping step 0 gives, on that case only
    report = report_of(MaskOnDelta)
    assert 'skips_first_step' not in named(report), named(report)
    assert 'carries_over_terminations' in named(report) or 'no_reset' in named(report), named(report)


# ------------------------------------------------------------------ G: notes that cannot apply

def test_a_factor_on_one_transition_is_never_called_a_sum():
    assert 'a sum instead of a mean' not in judging._scalar_notes('critic_loss', 4.0, 1.0, 1)[0]
    assert 'a sum instead of a mean' in judging._scalar_notes('critic_loss', 4.0, 1.0, 4)[0]
    assert 'a sum instead of a mean' not in judging._scalar_notes('critic_loss', 3.0, 1.0, 4)[0]


# ------------------------------------------------------------------ the checker catches each kind of line

def injected(report_cls, case_id, **changes):
    """A report of report_cls with one case's lines replaced: (report, cases)."""
    report = harness.collect(rl_tests.test_ppo(report_cls))
    cases = rl_tests.make_cases()
    index = [case.id for case in cases].index(case_id)
    report.cases[index] = dataclasses.replace(report.cases[index], **changes)
    return report, cases


@pytest.mark.parametrize('case_id,changes,words', [
    ('gae_probe_ends', {'observed': ['at the termination (environment 0, step 0) your advantage is -0.714; with r = 0.5 '
                                     'it should be -1: your δ_t adds nothing to r - v(s_t); it should add nothing '
                                     '(a terminal state has no future)']}, "adds 'nothing' and that it should"),
    ('gae_probe_ends', {'observed': ['at the ordinary step (environment 2, step 0) your advantage is -3.276; your δ_t '
                                     'adds γ v(s_{t+1}) to r - v(s_t); it should add γ v(s_{t+1})']},
     'and that it should'),
    ('gae_probe_ends', {'partial': 'λ is missing: this explains advantages, not critic_targets, which is wrong in '
                                   'another way too'}, 'only through the advantages, and a hint'),
    ('gae_probe_ends', {'notes': ['only environments 0, 1, 2 are wrong; the other is right.',
                                  'only environments 1, 2 are wrong; the others are right.']},
     'without saying which output'),
])
def test_the_checker_catches_lines_that_contradict_in_words(case_id, changes, words):
    report, cases = injected(ppo_mistakes.mutant('no_lambda'), case_id, **changes)
    found = contradictions(report, cases)
    assert any(words in line for line in found), found


def test_the_checker_catches_a_title_repeated_in_its_detail():
    report, cases = injected(ppo_mistakes.mutant('critic_half'), 'loss_probe_flat_pos',
                             details={'critic_half': ['and the critic loss has a factor 0.5']})
    assert any('repeated in its detail' in line for line in contradictions(report, cases))


@pytest.mark.parametrize('cls', [RecomputedAdvantages, HardCodedLambda, HardCodedLambdaTimesGamma, MaskOnDelta,
                                 dual_clip(5.0), ppo_mistakes.mutant('critic_half', 'critic_clipped'),
                                 ppo_mistakes.mutant('across_envs', 'no_reset', 'truncation_as_termination')],
                         ids=lambda cls: cls.__name__)
def test_these_reports_never_contradict_themselves(cls):
    assert contradictions(report_of(cls), rl_tests.make_cases()) == []


def test_notes_of_two_outputs_say_which_output_they_are_about():
    report = report_of(ppo_mistakes.mutant('across_envs', 'no_reset', 'truncation_as_termination', 'target_td'))
    for case in report.cases:
        only = [note for note in case.notes if 'only environment' in note]
        assert len(only) <= 1 or all(note.startswith(('advantages:', 'critic_targets:')) for note in only), only
    assert contradictions(report, rl_tests.make_cases()) == []


# ------------------------------------------------------------------ real code: no wrong name, no contradiction

from test_feedback_words import DEV, load  # noqa: E402 - the dev corpus and its loader, defined once


@pytest.mark.parametrize('path', DEV, ids=lambda path: os.path.basename(path)[:-3])
def test_third_party_code_gets_no_wrong_name_and_no_contradiction(path):
    # a mistake named is one of the file's BUGS (or a part of one); no line contradicts another
    module = load(path)
    report = report_of(module.Implementation)
    allowed = {i for ids in module.BUGS.values() for i in ids}
    allowed |= {part for i in allowed for part in rl_tests.MISTAKES[i].parts}
    named_ = {m.id for case in report.cases for m in case.mistakes}
    assert named_ <= allowed, sorted(named_ - allowed)
    assert contradictions(report, rl_tests.make_cases()) == []


# ------------------------------------------------------------------ J: silent patterns, and a dropped parameter

class JointRatio(PPO):
    """One ratio for the whole batch: exp(sum of the log-ratios)."""
    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        ratio = torch.exp((self.compute_log_probs(states, actions) - log_probs_old).sum())
        actor_loss = -torch.min(ratio * advantages, ratio.clamp(1 - self.epsilon, 1 + self.epsilon) * advantages).mean()
        return actor_loss, ((critic_targets - self.compute_values(states)) ** 2).mean()


def test_code_that_mixes_the_transitions_of_a_batch_is_told_so():
    report = report_of(JointRatio)
    batch = [case for case, spec in zip(report.cases, rl_tests.make_cases())
             if spec.function == 'compute_loss' and len(spec.inputs['states']) > 1]
    assert batch and all('something mixes the transitions' in ' '.join(case.notes) for case in batch if not case.passed)
    # a mistake that explains it (a sum over the batch) is named instead
    assert 'something mixes' not in report_of(ppo_mistakes.mutant('critic_sum')).to_text()


class WithoutTruncations(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations):
        return super().compute_advantages(states, rewards, next_states, terminations)


def test_a_dropped_parameter_is_told_to_keep_the_hand_outs_signature():
    text = report_of(WithoutTruncations).to_text()
    assert "keep the hand-out's signature, compute_advantages(self, states, rewards, next_states, terminations, " \
           "truncations=None)" in text


@pytest.mark.parametrize('path,words', [
    ('hand_lambda_in_delta.py', 'your δ_t adds γλ v(s_{t+1}) to r - v(s_t); it should add γ v(s_{t+1})'),
    ('hand_target_next_value.py', 'your critic_targets are the advantages + v(s_{t+1})'),
])
def test_a_behaviour_without_a_name_is_still_read(path, words):
    report = report_of(load(os.path.join(os.path.dirname(DEV[0]), path)).Implementation)
    assert words in text_of(report, 'gae_probe_ends'), text_of(report, 'gae_probe_ends')
