"""Deliberately wrong PPO implementations (instructor side, never handed out).

Each id of rl_kit/mistakes.py has a variant here, and variants combine: mutant('no_lambda',
'target_td') makes both mistakes. tools/make_expected.py stores what each mistake outputs
on the fixed cases (rl_kit/expected.json), grade.py runs them live on fresh cases, and
tests/test_mutants.py checks that every one of them fails and is named.
"""

import itertools

import torch
import torch.nn.functional as F

from ppo_reference import PPO
from rl_kit.mistakes import ids as mistake_ids

GAE_MISTAKES = mistake_ids('compute_advantages')   # the ids are defined once, in rl_kit/mistakes.py
LOSS_MISTAKES = mistake_ids('compute_loss')
MISTAKE_IDS = GAE_MISTAKES + LOSS_MISTAKES


def applicable(case):
    """The ids of the mistakes that concern a case's function and, for a case with
    case.pairs, every two of them at once ('a+b'): code with two bugs in the same place."""
    singles = GAE_MISTAKES if case.function == 'compute_advantages' else LOSS_MISTAKES
    if not case.pairs:
        return singles
    return singles + tuple(f'{a}+{b}' for a, b in itertools.combinations(singles, 2))


def wrong_advantages(ac, states, rewards, next_states, terminations, truncations, mistakes):
    """GAE with the given mistakes (a set of ids); the correct computation where none applies.
    Written as a plain per-step loop, the way students write it."""
    T = ac.num_steps
    N = len(states) // T
    gamma, lmbda = ac.gamma, ac.lmbda
    if truncations is None:
        truncations = torch.zeros_like(terminations)
    with torch.no_grad():
        values = ac.compute_values(states)            # shape (N * T)
        next_values = ac.compute_values(next_states)  # shape (N * T)
    term, trunc = terminations.float(), truncations.float()

    bootstrap = 1 - term
    if mistakes & {'ignores_terminations', 'bootstraps_terminal'}:
        bootstrap = torch.ones_like(term)
    if 'truncation_as_termination' in mistakes:
        bootstrap = 1 - torch.maximum(term, trunc)
    if 'no_segment_bootstrap' in mistakes:
        bootstrap = bootstrap.clone()
        bootstrap[T - 1::T] = 0.0
    # the backward sum stops at the episode ends it sees
    stops_at_terminations = not mistakes & {'ignores_terminations', 'carries_over_terminations', 'no_reset'}
    stops_at_truncations = not mistakes & {'ignores_truncations', 'no_reset'}
    continues = 1 - torch.maximum(term * stops_at_terminations, trunc * stops_at_truncations)

    bootstrap_values = next_values
    if 'truncation_bootstraps_current' in mistakes:
        bootstrap_values = torch.where(truncations, values, next_values)
    delta_gamma = 1.0 if 'no_gamma_in_delta' in mistakes else gamma
    deltas = rewards + delta_gamma * bootstrap * bootstrap_values - values
    if 'wrong_sign' in mistakes:
        deltas = -deltas
    decay = gamma * lmbda
    if 'no_lambda' in mistakes:
        decay = gamma
    if 'no_gamma_in_sum' in mistakes:
        decay = lmbda

    segments = [(0, N * T)] if 'across_envs' in mistakes else [(i * T, (i + 1) * T) for i in range(N)]
    advantages = torch.zeros(N * T)
    for begin, end in segments:
        if 'forward_sum' in mistakes:
            running = 0.0
            for k in range(begin, end):
                carry = continues[k - 1] if k > begin else 0.0
                running = deltas[k] + decay * carry * running
                advantages[k] = running
            continue
        last = end - 2 if 'skips_last_step' in mistakes else end - 1
        first = begin + 1 if 'skips_first_step' in mistakes else begin
        running = 0.0
        backwards = []  # a_t for t = last, ..., first
        for k in range(last, first - 1, -1):
            running = deltas[k] + decay * continues[k] * running
            backwards.append(running)
        if 'not_reversed' not in mistakes:
            backwards.reverse()
        if backwards:
            advantages[first:last + 1] = torch.stack([torch.as_tensor(a, dtype=torch.float32) for a in backwards])

    critic_targets = advantages + values
    if 'target_without_value' in mistakes:
        critic_targets = advantages.clone()
    if 'target_td' in mistakes:
        critic_targets = rewards + gamma * (1 - term) * next_values
    if 'target_returns' in mistakes:
        critic_targets = torch.zeros(N * T)
        for i in range(N):
            running = 0.0
            for k in reversed(range(i * T, (i + 1) * T)):
                running = rewards[k] + gamma * continues[k] * running
                critic_targets[k] = running
    return advantages.detach(), critic_targets.detach()


def wrong_losses(ac, states, actions, advantages, critic_targets, log_probs_old, mistakes):
    """compute_loss with the given mistakes (a set of ids)."""
    epsilon = ac.epsilon
    old_values = (critic_targets - advantages).detach()  # what the rollout's critic said: v_target = a + v_old
    if 'normalized_advantages' in mistakes:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    log_probs = ac.compute_log_probs(states, actions)
    ratios = torch.exp(log_probs - log_probs_old)
    if 'inverted_ratio' in mistakes:
        ratios = torch.exp(log_probs_old - log_probs)
    if 'log_ratio' in mistakes:
        ratios = log_probs / log_probs_old
    if 'ratio_without_exp' in mistakes:
        ratios = log_probs - log_probs_old
    if 'ratio_one' in mistakes:
        ratios = torch.exp(log_probs - log_probs.detach())
    l1 = ratios * advantages
    l2 = torch.clamp(ratios, 1 - epsilon, 1 + epsilon) * advantages
    if 'clipped_advantage' in mistakes:
        l2 = ratios * torch.clamp(advantages, 1 - epsilon, 1 + epsilon)
    objective = torch.min(l1, l2)
    if 'max_not_min' in mistakes:
        objective = torch.max(l1, l2)
    if 'no_clipping' in mistakes:
        objective = l1
    if 'only_clipped' in mistakes:
        objective = l2
    actor_loss = -objective.mean()
    if 'actor_sign' in mistakes:
        actor_loss = objective.mean()
    if 'min_of_means' in mistakes:
        actor_loss = -torch.min(l1.mean(), l2.mean())
    if 'actor_sum' in mistakes:
        actor_loss = -objective.sum()

    values = ac.compute_values(states)
    targets = (advantages if 'critic_uses_advantages' in mistakes else critic_targets).detach()
    errors = targets - values
    critic_loss = (errors ** 2).mean()
    if 'critic_half' in mistakes:
        critic_loss = 0.5 * critic_loss
    if 'critic_abs' in mistakes:
        critic_loss = errors.abs().mean()
    if 'critic_huber' in mistakes:
        critic_loss = F.smooth_l1_loss(values, targets)
    if 'critic_clipped' in mistakes:
        clipped = old_values + torch.clamp(values - old_values, -epsilon, epsilon)
        critic_loss = torch.max(errors ** 2, (targets - clipped) ** 2).mean()
    if 'critic_sum' in mistakes:
        critic_loss = (errors ** 2).sum()
    return actor_loss, critic_loss


def mutant(*mistakes):
    """A PPO class that makes the given mistakes (ids of rl_kit.mistakes.MISTAKES, or 'a+b' for two)."""
    mistakes = [part for mistake in mistakes for part in mistake.split('+')]
    unknown = set(mistakes) - set(MISTAKE_IDS)
    if unknown:
        raise ValueError(f'mutant: unknown mistakes {sorted(unknown)}; known: {list(MISTAKE_IDS)}')
    chosen = frozenset(mistakes)

    class Mutant(PPO):
        if chosen & set(GAE_MISTAKES):
            def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
                return wrong_advantages(self, states, rewards, next_states, terminations, truncations, chosen)
        if chosen & set(LOSS_MISTAKES):
            def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
                return wrong_losses(self, states, actions, advantages, critic_targets, log_probs_old, chosen)

    Mutant.__name__ = 'Mutant_' + '_'.join(sorted(chosen))
    return Mutant
