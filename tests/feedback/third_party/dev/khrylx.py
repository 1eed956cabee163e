"""Khrylx's PyTorch-RL (PPO, TRPO, A2C), adapted to the kit's API with its conventions kept.

Source: Khrylx/PyTorch-RL, core/common.py (estimate_advantages) and core/ppo.py (ppo_step:
value loss (values_pred - returns)^2 mean, surrogate -min(surr1, surr2).mean()). Kept: one
backward pass over the whole batch (its sampler collects whole episodes, one after another),
masks = 0 after gym's done (terminated or truncated), prev_value = the value of the next row
(0 after the last one), the returns are the discounted rewards-to-go (not advantages +
values) and the advantages normalised with torch's std and no epsilon."""

import torch

from ppo_reference import PPO

SOURCE = 'Khrylx/PyTorch-RL, core/common.py + core/ppo.py'
CORRECT = {'compute_advantages': False, 'compute_loss': True}
BUGS = {
    'one backward pass over the whole batch, across environments': ('across_envs',),
    'a truncation stops the bootstrap (done = terminated or truncated)': ('truncation_as_termination',),
    'advantages normalised inside compute_advantages': ('normalized_in_gae',),
    'critic targets are the rewards-to-go': ('target_returns',),
}


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        with torch.no_grad():
            values = self.compute_values(states).unsqueeze(1)
        rewards = rewards.unsqueeze(1)
        masks = 1.0 - (terminations | truncations).float()
        returns = torch.zeros(rewards.size(0), 1)
        deltas = torch.zeros(rewards.size(0), 1)
        advantages = torch.zeros(rewards.size(0), 1)
        prev_return, prev_value, prev_advantage = 0, 0, 0
        for i in reversed(range(rewards.size(0))):
            returns[i] = rewards[i] + self.gamma * prev_return * masks[i]
            deltas[i] = rewards[i] + self.gamma * prev_value * masks[i] - values[i]
            advantages[i] = deltas[i] + self.gamma * self.lmbda * prev_advantage * masks[i]
            prev_return = returns[i, 0]
            prev_value = values[i, 0]
            prev_advantage = advantages[i, 0]
        advantages = (advantages - advantages.mean()) / advantages.std()
        return advantages.squeeze(1), returns.squeeze(1)

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        values_pred = self.compute_values(states)
        value_loss = (values_pred - critic_targets).pow(2).mean()
        ratio = torch.exp(self.compute_log_probs(states, actions) - log_probs_old)
        surr1 = ratio * advantages
        surr2 = torch.clamp(ratio, 1.0 - self.epsilon, 1.0 + self.epsilon) * advantages
        policy_surr = -torch.min(surr1, surr2).mean()
        return policy_surr, value_loss
