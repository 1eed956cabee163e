"""Tianshou's PPOPolicy, adapted to the kit's API with its defaults kept.

Sources: thu-ml/tianshou, tianshou/policy/base.py (compute_episodic_return and _gae_return:
v_s_ masked by value_mask = ~terminated, end_flag = terminated or truncated, and the end of
the unfinished data; returns = advantage + v_s) and tianshou/policy/modelfree/ppo.py
(PPOPolicy.learn with advantage_normalization=True: each minibatch's advantages normalised
with std + eps; value_clip=False; dual_clip=None). The entropy term is a separate term."""

import numpy as np
import torch

from ppo_reference import PPO

SOURCE = 'thu-ml/tianshou, tianshou/policy/base.py + tianshou/policy/modelfree/ppo.py'
CORRECT = {'compute_advantages': True, 'compute_loss': False}
BUGS = {
    'advantages normalised inside the loss': ('normalized_advantages',),
}


def _gae_return(v_s, v_s_, rew, end_flag, gamma, gae_lambda):
    returns = np.zeros(rew.shape)
    delta = rew + v_s_ * gamma - v_s
    discount = (1.0 - end_flag) * (gamma * gae_lambda)
    gae = 0.0
    for i in range(len(rew) - 1, -1, -1):
        gae = delta[i] + discount[i] * gae
        returns[i] = gae
    return returns


class Implementation(PPO):
    _eps = 1e-8

    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        with torch.no_grad():
            v_s = self.compute_values(states).numpy()
            v_s_ = self.compute_values(next_states).numpy() * (~terminations).numpy()  # value_mask
        end_flag = (terminations | truncations).numpy().copy()
        end_flag[T - 1::T] = True  # each environment's data is unfinished where the segment ends
        advantage = _gae_return(v_s, v_s_, rewards.numpy(), end_flag, self.gamma, self.lmbda)
        returns = advantage + v_s
        return torch.as_tensor(advantage, dtype=torch.float32), torch.as_tensor(returns, dtype=torch.float32)

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        mean, std = advantages.mean(), advantages.std()
        adv = (advantages - mean) / (std + self._eps)
        ratio = (self.compute_log_probs(states, actions) - log_probs_old).exp().float()
        surr1 = ratio * adv
        surr2 = ratio.clamp(1.0 - self.epsilon, 1.0 + self.epsilon) * adv
        clip_loss = -torch.min(surr1, surr2).mean()
        value = self.compute_values(states).flatten()
        vf_loss = (critic_targets - value).pow(2).mean()
        return clip_loss, vf_loss
