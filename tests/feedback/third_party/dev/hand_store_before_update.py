"""Hand-written student off-by-one: the running advantage is stored BEFORE it is updated, so
slot t holds a_{t+1} (and the last step 0)."""

import torch

from ppo_reference import PPO

SOURCE = 'hand-written'
CORRECT = {'compute_advantages': False, 'compute_loss': True}
BUGS = {'each step gets the advantage of the step after it (stored before the update)': ('stored_late',)}


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        N = len(states) // T
        with torch.no_grad():
            values = self.compute_values(states).view(N, T)
            next_values = self.compute_values(next_states).view(N, T)
        rewards = rewards.float().view(N, T)
        bootstrap = (~terminations).float().view(N, T)
        cont = (~(terminations | truncations)).float().view(N, T)
        deltas = rewards + self.gamma * bootstrap * next_values - values
        advantages = torch.zeros(N, T)
        gae = torch.zeros(N)
        for t in reversed(range(T)):
            advantages[:, t] = gae
            gae = deltas[:, t] + self.gamma * self.lmbda * cont[:, t] * gae
        return advantages.reshape(-1), (advantages + values).reshape(-1)
