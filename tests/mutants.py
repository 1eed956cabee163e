"""Deliberately wrong PPO implementations (instructor side, never handed out).

Each id of rl_tests.MISTAKES has one variant here. tests/make_expected.py runs them on
the grading cases' inputs to store what each mistake outputs, and tests/test_mutants.py
checks that the grading harness fails every one of them and names its mistake.
"""

import torch

import rl_tests
from ppo_reference import PPO

GAE_MISTAKES = ['across_envs', 'ignores_terminations', 'bootstraps_terminal', 'carries_over_terminations',
                'ignores_truncations', 'truncation_as_termination', 'no_lambda', 'no_gamma_in_sum',
                'no_gamma_in_delta', 'not_reversed', 'forward_sum', 'wrong_sign', 'no_segment_bootstrap',
                'target_without_value', 'target_td']
LOSS_MISTAKES = ['max_not_min', 'clipped_advantage', 'inverted_ratio', 'actor_sign', 'log_ratio', 'no_clipping',
                 'only_clipped', 'ratio_one', 'min_of_means', 'actor_sum', 'critic_half', 'critic_abs',
                 'critic_sum', 'critic_uses_advantages']
assert sorted(GAE_MISTAKES + LOSS_MISTAKES) == sorted(rl_tests.MISTAKES)


def wrong_advantages(ac, states, rewards, next_states, terminations, truncations, mistake):
    """GAE with exactly one mistake; the correct computation where a branch does not apply."""
    T = ac.num_steps
    N = len(states) // T
    gamma, lmbda = ac.gamma, ac.lmbda
    if truncations is None:
        truncations = torch.zeros_like(terminations)
    with torch.no_grad():
        values = ac.compute_values(states)
        next_values = ac.compute_values(next_states)
    term, trunc = terminations.float(), truncations.float()

    bootstrap = 1 - term
    if mistake in ('ignores_terminations', 'bootstraps_terminal'):
        bootstrap = torch.ones_like(term)
    if mistake == 'truncation_as_termination':
        bootstrap = 1 - torch.maximum(term, trunc)
    if mistake == 'no_segment_bootstrap':
        bootstrap = bootstrap.clone()
        bootstrap[T - 1::T] = 0.0
    continues = 1 - torch.maximum(term, trunc)
    if mistake in ('ignores_terminations', 'carries_over_terminations'):
        continues = 1 - trunc
    if mistake == 'ignores_truncations':
        continues = 1 - term

    delta_gamma = 1.0 if mistake == 'no_gamma_in_delta' else gamma
    deltas = rewards + delta_gamma * bootstrap * next_values - values
    if mistake == 'wrong_sign':
        deltas = -deltas
    decay = {'no_lambda': gamma, 'no_gamma_in_sum': lmbda}.get(mistake, gamma * lmbda)

    segments = [(0, N * T)] if mistake == 'across_envs' else [(i * T, (i + 1) * T) for i in range(N)]
    advantages = torch.zeros(N * T)
    for begin, end in segments:
        if mistake == 'forward_sum':
            running = 0.0
            for k in range(begin, end):
                carry = continues[k - 1] if k > begin else 0.0
                running = deltas[k] + decay * carry * running
                advantages[k] = running
            continue
        running = 0.0
        backwards = []
        for k in reversed(range(begin, end)):
            running = deltas[k] + decay * continues[k] * running
            backwards.append(running)
        if mistake != 'not_reversed':
            backwards.reverse()
        advantages[begin:end] = torch.stack(backwards)

    critic_targets = advantages + values
    if mistake == 'target_without_value':
        critic_targets = advantages.clone()
    if mistake == 'target_td':
        critic_targets = rewards + gamma * (1 - term) * next_values
    return advantages.detach(), critic_targets.detach()


def wrong_losses(ac, states, actions, advantages, critic_targets, log_probs_old, mistake):
    """compute_loss with exactly one mistake."""
    epsilon = ac.epsilon
    log_probs = ac.compute_log_probs(states, actions)
    ratios = torch.exp(log_probs - log_probs_old)
    if mistake == 'inverted_ratio':
        ratios = torch.exp(log_probs_old - log_probs)
    if mistake == 'log_ratio':
        ratios = log_probs / log_probs_old
    if mistake == 'ratio_one':
        ratios = torch.exp(log_probs - log_probs.detach())
    l1 = ratios * advantages
    l2 = torch.clamp(ratios, 1 - epsilon, 1 + epsilon) * advantages
    if mistake == 'clipped_advantage':
        l2 = ratios * torch.clamp(advantages, 1 - epsilon, 1 + epsilon)
    objective = torch.min(l1, l2)
    if mistake == 'max_not_min':
        objective = torch.max(l1, l2)
    if mistake == 'no_clipping':
        objective = l1
    if mistake == 'only_clipped':
        objective = l2
    actor_loss = -objective.mean()
    if mistake == 'actor_sign':
        actor_loss = objective.mean()
    if mistake == 'min_of_means':
        actor_loss = -torch.min(l1.mean(), l2.mean())
    if mistake == 'actor_sum':
        actor_loss = -objective.sum()

    values = ac.compute_values(states)
    targets = advantages if mistake == 'critic_uses_advantages' else critic_targets
    errors = targets.detach() - values
    critic_loss = (errors ** 2).mean()
    if mistake == 'critic_half':
        critic_loss = 0.5 * critic_loss
    if mistake == 'critic_abs':
        critic_loss = errors.abs().mean()
    if mistake == 'critic_sum':
        critic_loss = (errors ** 2).sum()
    return actor_loss, critic_loss


def mutant(mistake):
    """A PPO class that makes one named mistake."""
    if mistake in GAE_MISTAKES:
        class Mutant(PPO):
            def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
                return wrong_advantages(self, states, rewards, next_states, terminations, truncations, mistake)
    else:
        class Mutant(PPO):
            def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
                return wrong_losses(self, states, actions, advantages, critic_targets, log_probs_old, mistake)
    Mutant.__name__ = f'Mutant_{mistake}'
    return Mutant

