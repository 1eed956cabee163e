"""The mutation suite: wrong implementations must fail grading, without crashing it, and
the feedback must name the mistake; correct implementations of any style must pass."""

import pytest
import torch

import rl_tests
from mutants import GAE_MISTAKES, LOSS_MISTAKES, mutant
from ppo_reference import PPO


def grade(cls):
    report = rl_tests.collect(rl_tests.test_ppo(cls))
    assert report.stopped is None, report.stopped
    return report


def failure_messages(report):
    return [message for case in report.cases for message in case.failures]


@pytest.mark.parametrize('mistake', GAE_MISTAKES + LOSS_MISTAKES)
def test_every_named_mistake_fails_and_is_named(mistake):
    report = grade(mutant(mistake))
    assert not report and report.failed > 0
    title = rl_tests.MISTAKES[mistake][0]
    assert title in report.mistakes, (title, report.mistakes)
    # the mistake named first is this one: the diagnostic cases tell all mistakes apart
    assert report.mistakes[0] == title, report.mistakes


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


@pytest.mark.parametrize('cls,message', [
    (ReturnsNumpy, 'advantages is a numpy array; return a torch.Tensor'),
    (ReturnsColumn, 'advantages has shape (18, 1), expected (18,) (same number of elements: reshape or squeeze it)'),
    (ReturnsFloat64, 'advantages has dtype torch.float64, expected torch.float32'),
    (ReturnsNaN, 'advantages contains NaN or infinity'),
    (ReturnsOneTensor, 'compute_advantages() must return 2 values, got a Tensor'),
    (ReturnsAttachedAdvantages, 'advantages requires gradients; it should be detached'),
    (RaisesIndexError, 'compute_advantages() raised IndexError: list index out of range '
                       '(in compute_advantages, line'),
    (NotStarted, 'compute_advantages() is not implemented yet'),
    (NotStarted, 'compute_loss() is not implemented yet'),
    (ModifiesInputs, 'compute_advantages() changed its input tensors in place'),
    (DetachedLosses, 'actor_loss does not require gradients'),
    (DetachedLosses, 'gradients disabled for critic_loss'),
    (LossesAsFloats, 'actor_loss must be a torch.Tensor, got float'),
    (LossesNotAveraged, 'actor_loss has shape (12,), expected ()'),
    (LossReturnsNone, 'compute_loss() must return 2 values, got a NoneType'),
    (LossWithDetachedClipTerm, 'actor_loss has no gradient where min() must pick the unclipped term'),
    (ConstructorRaises, "ConstructorRaises() raised TypeError: oops (in __init__, line"),
    (NetworksWithoutBias, 'not run: PPO.actor and PPO.critic must stay the given networks'),
    (LossBackwardInside, 'the gradient of actor_loss could not be computed'),
])
def test_bad_output_gets_a_readable_failure(cls, message):
    report = grade(cls)
    assert not report
    messages = failure_messages(report)
    assert any(message in text for text in messages), messages


@pytest.mark.parametrize('cls', [ConstructorRaises, NetworksWithoutBias, LossBackwardInside, NotStarted])
def test_broken_code_still_runs_every_case(cls):
    # a fixed number of cases, so that scores compare across students
    report = grade(cls)
    assert len(report.cases) == 14 and report.stopped is None


def test_the_students_line_is_quoted():
    messages = failure_messages(grade(RaisesIndexError))
    assert any('return advantages[len(states) + 1], None' in text for text in messages)


def test_not_started_gets_a_report_for_every_case():
    report = grade(NotStarted)
    assert report.passed == 0 and len(report.cases) == 14
    assert all(not case.passed for case in report.cases)


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


@pytest.mark.parametrize('cls,mistake', [
    (StudentOneLongLoop, 'across_envs'), (StudentMax, 'max_not_min')])
def test_student_style_mistakes_are_named(cls, mistake):
    report = grade(cls)
    assert not report
    assert rl_tests.MISTAKES[mistake][0] in report.mistakes


def test_student_style_reversal_mistake_fails_and_is_named_where_it_is_the_only_one():
    # this student also resets before adding delta_t, so the output is a mix of two mistakes:
    # it must fail; the lambda = 0 case isolates the reversal
    report = grade(StudentListNotReversed)
    assert not report
    assert rl_tests.MISTAKES['not_reversed'][0] in report.mistakes


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


@pytest.mark.parametrize('cls', [StudentLists, StudentDiscountMatrix, StudentFloat64, StudentMinimumAndMSE])
def test_correct_solutions_of_any_style_pass(cls):
    report = grade(cls)
    assert report, report.to_text()
