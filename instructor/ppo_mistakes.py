"""Deliberately wrong PPO implementations (instructor side, never handed out).

Each id of rl_kit/mistakes.py has a variant here, some several ('normalized_advantages:ddof0'
is the id 'normalized_advantages' with numpy's population std), and variants combine:
mutant('no_lambda', 'target_td') makes both mistakes. tools/make_expected.py stores what each
mistake outputs on the fixed cases (rl_kit/expected.json), grade.py runs them live on fresh
cases, and tests/feedback/test_mutants.py checks that every one of them fails and is named.
"""

import itertools

import torch
import torch.nn.functional as F

from ppo_reference import PPO
from rl_kit.mistakes import base
from rl_kit.mistakes import ids as mistake_ids
from rl_kit.mistakes import keys as mistake_keys

GAE_MISTAKES = mistake_keys('compute_advantages')   # the ids and their variants are defined once, in rl_kit/mistakes.py
LOSS_MISTAKES = mistake_keys('compute_loss')
MISTAKE_IDS = GAE_MISTAKES + LOSS_MISTAKES   # every key a mutant takes


def applicable(case):
    """The keys of the mistakes that concern a case's function and, for a case with
    case.pairs, every two of the plain ones at once ('a+b'): code with two bugs in the same place."""
    function = case.function
    singles = GAE_MISTAKES if function == 'compute_advantages' else LOSS_MISTAKES
    if not case.pairs:
        return singles
    plain = mistake_ids(function)
    return singles + tuple(f'{a}+{b}' for a, b in itertools.combinations(plain, 2))


def _variant(mistakes, id_):
    """The variant of mistake `id_` among the keys (None if it is not made, '' for the plain one)."""
    for key in mistakes:
        if base(key) == id_:
            return key.partition(':')[2]
    return None


def wrong_advantages(ac, states, rewards, next_states, terminations, truncations, mistakes):
    """GAE with the given mistakes (a set of keys); the correct computation where none applies.
    Written as a plain per-step loop, the way students write it."""
    ids = {base(key) for key in mistakes}
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
    if ids & {'ignores_terminations', 'bootstraps_terminal'}:
        bootstrap = torch.ones_like(term)
    if 'truncation_as_termination' in ids:
        bootstrap = 1 - torch.maximum(term, trunc)
    if 'no_segment_bootstrap' in ids:
        bootstrap = bootstrap.clone()
        bootstrap[T - 1::T] = 0.0
    # the backward sum stops at the episode ends it sees
    stops_at_terminations = not ids & {'ignores_terminations', 'carries_over_terminations', 'no_reset'}
    stops_at_truncations = not ids & {'ignores_truncations', 'no_reset'}
    continues = 1 - torch.maximum(term * stops_at_terminations, trunc * stops_at_truncations)

    bootstrap_values = next_values
    delta_gamma = torch.full_like(values, 1.0 if 'no_gamma_in_delta' in ids else gamma)
    current = _variant(mistakes, 'truncation_bootstraps_current')
    if current is not None:
        bootstrap_values = torch.where(truncations, values, next_values)
        if current == 'no_gamma':
            delta_gamma = torch.where(truncations, torch.ones_like(values), delta_gamma)
    if 'truncation_bootstraps_next_row' in ids:
        next_row = torch.cat([values[1:], next_values[-1:]])
        next_row[T - 1::T] = next_values[T - 1::T]  # after the last row of a segment: the rollout's next state
        bootstrap_values = torch.where(truncations, next_row, bootstrap_values)
    deltas = rewards + delta_gamma * bootstrap * bootstrap_values - values
    if 'wrong_sign' in ids:
        deltas = -deltas
    decay = gamma * lmbda
    if 'no_lambda' in ids:
        decay = gamma
    if 'no_gamma_in_sum' in ids:
        decay = lmbda
    if 'decay' in ids:  # γ twice: gae = delta + gamma * (gamma * lmbda * gae)
        decay = gamma * gamma * lmbda
    zeroed = 'truncation_zeroed' in ids

    segments = [(0, N * T)] if 'across_envs' in ids else [(i * T, (i + 1) * T) for i in range(N)]
    advantages = torch.zeros(N * T)
    for begin, end in segments:
        if 'forward_sum' in ids:
            running = 0.0
            for k in range(begin, end):
                carry = continues[k - 1] if k > begin else 0.0
                running = deltas[k] + decay * carry * running
                advantages[k] = running
            continue
        last = end - 2 if 'skips_last_step' in ids else end - 1
        first = begin + 1 if 'skips_first_step' in ids else begin
        running = 0.0
        backwards = []  # a_t for t = last, ..., first
        for k in range(last, first - 1, -1):
            before = running   # stored_late: advantages[t] = gae, then gae = δ_t + γλ gae
            running = deltas[k] + decay * continues[k] * running
            if zeroed and truncations[k]:
                running = running * 0.0  # ikostrikov's `gae = gae * bad_masks[step + 1]`
            backwards.append(before if 'stored_late' in ids else running)
        if 'not_reversed' not in ids:
            backwards.reverse()
        if backwards:
            advantages[first:last + 1] = torch.stack([torch.as_tensor(a, dtype=torch.float32) for a in backwards])

    critic_targets = advantages + values
    if 'target_without_value' in ids:
        critic_targets = advantages.clone()
    if 'target_td' in ids:
        critic_targets = rewards + gamma * (1 - term) * next_values
    returns = _variant(mistakes, 'target_returns')
    if returns is not None:
        critic_targets = torch.zeros(N * T)
        for i in range(N):
            running = 0.0
            for k in reversed(range(i * T, (i + 1) * T)):
                if returns == 'bootstrapped':  # Spinning Up: the tail is v(s') where the episode goes on
                    ends = bool(terminations[k] or truncations[k]) or k == (i + 1) * T - 1
                    tail = (0.0 if terminations[k] else next_values[k]) if ends else running
                    running = rewards[k] + gamma * tail
                else:
                    running = rewards[k] + gamma * continues[k] * running
                critic_targets[k] = running
    normalized = _variant(mistakes, 'normalized_in_gae')
    if normalized is not None:
        std = advantages.std(unbiased=normalized != 'ddof0')
        advantages = (advantages - advantages.mean()) / (std + 1e-8)
    return advantages.detach(), critic_targets.detach()


def wrong_losses(ac, states, actions, advantages, critic_targets, log_probs_old, mistakes):
    """compute_loss with the given mistakes (a set of keys)."""
    ids = {base(key) for key in mistakes}
    epsilon = ac.epsilon
    old_values = (critic_targets - advantages).detach()  # what the rollout's critic said: v_target = a + v_old
    if 'actor_uses_critic_error' in ids:  # the advantages recomputed with the current critic, its gradient kept
        advantages = critic_targets - ac.compute_values(states)
    normalized = _variant(mistakes, 'normalized_advantages')
    if normalized is not None:
        advantages = (advantages - advantages.mean()) / (advantages.std(unbiased=normalized != 'ddof0') + 1e-8)
    log_probs = ac.compute_log_probs(states, actions)
    ratios = torch.exp(log_probs - log_probs_old)
    if 'inverted_ratio' in ids:
        ratios = torch.exp(log_probs_old - log_probs)
    if 'log_ratio' in ids:
        ratios = log_probs / log_probs_old
    if 'ratio_without_exp' in ids:
        ratios = log_probs - log_probs_old
    if 'ratio_one' in ids:
        ratios = torch.exp(log_probs - log_probs.detach())
    low, high = 1 - epsilon, 1 + epsilon
    bounds = _variant(mistakes, 'clip_bounds')
    if bounds == '':
        low = 1 / (1 + epsilon)
    if bounds == 'log':
        low, high = torch.exp(torch.tensor(-epsilon)).item(), torch.exp(torch.tensor(epsilon)).item()
    if bounds == 'fixed':
        low, high = 0.8, 1.2
    l1 = ratios * advantages
    l2 = torch.clamp(ratios, low, high) * advantages
    if 'clipped_advantage' in ids:
        l2 = ratios * torch.clamp(advantages, 1 - epsilon, 1 + epsilon)
    objective = torch.min(l1, l2)
    if 'max_not_min' in ids:
        objective = torch.max(l1, l2)
    if 'no_clipping' in ids:
        objective = l1
    if 'only_clipped' in ids:
        objective = l2
    if 'dual_clip' in ids:  # tianshou / DI-engine: for a < 0 the objective never falls below 3 * a
        objective = torch.where(advantages < 0, torch.max(objective, 3.0 * advantages), objective)
    actor_loss = -objective.mean()
    if 'actor_sign' in ids:
        actor_loss = objective.mean()
    if 'min_of_means' in ids:
        actor_loss = -torch.min(l1.mean(), l2.mean())
    if 'actor_sum' in ids:
        actor_loss = -objective.sum()
    if 'actor_factor' in ids:
        actor_loss = 0.5 * actor_loss
    if 'actor_extra_term' in ids:  # an entropy bonus
        entropy = torch.distributions.Categorical(logits=ac.actor(states)).entropy()
        actor_loss = actor_loss - 0.05 * entropy.mean()

    values = ac.compute_values(states)
    targets = (advantages if 'critic_uses_advantages' in ids else critic_targets).detach()
    errors = targets - values
    per_transition = errors ** 2
    if 'critic_abs' in ids:
        per_transition = errors.abs()
    if 'critic_huber' in ids:
        per_transition = F.smooth_l1_loss(values, targets, reduction='none')
    if 'critic_clipped' in ids:
        clipped = old_values + torch.clamp(values - old_values, -epsilon, epsilon)
        per_transition = torch.max(per_transition, (targets - clipped) ** 2)
    if 'critic_capped' in ids:  # RLlib's vf_clip_param
        per_transition = torch.clamp(per_transition, 0, 10.0)
    if 'critic_half' in ids:
        per_transition = 0.5 * per_transition
    if 'critic_factor' in ids:
        per_transition = 0.25 * per_transition
    critic_loss = per_transition.sum() if 'critic_sum' in ids else per_transition.mean()
    return actor_loss, critic_loss


def mutant(*mistakes):
    """A PPO class that makes the given mistakes (keys of MISTAKE_IDS, or 'a+b' for two)."""
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

    Mutant.__name__ = 'Mutant_' + '_'.join(sorted(chosen)).replace(':', '_')
    return Mutant
