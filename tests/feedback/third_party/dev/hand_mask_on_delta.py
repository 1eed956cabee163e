"""Hand-written student bug: the episode-continues mask multiplies delta_t instead of the carried
sum: a_t = (1 - done_t) * delta_t + gamma * lambda * a_{t+1}."""

import torch

from ppo_reference import PPO

SOURCE = 'hand-written'
CORRECT = {'compute_advantages': False, 'compute_loss': True}
BUGS = {
    'the mask zeroes delta_t at an episode end instead of stopping the sum':
        ('carries_over_terminations', 'no_reset', 'ignores_truncations', 'truncation_zeroed'),
}


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
            gae = cont[:, t] * deltas[:, t] + self.gamma * self.lmbda * gae
            advantages[:, t] = gae
        return advantages.reshape(-1), (advantages + values).reshape(-1)
