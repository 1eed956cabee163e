"""Hand-written, subtly CORRECT: GAE in numpy float64 per environment, with episode ends handled by
resetting a Python float, returned as torch tensors via torch.from_numpy(...).float(); the loss
with torch.minimum and (x ** 2).mean() on values.view(-1)."""

import numpy as np
import torch

from ppo_reference import PPO

SOURCE = 'hand-written'
CORRECT = {'compute_advantages': True, 'compute_loss': True}
BUGS = {}


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        with torch.no_grad():
            v = self.compute_values(states).numpy().astype(np.float64)
            nv = self.compute_values(next_states).numpy().astype(np.float64)
        r = rewards.numpy().astype(np.float64)
        term, trunc = terminations.numpy(), truncations.numpy()
        adv = np.zeros_like(r)
        for i in range(len(r) // T):
            running = 0.0
            for k in range(i * T + T - 1, i * T - 1, -1):
                if term[k] or trunc[k]:
                    running = 0.0
                delta = r[k] + self.gamma * (0.0 if term[k] else nv[k]) - v[k]
                running = delta + self.gamma * self.lmbda * running
                adv[k] = running
        return torch.from_numpy(adv).float(), torch.from_numpy(adv + v).float()

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        ratio = torch.exp(self.compute_log_probs(states, actions) - log_probs_old)
        obj = torch.minimum(ratio * advantages, ratio.clamp(1 - self.epsilon, 1 + self.epsilon) * advantages)
        values = self.compute_values(states).view(-1)
        return -obj.mean(), ((values - critic_targets) ** 2).mean()
