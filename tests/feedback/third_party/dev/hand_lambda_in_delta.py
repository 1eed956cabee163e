"""Hand-written student bug: lambda put into delta as well: delta_t = r + gamma*lambda*v(s_{t+1}) - v(s_t)."""

import torch

from ppo_reference import PPO

SOURCE = 'hand-written'
CORRECT = {'compute_advantages': False, 'compute_loss': True}
BUGS = {'delta_t bootstraps with gamma*lambda instead of gamma': ()}


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        N = len(states) // T
        g, l = self.gamma, self.lmbda
        with torch.no_grad():
            values = self.compute_values(states).view(N, T)
            next_values = self.compute_values(next_states).view(N, T)
        rewards = rewards.float().view(N, T)
        bootstrap = (~terminations).float().view(N, T)
        cont = (~(terminations | truncations)).float().view(N, T)
        deltas = rewards + g * l * bootstrap * next_values - values
        advantages = torch.zeros(N, T)
        gae = torch.zeros(N)
        for t in reversed(range(T)):
            gae = deltas[:, t] + g * l * cont[:, t] * gae
            advantages[:, t] = gae
        return advantages.reshape(-1), (advantages + values).reshape(-1)
