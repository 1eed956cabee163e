"""Brax's PPO losses, adapted to the kit's API (in PyTorch) with its conventions kept.

Source: google/brax, brax/training/agents/ppo/losses.py (compute_gae and compute_ppo_loss).
Kept: values[t + 1] as the next value (bootstrap_value after the rollout), deltas and the
running sum masked by (1 - termination) and the truncation mask, vs = acc + values as the
critic targets, the advantages r + discount * (1 - termination) * vs_{t+1} - values (times the
truncation mask), normalised in the loss with jnp's std (ddof=0), and
v_loss = mean(v_error ** 2) * 0.5 * vf_coefficient with the default vf_coefficient = 0.5.
The entropy term is a separate term of brax's total loss, left to the trainer."""

import torch

from ppo_reference import PPO

SOURCE = 'google/brax, brax/training/agents/ppo/losses.py'
CORRECT = {'compute_advantages': False, 'compute_loss': False}
BUGS = {
    'a truncated step gets delta and advantage 0 (times the truncation mask)': ('truncation_zeroed',),
    'the advantage adds gamma * (vs_{t+1} - v_{t+1}): the first step back decays by gamma, not gamma * lambda':
        ('decay',),
    'advantages normalised inside the loss (ddof=0)': ('normalized_advantages',),
    'value loss has a factor 0.25 (0.5 * vf_coefficient)': ('critic_factor',),
}


class Implementation(PPO):
    vf_coefficient = 0.5

    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        N = len(states) // T
        with torch.no_grad():
            values = self.compute_values(states).view(N, T).T
            bootstrap_value = self.compute_values(next_states).view(N, T).T[-1]
        rewards = rewards.view(N, T).T
        truncation = truncations.view(N, T).T.float()
        termination = terminations.view(N, T).T.float()
        discount, lambda_ = self.gamma, self.lmbda
        truncation_mask = 1 - truncation
        values_t_plus_1 = torch.cat([values[1:], bootstrap_value.unsqueeze(0)], dim=0)
        deltas = rewards + discount * (1 - termination) * values_t_plus_1 - values
        deltas = deltas * truncation_mask
        acc = torch.zeros_like(bootstrap_value)
        vs_minus_v_xs = torch.zeros_like(values)
        for t in reversed(range(T)):  # jax.lax.scan(compute_vs_minus_v_xs, ..., reverse=True)
            acc = deltas[t] + discount * (1 - termination[t]) * truncation_mask[t] * lambda_ * acc
            vs_minus_v_xs[t] = acc
        vs = vs_minus_v_xs + values
        vs_t_plus_1 = torch.cat([vs[1:], bootstrap_value.unsqueeze(0)], dim=0)
        advantages = (rewards + discount * (1 - termination) * vs_t_plus_1 - values) * truncation_mask
        return advantages.T.reshape(-1), vs.T.reshape(-1)

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        baseline = self.compute_values(states)
        target_action_log_probs = self.compute_log_probs(states, actions)
        advantages = (advantages - advantages.mean()) / (advantages.std(unbiased=False) + 1e-8)
        rho_s = torch.exp(target_action_log_probs - log_probs_old)
        surrogate_loss1 = rho_s * advantages
        surrogate_loss2 = torch.clamp(rho_s, 1 - self.epsilon, 1 + self.epsilon) * advantages
        policy_loss = -torch.mean(torch.minimum(surrogate_loss1, surrogate_loss2))
        v_error = critic_targets - baseline
        v_loss = torch.mean(v_error * v_error) * 0.5 * self.vf_coefficient
        return policy_loss, v_loss
