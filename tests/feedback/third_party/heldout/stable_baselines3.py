"""Stable-Baselines3's PPO, adapted to the kit's API with its conventions kept.

Sources: DLR-RM/stable-baselines3, stable_baselines3/common/buffers.py
(RolloutBuffer.compute_returns_and_advantage), stable_baselines3/common/on_policy_algorithm.py
(collect_rollouts: a time-limit truncation adds gamma * V(terminal_observation) to the reward)
and stable_baselines3/ppo/ppo.py (train: advantages normalised when the batch has more than one
transition, clipped surrogate, value loss F.mse_loss with clip_range_vf=None)."""

import torch
import torch.nn.functional as F

from ppo_reference import PPO

SOURCE = 'DLR-RM/stable-baselines3, stable_baselines3/common/buffers.py + ppo/ppo.py'
CORRECT = {'compute_advantages': True, 'compute_loss': False}
BUGS = {
    'advantages normalised inside the loss': ('normalized_advantages',),
}


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        N = len(states) // T
        with torch.no_grad():
            values = self.compute_values(states).view(N, T).T
            terminal_values = self.compute_values(next_states).view(N, T).T
        # collect_rollouts: bootstrap a truncated episode through its reward
        rewards = rewards.clone().view(N, T).T
        truncated = truncations.view(N, T).T
        rewards[truncated] += self.gamma * terminal_values[truncated]
        dones = (terminations | truncations).view(N, T).T.float()
        episode_starts = torch.zeros_like(dones)
        episode_starts[1:] = dones[:-1]
        last_values, last_dones = terminal_values[-1], dones[-1]
        advantages = torch.zeros_like(rewards)
        last_gae_lam = 0
        for step in reversed(range(T)):
            if step == T - 1:
                next_non_terminal = 1.0 - last_dones
                next_values = last_values
            else:
                next_non_terminal = 1.0 - episode_starts[step + 1]
                next_values = values[step + 1]
            delta = rewards[step] + self.gamma * next_values * next_non_terminal - values[step]
            last_gae_lam = delta + self.gamma * self.lmbda * next_non_terminal * last_gae_lam
            advantages[step] = last_gae_lam
        returns = advantages + values
        return advantages.T.reshape(-1), returns.T.reshape(-1)

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        log_prob = self.compute_log_probs(states, actions)
        values = self.compute_values(states)
        if len(advantages) > 1:  # normalize_advantage=True
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        ratio = torch.exp(log_prob - log_probs_old)
        policy_loss_1 = advantages * ratio
        policy_loss_2 = advantages * torch.clamp(ratio, 1 - self.epsilon, 1 + self.epsilon)
        policy_loss = -torch.min(policy_loss_1, policy_loss_2).mean()
        values_pred = values  # clip_range_vf is None
        value_loss = F.mse_loss(critic_targets, values_pred)
        return policy_loss, value_loss
