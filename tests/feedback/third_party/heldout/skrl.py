"""skrl's PPO (torch), adapted to the kit's API with its defaults kept.

Source: Toni-SM/skrl, skrl/agents/torch/ppo/ppo.py (compute_gae inside _update, called with
dones = the memory's "terminated"; time_limit_bootstrap defaults to False; the policy and
value losses of _update with value_loss_scale 1.0 and clip_predicted_values False). Kept: the
next value is the value of the next row (last_values after the rollout), a truncation is not
an episode end for the GAE, the returns are advantages + values, and the advantages are then
normalised with std + 1e-8."""

import torch
import torch.nn.functional as F

from ppo_reference import PPO

SOURCE = 'Toni-SM/skrl, skrl/agents/torch/ppo/ppo.py'
CORRECT = {'compute_advantages': False, 'compute_loss': True}
BUGS = {
    'truncations are ignored: the sum runs on and the next row (the next episode) is bootstrapped':
        ('ignores_truncations', 'truncation_bootstraps_next_row'),
    'advantages normalised inside compute_advantages': ('normalized_in_gae',),
}


def compute_gae(rewards, dones, values, next_values, discount_factor=0.99, lambda_coefficient=0.95):
    advantage = 0
    advantages = torch.zeros_like(rewards)
    not_dones = dones.logical_not()
    memory_size = rewards.shape[0]
    last_values = next_values
    for i in reversed(range(memory_size)):
        next_values = values[i + 1] if i < memory_size - 1 else last_values
        advantage = rewards[i] - values[i] + discount_factor * not_dones[i] * (next_values + lambda_coefficient * advantage)
        advantages[i] = advantage
    returns = advantages + values
    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    return returns, advantages


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        T = self.num_steps
        N = len(states) // T
        with torch.no_grad():
            values = self.compute_values(states).view(N, T).T
            last_values = self.compute_values(next_states).view(N, T).T[-1]
        returns, advantages = compute_gae(rewards.view(N, T).T, terminations.view(N, T).T, values, last_values,
                                          self.gamma, self.lmbda)
        return advantages.T.reshape(-1), returns.T.reshape(-1)

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        next_log_prob = self.compute_log_probs(states, actions)
        ratio = torch.exp(next_log_prob - log_probs_old)
        surrogate = advantages * ratio
        surrogate_clipped = advantages * torch.clip(ratio, 1.0 - self.epsilon, 1.0 + self.epsilon)
        policy_loss = -torch.min(surrogate, surrogate_clipped).mean()
        predicted_values = self.compute_values(states)
        value_loss = 1.0 * F.mse_loss(critic_targets, predicted_values)
        return policy_loss, value_loss
