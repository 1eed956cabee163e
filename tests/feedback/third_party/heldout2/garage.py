"""garage's PPO (PyTorch), its advantages and value targets adapted to the kit's API with its conventions kept.

Sources: rlworkgroup/garage, src/garage/torch/_functions.py (compute_advantages: episodes as
rows of an (N, max_episode_length) matrix padded with 0, deltas = rewards + discount *
F.pad(baselines, (0, 1))[:, 1:] - baselines, i.e. the value after the last step of every
episode is 0, summed by an F.conv2d with the filter (discount * gae_lambda) ** k) and
src/garage/torch/algos/vpg.py (VPG._compute_advantage with the default center_adv=True:
(advantage_flat - means) / (variance + 1e-8) with torch's sample variance; the value function
is fitted to `returns`, discount_cumsum of each episode's rewards). garage samples whole
episodes; the kit's segments are cut into garage's episodes at every termination, truncation
and segment end, each a row padded to T. Only compute_advantages is ported: garage's value
loss is a Gaussian negative log-likelihood of GaussianMLPValueFunction, which the kit's
critic has no counterpart for, so compute_loss is the reference's."""

import torch
import torch.nn.functional as F

from ppo_reference import PPO

SOURCE = 'rlworkgroup/garage, src/garage/torch/_functions.py + src/garage/torch/algos/vpg.py'
CORRECT = {'compute_advantages': False}
BUGS = {
    'every episode piece ends with value 0: a truncated step is not bootstrapped':
        ('truncation_as_termination',),
    'every episode piece ends with value 0: the last step of a segment is not bootstrapped':
        ('no_segment_bootstrap',),
    'advantages centred and divided by the VARIANCE (+ 1e-8) inside compute_advantages':
        ('normalized_in_gae',),
    'critic targets are the discounted rewards-to-go of each episode piece': ('target_returns',),
}


def compute_advantages(discount, gae_lambda, max_episode_length, baselines, rewards):
    adv_filter = torch.full((1, 1, 1, max_episode_length - 1), discount * gae_lambda, dtype=torch.float)
    adv_filter = torch.cumprod(F.pad(adv_filter, (1, 0), value=1), dim=-1)
    deltas = (rewards + discount * F.pad(baselines, (0, 1))[:, 1:] - baselines)
    deltas = F.pad(deltas, (0, max_episode_length - 1)).unsqueeze(0).unsqueeze(0)
    advantages = F.conv2d(deltas, adv_filter, stride=1).reshape(rewards.shape)
    return advantages


def discount_cumsum(x, discount):
    out = torch.zeros_like(x)
    acc = 0.0
    for t in reversed(range(len(x))):
        acc = x[t] + discount * acc
        out[t] = acc
    return out


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        ends = (terminations | truncations).clone()
        ends[T - 1::T] = True  # garage's episodes: cut at every end and at each segment's end
        starts = [0] + [k + 1 for k in torch.nonzero(ends).flatten().tolist()[:-1]]
        stops = [k + 1 for k in torch.nonzero(ends).flatten().tolist()]
        with torch.no_grad():
            values = self.compute_values(states)
        n = len(starts)
        baselines = torch.zeros(n, T)
        padded_rewards = torch.zeros(n, T)
        returns = []
        for row, (a, b) in enumerate(zip(starts, stops)):
            baselines[row, :b - a] = values[a:b]  # pad_to_last(..., val=0)
            padded_rewards[row, :b - a] = rewards[a:b].float()
            returns.append(discount_cumsum(rewards[a:b].float(), self.gamma))
        advantages = compute_advantages(self.gamma, self.lmbda, T, baselines, padded_rewards)
        advantage_flat = torch.cat([advantages[row, :b - a] for row, (a, b) in enumerate(zip(starts, stops))])
        means = advantage_flat.mean()
        variance = advantage_flat.var()
        advantage_flat = (advantage_flat - means) / (variance + 1e-8)
        return advantage_flat, torch.cat(returns)
