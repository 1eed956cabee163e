"""The mutation suite: wrong implementations must fail grading, without crashing it, and
the feedback must name the mistake; correct implementations of any style must pass.
Also code written the way others write PPO (CleanRL, Spinning Up, textbooks, homework):
its conventions must be named, several bugs at once must each be named, and the verdicts
must not depend on the numbers of the cases (the grader draws fresh ones every run)."""

import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from instructor import ppo_mistakes
from rl_kit import harness as rl_harness
import rl_tests
from correct_styles import Float64MatrixPPO, ListLoopPPO
from ppo_reference import PPO
from rl_kit.harness import Kind
from rl_kit.mistakes import base

NUMBER_OF_CASES = len(rl_tests.make_cases())


@functools.lru_cache(maxsize=None)
def grade(cls):
    report = rl_harness.collect(rl_tests.test_ppo(cls))
    assert report.stopped is None, report.stopped
    return report


def named(report):
    return [mistake.id for mistake in report.mistakes]


def failure_messages(report):
    return [failure.message for failure in report.failures()]


@pytest.mark.parametrize('mistake', ppo_mistakes.MISTAKE_IDS)
def test_every_named_mistake_fails_and_is_named_first(mistake):
    report = grade(ppo_mistakes.mutant(mistake))
    assert not report and report.total == NUMBER_OF_CASES
    # the mistake named first is this one (a variant is named by its id): the cases tell the mistakes apart
    assert named(report)[0] == base(mistake), named(report)
    assert report.summary_line().startswith(f'{report.cases_passed} of {NUMBER_OF_CASES} cases pass; likely '
                                            f'mistakes: {rl_tests.MISTAKES[base(mistake)].title}')


@pytest.mark.parametrize('mistake', ppo_mistakes.LOSS_MISTAKES)
def test_a_loss_mistake_never_fails_an_advantages_case(mistake):
    # compute_loss() is judged on fixed advantages and targets, never on the student's own
    report = grade(ppo_mistakes.mutant(mistake))
    assert all(case.passed for case in report.cases if case.group in ('gae_course', 'gae'))


@pytest.mark.parametrize('mistake', ppo_mistakes.GAE_MISTAKES)
def test_an_advantages_mistake_never_fails_a_loss_case(mistake):
    report = grade(ppo_mistakes.mutant(mistake))
    assert all(case.passed for case in report.cases if case.group in ('loss_course', 'loss'))


@pytest.mark.parametrize('mistakes', [
    ('target_td', 'carries_over_terminations'),   # the example: it was called "truncation as termination"
    ('no_lambda', 'ignores_truncations'), ('not_reversed', 'target_without_value'),
    ('across_envs', 'bootstraps_terminal'), ('max_not_min', 'critic_half'),
    ('normalized_advantages', 'critic_clipped'), ('ratio_without_exp', 'critic_huber'),
    # two bugs that show in the same cases: matched as a pair
    ('skips_last_step', 'truncation_bootstraps_current'), ('no_lambda', 'carries_over_terminations'),
    ('ratio_without_exp', 'only_clipped'),
])
def test_several_mistakes_are_each_named(mistakes):
    report = grade(ppo_mistakes.mutant(*mistakes))
    assert set(mistakes) <= set(named(report)), named(report)
    assert set(named(report)[:len(mistakes) + 1]) >= set(mistakes), named(report)


@functools.lru_cache(maxsize=None)
def fresh_cases(seed):
    """The grader's way: fresh cases, with the reference's and every mistake's outputs computed live."""
    return [(case, rl_tests.observe(PPO, case),
             {m: rl_tests.observe(ppo_mistakes.mutant(m), case) for m in ppo_mistakes.applicable(case)})
            for case in rl_tests.make_cases(seed)]


def live_report(cls, seed):
    cases = [case for case, _, _ in fresh_cases(seed)]
    return rl_harness.Report(rl_tests.judge_cases(
        cases, {case.id: rl_tests.observe(cls, case) for case in cases},
        {case.id: expected for case, expected, _ in fresh_cases(seed)},
        {case.id: mistakes for case, _, mistakes in fresh_cases(seed)}))


@pytest.mark.parametrize('mistakes', [('no_lambda',), ('truncation_as_termination',), ('carries_over_terminations',),
                                      ('skips_last_step',), ('only_clipped',), ('min_of_means',),
                                      ('clipped_advantage',), ('critic_clipped',), ('target_td', 'no_reset')])
def test_verdicts_do_not_depend_on_the_numbers(mistakes):
    # the grader's fresh cases: the same cases pass and the same mistake is named first
    # whatever the secret seed, and the kit's own cases agree with the stored ones
    cls = ppo_mistakes.mutant(*mistakes)
    first, second = live_report(cls, 11), live_report(cls, 2024)
    assert [case.passed for case in first.cases] == [case.passed for case in second.cases]
    assert named(first)[0] == named(second)[0] == mistakes[0], (named(first), named(second))
    fixed = grade(cls)
    own = [index for index, case in enumerate(fixed.cases) if not case.group.endswith('_course')]
    assert [fixed.cases[i].passed for i in own] == [first.cases[i].passed for i in own]


def test_the_error_location_is_where_a_backward_sum_goes_wrong():
    # ignoring a termination changes a_t at the termination and before it, never after: the
    # report points at the latest wrong step, which is the termination itself
    report = grade(ppo_mistakes.mutant('bootstraps_terminal'))
    case = next(case for case in report.cases if case.title.startswith('3 environments × 6 steps, terminations'))
    message = case.failures[0].message
    assert 'e.g. the last wrong step of environment 0, step' in message and '(the episode terminates here)' in message


# ----------------------------------------------------------------- bad outputs and crashes

class ReturnsNumpy(PPO):
    def compute_advantages(self, *args):
        advantages, critic_targets = super().compute_advantages(*args)
        return advantages.numpy(), critic_targets.numpy()


class ReturnsColumn(PPO):
    def compute_advantages(self, *args):
        advantages, critic_targets = super().compute_advantages(*args)
        return advantages.unsqueeze(1), critic_targets.unsqueeze(1)


class ReturnsFloat64(PPO):
    def compute_advantages(self, *args):
        advantages, critic_targets = super().compute_advantages(*args)
        return advantages.double(), critic_targets.double()


class ReturnsNaN(PPO):
    def compute_advantages(self, *args):
        advantages, critic_targets = super().compute_advantages(*args)
        return advantages * float('nan'), critic_targets


class ReturnsOneTensor(PPO):
    def compute_advantages(self, *args):
        return super().compute_advantages(*args)[0]


class ReturnsAttachedAdvantages(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        advantages, critic_targets = super().compute_advantages(states, rewards, next_states, terminations,
                                                                truncations)
        return advantages + 0 * self.compute_values(states), critic_targets


class RaisesIndexError(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        advantages = [0.0] * len(states)
        return advantages[len(states) + 1], None


class NotStarted(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        raise NotImplementedError()

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        raise NotImplementedError()


class ModifiesInputs(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        rewards *= 1.0  # in place: changes the caller's tensor only if the values change
        rewards += 0.0
        terminations[:] = False
        return super().compute_advantages(states, rewards, next_states, terminations, truncations)


class DetachedLosses(PPO):
    def compute_loss(self, *args):
        actor_loss, critic_loss = super().compute_loss(*args)
        return actor_loss.detach(), critic_loss.detach()


class LossesAsFloats(PPO):
    def compute_loss(self, *args):
        actor_loss, critic_loss = super().compute_loss(*args)
        return actor_loss.item(), critic_loss.item()


class LossesNotAveraged(PPO):
    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        ratios = torch.exp(self.compute_log_probs(states, actions) - log_probs_old)
        clipped = torch.clamp(ratios, 1 - self.epsilon, 1 + self.epsilon)
        actor_loss = -torch.min(ratios * advantages, clipped * advantages)
        critic_loss = (critic_targets - self.compute_values(states)) ** 2
        return actor_loss, critic_loss


class LossReturnsNone(PPO):
    def compute_loss(self, *args):
        return None


class LossWithDetachedClipTerm(PPO):
    # right values, wrong gradients: the unclipped term is cut off from the graph
    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        ratios = torch.exp(self.compute_log_probs(states, actions) - log_probs_old)
        clipped = torch.clamp(ratios, 1 - self.epsilon, 1 + self.epsilon)
        actor_loss = -torch.min((ratios * advantages).detach(), clipped * advantages).mean()
        critic_loss = ((critic_targets - self.compute_values(states)) ** 2).mean()
        return actor_loss, critic_loss


class NetworksWithoutBias(PPO):
    # a student who changed the given networks: the seed's weight setup fails
    def __init__(self, state_dim, num_actions, *args):
        super().__init__(state_dim, num_actions, *args)
        self.actor[0] = torch.nn.Linear(state_dim, 128, bias=False)


class LossBackwardInside(PPO):
    # a debugging line left in: backward() frees the graph the tests differentiate again
    def compute_loss(self, *args):
        actor_loss, critic_loss = super().compute_loss(*args)
        (actor_loss + critic_loss).backward()
        return actor_loss, critic_loss


class ConstructorRaises(PPO):
    def __init__(self, *args):
        raise TypeError('oops')


@pytest.mark.parametrize('cls,kind,message', [
    (ReturnsNumpy, Kind.WRONG_TYPE, 'advantages is a numpy array; return a torch.Tensor'),
    (ReturnsColumn, Kind.WRONG_SHAPE, 'advantages has shape (16, 1), expected (16,) (same number of elements: '
                                      'reshape or squeeze it)'),
    (ReturnsFloat64, Kind.WRONG_DTYPE, 'advantages has dtype torch.float64, expected torch.float32'),
    (ReturnsNaN, Kind.NOT_FINITE, 'advantages contains NaN or infinity: [nan, nan'),
    (ReturnsOneTensor, Kind.WRONG_TYPE, 'compute_advantages() must return 2 values, got a Tensor'),
    (ReturnsAttachedAdvantages, Kind.GRADIENT, 'advantages requires gradients; it should be detached'),
    (RaisesIndexError, Kind.RAISED, 'compute_advantages() raised IndexError: list index out of range '
                                    '(in compute_advantages, line'),
    (NotStarted, Kind.NOT_IMPLEMENTED, 'compute_advantages() is not implemented yet'),
    (NotStarted, Kind.NOT_IMPLEMENTED, 'compute_loss() is not implemented yet'),
    (ModifiesInputs, Kind.IN_PLACE, 'compute_advantages() changed its input tensors in place'),
    (DetachedLosses, Kind.GRADIENT, 'actor_loss does not require gradients'),
    (DetachedLosses, Kind.GRADIENT, 'critic_loss does not require gradients'),
    (LossesAsFloats, Kind.WRONG_TYPE, 'actor_loss must be a torch.Tensor, got float'),
    (LossesNotAveraged, Kind.WRONG_SHAPE, 'actor_loss has shape (12,), expected ()'),
    (LossReturnsNone, Kind.WRONG_TYPE, 'compute_loss() must return 2 values, got a NoneType'),
    (LossWithDetachedClipTerm, Kind.GRADIENT, 'the gradient of actor_loss is wrong'),
    (ConstructorRaises, Kind.RAISED, 'ConstructorRaises() raised TypeError: oops (in __init__, line'),
    (NetworksWithoutBias, Kind.NOT_RUN, 'PPO.actor and PPO.critic must stay the given networks'),
    (LossBackwardInside, Kind.GRADIENT, 'the gradient of actor_loss could not be computed'),
])
def test_bad_output_gets_a_readable_failure_of_its_kind(cls, kind, message):
    report = grade(cls)
    assert not report
    messages = [failure.message for failure in report.failures(kind)]
    assert any(message in text for text in messages), (kind, failure_messages(report))


@pytest.mark.parametrize('cls', [ConstructorRaises, NetworksWithoutBias, LossBackwardInside, NotStarted])
def test_broken_code_still_runs_every_case(cls):
    # a fixed number of cases, so that scores compare across students
    report = grade(cls)
    assert report.total == NUMBER_OF_CASES and report.stopped is None


def test_the_students_line_is_quoted():
    assert any('return advantages[len(states) + 1], None' in text for text in failure_messages(grade(RaisesIndexError)))


def test_not_started_reads_not_implemented_under_each_function_only():
    report = grade(NotStarted)
    assert report.cases_passed == 0 and report.summary_line() == (
        f'0 of {NUMBER_OF_CASES} cases pass; not implemented yet: compute_advantages(), compute_loss().')
    for case in report.cases:
        function = 'compute_advantages' if case.group.startswith('gae') else 'compute_loss'
        assert [failure.function for failure in case.failures] == [function], case


def test_a_tiny_real_difference_is_not_hidden_below_rounding():
    # gamma missing in delta changed a course case by 4e-5 only; on the live critic it is large
    report = grade(ppo_mistakes.mutant('no_gamma_in_delta'))
    errors = [float(text.split('max error ')[1].split(')')[0]) for text in failure_messages(report)
              if 'max error' in text]
    assert max(errors) > 1.0


# ----------------------------------------------------- independent, student-style mistakes

class StudentListNotReversed(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        values = self.compute_values(states).detach()
        next_values = self.compute_values(next_states).detach()
        advantages = []
        for i in range(len(states) // T):
            gae = 0.0
            for t in reversed(range(i * T, (i + 1) * T)):
                if terminations[t] or truncations[t]:
                    gae = 0.0
                delta = rewards[t] + self.gamma * next_values[t] * (1 - terminations[t].float()) - values[t]
                gae = delta + self.gamma * self.lmbda * gae
                advantages.append(gae)
        advantages = torch.stack(advantages)
        return advantages, advantages + values


class StudentOneLongLoop(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        values = self.compute_values(states).detach()
        next_values = self.compute_values(next_states).detach()
        advantages = torch.zeros(len(states))
        gae = 0.0
        for t in reversed(range(len(states))):
            done = (terminations[t] | truncations[t]).float()
            delta = rewards[t] + self.gamma * next_values[t] * (1 - terminations[t].float()) - values[t]
            gae = delta + self.gamma * self.lmbda * (1 - done) * gae
            advantages[t] = gae
        return advantages, advantages + values


class StudentMax(PPO):
    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        ratio = (self.compute_log_probs(states, actions) - log_probs_old).exp()
        surrogate = torch.max(ratio * advantages, ratio.clamp(1 - self.epsilon, 1 + self.epsilon) * advantages)
        return -surrogate.mean(), torch.nn.functional.mse_loss(self.compute_values(states), critic_targets)


# ----------------------------------------------------- code written the way others write PPO

def segments(states, T):
    return [(i * T, (i + 1) * T) for i in range(len(states) // T)]


class CleanRLStyle(PPO):
    # CleanRL's ppo.py: one `dones` flag, nextnonterminal = 1 - done, values[t + 1] as the next
    # value inside the rollout; advantages normalised and a clipped, halved value loss in the loss
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        dones = terminations | truncations if truncations is not None else terminations
        with torch.no_grad():
            values = self.compute_values(states)
            next_values = self.compute_values(next_states)
        advantages = torch.zeros_like(rewards)
        for begin, end in segments(states, self.num_steps):
            lastgaelam = 0
            for t in reversed(range(begin, end)):
                nextnonterminal = 1.0 - dones[t].float()
                delta = rewards[t] + self.gamma * next_values[t] * nextnonterminal - values[t]
                advantages[t] = lastgaelam = delta + self.gamma * self.lmbda * nextnonterminal * lastgaelam
        return advantages, advantages + values

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        newlogprob = self.compute_log_probs(states, actions)
        ratio = (newlogprob - log_probs_old).exp()
        mb_advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        pg_loss1 = -mb_advantages * ratio
        pg_loss2 = -mb_advantages * torch.clamp(ratio, 1 - self.epsilon, 1 + self.epsilon)
        pg_loss = torch.max(pg_loss1, pg_loss2).mean()
        newvalue = self.compute_values(states)
        v_loss = 0.5 * ((newvalue - critic_targets) ** 2).mean()
        return pg_loss, v_loss


class SpinningUpStyle(PPO):
    # Spinning Up: critic targets are the discounted rewards-to-go (discount_cumsum of the rewards)
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        advantages, _ = PPO.compute_advantages(self, states, rewards, next_states, terminations, truncations)
        ends = terminations | truncations if truncations is not None else terminations
        returns = torch.zeros_like(rewards)
        for begin, end in segments(states, self.num_steps):
            running = 0.0
            for t in reversed(range(begin, end)):
                running = rewards[t] + self.gamma * running * (1.0 - ends[t].float())
                returns[t] = running
        return advantages, returns


class TextbookTDHuber(PPO):
    # a textbook actor-critic: one-step TD targets, a smooth-L1 critic loss, a ratio of probabilities
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        advantages, _ = PPO.compute_advantages(self, states, rewards, next_states, terminations, truncations)
        with torch.no_grad():
            td_target = rewards + self.gamma * self.compute_values(next_states) * (~terminations)
        return advantages, td_target

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        actor_loss, _ = PPO.compute_loss(self, states, actions, advantages, critic_targets, log_probs_old)
        return actor_loss, F.smooth_l1_loss(self.compute_values(states), critic_targets)


class HomeworkTruncation(PPO):
    # homework: at a truncation the "next value" is taken from the current state
    first_step = 1

    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        values = self.compute_values(states).detach()
        next_values = self.compute_values(next_states).detach()
        advantages = torch.zeros(len(states))
        for i in range(len(states) // T):
            gae = 0
            for t in range(T - self.first_step, -1, -1):
                k = i * T + t
                next_value = values[k] if truncations[k] else next_values[k]
                delta = rewards[k] + self.gamma * next_value * (1 - terminations[k].float()) - values[k]
                gae = delta + self.gamma * self.lmbda * (1 - (terminations[k] | truncations[k]).float()) * gae
                advantages[k] = gae
        return advantages, advantages + values


class HomeworkSkipsLastStep(HomeworkTruncation):
    # the same homework with range(T - 2, -1, -1) too: the loop never visits the last step of a segment
    first_step = 2


class HomeworkRatioWithoutExp(PPO):
    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        ratio = self.compute_log_probs(states, actions) - log_probs_old
        surrogate = torch.min(ratio * advantages, torch.clamp(ratio, 1 - self.epsilon, 1 + self.epsilon) * advantages)
        critic_loss = torch.nn.MSELoss()(self.compute_values(states), critic_targets)
        return -surrogate.mean(), critic_loss


@pytest.mark.parametrize('cls,mistakes', [
    (CleanRLStyle, {'truncation_as_termination', 'normalized_advantages', 'max_not_min', 'critic_half'}),
    (SpinningUpStyle, {'target_returns'}),
    (TextbookTDHuber, {'target_td', 'critic_huber'}),
    (HomeworkTruncation, {'truncation_bootstraps_current'}),
    (HomeworkSkipsLastStep, {'skips_last_step', 'truncation_bootstraps_current'}),
    (HomeworkRatioWithoutExp, {'ratio_without_exp'}),
    (StudentOneLongLoop, {'across_envs'}),
    (StudentMax, {'max_not_min'}),
    (StudentListNotReversed, {'not_reversed'}),
])
def test_other_peoples_conventions_are_named(cls, mistakes):
    report = grade(cls)
    assert not report
    missing = mistakes - set(named(report))
    # CleanRL's max of the negated terms is min of the terms: right; it must not be blamed
    if cls is CleanRLStyle:
        missing.discard('max_not_min')
        assert 'max_not_min' not in named(report)
    assert not missing, (missing, report.to_text())


# ----------------------------------------------------------- correct solutions of any style

class StudentLists(PPO):
    # python lists and floats, one environment at a time
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        with torch.no_grad():
            values = self.compute_values(states).tolist()
            next_values = self.compute_values(next_states).tolist()
        advantages = []
        for i in range(len(states) // T):
            segment = []
            gae = 0.0
            for t in reversed(range(i * T, (i + 1) * T)):
                if terminations[t]:
                    delta = rewards[t].item() - values[t]
                    gae = delta
                elif truncations[t]:
                    gae = rewards[t].item() + self.gamma * next_values[t] - values[t]
                else:
                    gae = rewards[t].item() + self.gamma * next_values[t] - values[t] + self.gamma * self.lmbda * gae
                segment.append(gae)
            advantages += segment[::-1]
        advantages = torch.tensor(advantages, dtype=torch.float32)
        return advantages, advantages + torch.tensor(values)


class StudentDiscountMatrix(PPO):
    # no loop over time: a_t = sum_j W[t, j] delta_j with W[t, j] = (gamma lambda)^(j - t) while the episode lasts
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        N = len(states) // T
        with torch.no_grad():
            values = self.compute_values(states)
            deltas = rewards + self.gamma * self.compute_values(next_states) * (~terminations) - values
        ends = (terminations | truncations).view(N, T).double()
        # number of episode ends strictly before step j, counted from t: same episode iff equal
        episode = torch.cumsum(torch.cat([torch.zeros(N, 1, dtype=torch.float64), ends[:, :-1]], 1), 1)
        t = torch.arange(T)
        lag = (t.view(1, T) - t.view(T, 1)).double()
        same = episode.unsqueeze(2) == episode.unsqueeze(1)
        weights = torch.where((lag >= 0) & same, (self.gamma * self.lmbda) ** lag.clamp(min=0), torch.zeros(()))
        advantages = (weights @ deltas.view(N, T, 1).double()).view(-1).float()
        return advantages, advantages + values


class StudentFloat64(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        advantages, critic_targets = PPO.compute_advantages(self.double(), states.double(), rewards.double(),
                                                            next_states.double(), terminations, truncations)
        self.float()
        return advantages.float(), critic_targets.float()


class StudentMinimumAndMSE(PPO):
    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        probs = torch.softmax(self.actor(states), dim=1).gather(1, actions.view(-1, 1)).view(-1)
        ratio = probs / log_probs_old.exp()
        actor_loss = -torch.minimum(ratio * advantages,
                                    torch.clip(ratio, 1 - self.epsilon, 1 + self.epsilon) * advantages).mean()
        critic_loss = torch.nn.functional.mse_loss(self.compute_values(states), critic_targets.detach())
        return actor_loss, critic_loss


@pytest.mark.parametrize('cls', [StudentLists, StudentDiscountMatrix, StudentFloat64, StudentMinimumAndMSE,
                                 ListLoopPPO, Float64MatrixPPO])
def test_correct_solutions_of_any_style_pass(cls):
    report = grade(cls)
    assert report, report.to_text()


# ----------------------------------------------------- the grader's side: what a liar gains

class ComputesInFloat64(PPO):
    # float64 all the way: its values are no float32 numbers, whatever it claims its dtype is
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        advantages, critic_targets = PPO.compute_advantages(self.double(), states.double(), rewards.double(),
                                                            next_states.double(), terminations, truncations)
        self.float()
        return advantages, critic_targets


def forged(observation):
    """What a student's code can claim about itself from inside the grader's sandbox
    (the red team's attack: it replaces rl_tests.observe in its own process)."""
    outputs = tuple(rl_tests.Output(o.name, 'Tensor', (len(o.values),) if len(o.values or ()) > 1 else (),
                                    'torch.float32', o.name.endswith('_loss'), o.values)
                    for o in observation.outputs if o.values is not None)
    return rl_tests.Observation(observation.case_id, None, outputs, {}, {}, False)


def untrusted_report(cls, forge=False):
    results = []
    for case, expected, mistakes in fresh_cases(11):
        observed = rl_tests.observe(cls, case)
        if forge and observed.outputs:
            observed = forged(observed)
        results.append(rl_tests.judge(case, observed, expected, mistakes, trusted=False))
    return rl_harness.Report(results)


class ZeroesInputsAfterwards(PPO):
    # right values, then the caller's tensors are overwritten
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        result = PPO.compute_advantages(self, states, rewards, next_states, terminations, truncations)
        states.zero_()
        rewards.zero_()
        return result


@pytest.mark.parametrize('cls', [DetachedLosses, LossWithDetachedClipTerm, LossesNotAveraged, NotStarted,
                                 ppo_mistakes.mutant('no_lambda')])
def test_in_the_grader_lying_about_the_outputs_gains_nothing(cls):
    honest, lying = untrusted_report(cls), untrusted_report(cls, forge=True)
    assert lying.cases_passed <= honest.cases_passed, (honest.summary_line(), lying.summary_line())


@pytest.mark.parametrize('cls', [ReturnsFloat64, ModifiesInputs, ZeroesInputsAfterwards, ReturnsColumn, ReturnsNumpy,
                                 ReturnsAttachedAdvantages])
def test_in_the_grader_what_the_notebook_counts_counts(cls):
    """Type, shape, dtype, detached, inputs changed: the grader's verdict is the notebook's.
    A forger can hide such a failure of its own (only where its values are right), never
    score above correct code."""
    assert untrusted_report(cls).cases_passed == live_report(cls, 11).cases_passed < NUMBER_OF_CASES
    assert untrusted_report(cls, forge=True).cases_passed <= untrusted_report(PPO).cases_passed


def test_in_the_grader_what_cannot_be_forged_still_fails():
    assert untrusted_report(PPO) and untrusted_report(ListLoopPPO)
    # no gradient, float64 values, a detached term: each fails on what the parent verifies itself
    loss_cases = sum(case.function == 'compute_loss' for case in rl_tests.make_cases())
    assert untrusted_report(DetachedLosses, forge=True).cases_passed == NUMBER_OF_CASES - loss_cases
    # float64 outputs fail as in the notebook; forged as float32, their values are no float32 numbers --
    # except where every value is exact in both (a probe's 0s and 1s)
    exact = sum(case.function == 'compute_advantages' and all(
        np.array_equal(o.array().astype(np.float32).astype(np.float64), o.array())
        for o in rl_tests.observe(ComputesInFloat64, case).outputs) for case, _, _ in fresh_cases(11))
    gae_cases = sum(case.function == 'compute_advantages' for case in rl_tests.make_cases())
    assert untrusted_report(ComputesInFloat64).cases_passed == NUMBER_OF_CASES - gae_cases
    assert untrusted_report(ComputesInFloat64, forge=True).cases_passed == exact  # and forging drops the gradients
    detached = untrusted_report(LossWithDetachedClipTerm, forge=True)
    assert not detached and {f.kind for f in detached.failures()} == {Kind.GRADIENT}
    # what only the student's process can tell counts as in the student's report: one verdict
    inplace = untrusted_report(ZeroesInputsAfterwards)
    assert {f.kind for f in inplace.failures()} == {Kind.IN_PLACE}
    assert inplace.cases_passed == live_report(ZeroesInputsAfterwards, 11).cases_passed


# ----------------------------------------------------- no line contradicts another

CORRECT_CLASSES = [StudentLists, StudentDiscountMatrix, StudentFloat64, StudentMinimumAndMSE, ListLoopPPO,
                   Float64MatrixPPO]
WRONG_CLASSES = [CleanRLStyle, SpinningUpStyle, TextbookTDHuber, HomeworkTruncation, HomeworkSkipsLastStep,
                 HomeworkRatioWithoutExp, StudentOneLongLoop, StudentMax, StudentListNotReversed]


@pytest.mark.parametrize('cls', [ppo_mistakes.mutant(m) for m in ppo_mistakes.MISTAKE_IDS] + [
    ppo_mistakes.mutant(*pair) for pair in [('max_not_min', 'critic_half'), ('normalized_in_gae', 'target_returns'),
                                            ('no_lambda', 'ignores_truncations'), ('critic_half', 'critic_clipped'),
                                            ('actor_extra_term', 'actor_factor'), ('across_envs', 'no_reset')]]
    + WRONG_CLASSES + CORRECT_CLASSES, ids=lambda cls: cls.__name__)
def test_no_report_line_contradicts_another(cls):
    from instructor.feedback_checks import contradictions
    assert contradictions(grade(cls), rl_tests.make_cases()) == []


def test_one_bug_gets_one_name():
    # torch.max for torch.min: one name, though no_clipping or only_clipped give the same value on some cases
    for cls in (StudentMax, ppo_mistakes.mutant('max_not_min')):
        report = grade(cls)
        assert named(report) == ['max_not_min'], named(report)
        assert report.summary_line().endswith('likely mistakes: max instead of min in L^clip.')
        assert 'value is right' not in report.to_text()  # a wrong loss never has its value called right


def test_half_and_clipped_value_loss_are_two_names():
    # the critic_clipped branch used to overwrite critic_half: now the pair is a pair
    report = grade(ppo_mistakes.mutant('critic_half', 'critic_clipped'))
    assert {'critic_half', 'critic_clipped'} <= set(named(report)), named(report)


def test_parts_named_on_different_cases_are_named_as_the_mistake_they_make():
    # a termination bootstrapped (read on one probe) and carried over (read on another) is one bug, even
    # where no case is reproduced by the mistake they make together
    parts = [rl_tests.MISTAKES['bootstraps_terminal'], rl_tests.MISTAKES['carries_over_terminations']]
    whole = rl_tests.MISTAKES['ignores_terminations']
    cases = [rl_harness.CaseResult('probes', failures=[rl_harness.Failure(Kind.WRONG_VALUE, 'advantages are wrong')],
                                   wrong=['advantages'], findings=[rl_harness.Finding(part, 'read', ('advantages',))],
                                   composites=[whole]) for part in parts]
    report = rl_harness.Report(cases)
    assert [m.id for m in report.mistakes] == ['ignores_terminations']
    assert [case.details for case in report.cases] == [{'ignores_terminations': ['read']}] * 2
