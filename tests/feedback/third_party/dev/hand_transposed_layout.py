"""Hand-written student bug: the rollout is reshaped as (T, N) (time-major) although rows are
environment-major (environment i is rows i*T .. (i+1)*T-1); the loop runs over the first axis."""

import torch

from ppo_reference import PPO

SOURCE = 'hand-written'
CORRECT = {'compute_advantages': False, 'compute_loss': True}
BUGS = {'the (N * T) rows are reshaped as (T, N): steps and environments are mixed up': ('across_envs',)}


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        N = len(states) // T
        with torch.no_grad():
            values = self.compute_values(states).reshape(T, N)
            next_values = self.compute_values(next_states).reshape(T, N)
        rewards = rewards.float().reshape(T, N)
        bootstrap = (~terminations).float().reshape(T, N)
        cont = (~(terminations | truncations)).float().reshape(T, N)
        deltas = rewards + self.gamma * bootstrap * next_values - values
        advantages = torch.zeros(T, N)
        gae = torch.zeros(N)
        for t in reversed(range(T)):
            gae = deltas[t] + self.gamma * self.lmbda * cont[t] * gae
            advantages[t] = gae
        return advantages.reshape(-1), (advantages + values).reshape(-1)
