"""ikostrikov's pytorch-a2c-ppo-acktr-gail PPO, adapted to the kit's API with its conventions kept.

Sources: ikostrikov/pytorch-a2c-ppo-acktr-gail, a2c_ppo_acktr/storage.py
(RolloutStorage.compute_returns with use_gae=True, use_proper_time_limits=True) and
a2c_ppo_acktr/algo/ppo.py (PPO.update: advantages = returns - value_preds, normalised over the
whole rollout with std + 1e-5; clipped surrogate; use_clipped_value_loss=True without a factor
1/2). Kept: masks[t + 1] = 0 after gym's done (terminated or truncated), bad_masks[t + 1] = 0
after a time-limit truncation ("bad_transition"), value_preds[t + 1] as the next value inside
the rollout and next_value after it."""

import torch

from ppo_reference import PPO

SOURCE = 'ikostrikov/pytorch-a2c-ppo-acktr-gail, a2c_ppo_acktr/storage.py + algo/ppo.py'
CORRECT = {'compute_advantages': False, 'compute_loss': False}
BUGS = {
    'a truncated step gets advantage 0 (gae * bad_masks)': ('truncation_zeroed',),
    'advantages normalised inside compute_advantages (sample std)': ('normalized_in_gae',),
    'value loss clipped around the old values': ('critic_clipped',),
}


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        N = len(states) // T
        with torch.no_grad():
            value_preds = torch.zeros(T + 1, N)
            value_preds[:T] = self.compute_values(states).view(N, T).T
            value_preds[-1] = self.compute_values(next_states).view(N, T).T[-1]  # next_value
        rewards = rewards.view(N, T).T
        masks = torch.ones(T + 1, N)
        bad_masks = torch.ones(T + 1, N)
        masks[1:] = 1.0 - (terminations | truncations).view(N, T).T.float()
        bad_masks[1:] = 1.0 - truncations.view(N, T).T.float()
        returns = torch.zeros(T + 1, N)
        gae = 0
        for step in reversed(range(T)):
            delta = rewards[step] + self.gamma * value_preds[step + 1] * masks[step + 1] - value_preds[step]
            gae = delta + self.gamma * self.lmbda * masks[step + 1] * gae
            gae = gae * bad_masks[step + 1]
            returns[step] = gae + value_preds[step]
        advantages = returns[:-1] - value_preds[:-1]
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-5)
        return advantages.T.reshape(-1), returns[:-1].T.reshape(-1)

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        values = self.compute_values(states)
        action_log_probs = self.compute_log_probs(states, actions)
        value_preds_batch = critic_targets - advantages  # the rollout's values (returns = advantages + values)
        ratio = torch.exp(action_log_probs - log_probs_old)
        surr1 = ratio * advantages
        surr2 = torch.clamp(ratio, 1.0 - self.epsilon, 1.0 + self.epsilon) * advantages
        action_loss = -torch.min(surr1, surr2).mean()
        value_pred_clipped = value_preds_batch + (values - value_preds_batch).clamp(-self.epsilon, self.epsilon)
        value_losses = (values - critic_targets).pow(2)
        value_losses_clipped = (value_pred_clipped - critic_targets).pow(2)
        value_loss = torch.max(value_losses, value_losses_clipped).mean()
        return action_loss, value_loss
