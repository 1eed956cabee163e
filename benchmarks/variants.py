"""Trainer variants the field uses that Config has no field for, for sweep.py to measure: a grid
entry {"variant": NAME, ...} trains with the variant NAME (its other keys are Config overrides).

    python benchmarks/sweep.py GRID --seeds 0-9 --out benchmarks/results/sweep_issue20.jsonl

None of them is part of the kit: one that is adopted moves into the notebook's code. Each is a
context manager around one run, given that run's Config; it may replace the agent's class
(ppo_reference.PPO, the name train() builds the agent from, as the notebook does with the
student's class) and gives train() a callback.

- obs_norm: observation normalisation, as gymnasium's NormalizeObservation or SB3's
  VecNormalize: a running mean and variance of the states the rollouts visit, updated on
  every rollout step, (s - mean) / sqrt(var + 1e-8) clipped to +-10, in front of both
  networks. It lives in the agent (buffers of its state_dict), so the greedy checks, the
  second process, the final evaluation and a checkpoint all see the same statistics.
- late_batch: larger batches late: once the training mean of 100 episodes reaches
  LATE_FROM, num_steps and minibatch_size double (twice the transitions per update, the same
  number of gradient steps per update); the less noisy gradient plays the part of a smaller
  learning rate (Smith et al. 2018, "Don't decay the learning rate, increase the batch size").
"""

import contextlib

import torch
from torch import nn

import ppo_reference

LATE_FROM = 100.0  # late_batch: the training mean from which the batch doubles


class RunningNorm(nn.Module):
    """(s - mean) / sqrt(var + eps), clipped; mean and var over every state given to update()
    (Chan et al.'s parallel update, as gymnasium's RunningMeanStd)."""

    def __init__(self, dim, clip=10.0, eps=1e-8):
        super().__init__()
        self.clip, self.eps = clip, eps
        self.register_buffer('mean', torch.zeros(dim))
        self.register_buffer('var', torch.ones(dim))
        self.register_buffer('count', torch.tensor(1e-4))

    def update(self, states):  # states: (batch, dim)
        batch_mean, batch_var, n = states.mean(0), states.var(0, unbiased=False), states.shape[0]
        delta, total = batch_mean - self.mean, self.count + n
        self.mean += delta * n / total
        self.var.copy_((self.var * self.count + batch_var * n + delta ** 2 * self.count * n / total) / total)
        self.count.copy_(total)

    def forward(self, states):
        return ((states - self.mean) / torch.sqrt(self.var + self.eps)).clamp(-self.clip, self.clip)


def normalized_ppo(base):
    class NormalizedPPO(base):
        def __init__(self, state_dim, *args):
            super().__init__(state_dim, *args)  # the same initial weights as the kit's agent
            norm = RunningNorm(state_dim)
            self.actor = nn.Sequential(norm, *self.actor)
            self.critic = nn.Sequential(norm, *self.critic)

        def select_actions(self, states):  # called by the rollout only: the statistics follow it
            self.actor[0].update(states)
            return super().select_actions(states)
    return NormalizedPPO


class LateBatch:
    """A train() callback: once the training mean reaches LATE_FROM, the run's Config and agent
    collect and learn from twice the transitions per update."""

    def __init__(self, config):
        self.config, self.doubled_at = config, None

    def __call__(self, stats):
        if self.doubled_at is None and stats.episodes >= stats.solve_window and stats.mean_return >= LATE_FROM:
            self.doubled_at = stats.env_steps
            self.config.num_steps *= 2
            self.config.minibatch_size *= 2
            stats.ac.num_steps = self.config.num_steps


@contextlib.contextmanager
def variant(name, config):
    """The callback of `name` for train(config), with ppo_reference changed for the run."""
    if name == 'obs_norm':
        kit = ppo_reference.PPO
        ppo_reference.PPO = normalized_ppo(kit)
        try:
            yield None
        finally:
            ppo_reference.PPO = kit
    elif name == 'late_batch':
        yield LateBatch(config)
    else:
        raise ValueError(f'unknown variant {name!r}: obs_norm or late_batch')
