"""TorchRL's GAE and ClipPPOLoss, adapted to the kit's API with their defaults kept.

Sources: pytorch/rl, torchrl/objectives/value/functional.py (generalized_advantage_estimate:
the bootstrap masked by `terminated`, the running sum by `done`) and
torchrl/objectives/ppo.py (ClipPPOLoss with its defaults: loss_critic_type="smooth_l1",
critic_coef=1.0, normalize_advantage=False; the clip applied to the log-weight between
log1p(-eps) and log1p(eps)). The entropy bonus is a separate entry of the loss dict."""

import math

import torch
import torch.nn.functional as F

from ppo_reference import PPO

SOURCE = 'pytorch/rl, torchrl/objectives/value/functional.py + torchrl/objectives/ppo.py'
CORRECT = {'compute_advantages': True, 'compute_loss': False}
BUGS = {
    'critic loss is smooth L1 (loss_critic_type="smooth_l1")': ('critic_huber',),
}


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        N = len(states) // T
        with torch.no_grad():
            state_value = self.compute_values(states).view(N, T)
            next_state_value = self.compute_values(next_states).view(N, T)
        reward = rewards.view(N, T)
        not_done = (~(terminations | truncations)).view(N, T).float()
        not_terminated = (~terminations).view(N, T).float()
        advantage = torch.zeros(N, T)
        gae = torch.zeros(N)
        for t in reversed(range(T)):
            delta = reward[:, t] + self.gamma * next_state_value[:, t] * not_terminated[:, t] - state_value[:, t]
            gae = delta + self.gamma * self.lmbda * not_done[:, t] * gae
            advantage[:, t] = gae
        value_target = advantage + state_value
        return advantage.reshape(-1), value_target.reshape(-1)

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        log_weight = self.compute_log_probs(states, actions) - log_probs_old
        gain1 = log_weight.exp() * advantages
        log_weight_clip = log_weight.clamp(math.log1p(-self.epsilon), math.log1p(self.epsilon))
        gain2 = log_weight_clip.exp() * advantages
        gain = torch.stack([gain1, gain2], -1).min(dim=-1).values
        loss_objective = -gain.mean()
        state_value = self.compute_values(states)
        loss_critic = F.smooth_l1_loss(state_value, critic_targets)  # distance_loss(..., "smooth_l1"), coef 1.0
        return loss_objective, loss_critic
