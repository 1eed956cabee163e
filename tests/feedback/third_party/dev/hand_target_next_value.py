"""Hand-written student bug: critic_targets = advantages + v(s_{t+1}) (next_values instead of values)."""

import torch

from ppo_reference import PPO

SOURCE = 'hand-written'
CORRECT = {'compute_advantages': False, 'compute_loss': True}
BUGS = {'critic_targets add v(s_{t+1}) instead of v(s_t)': ()}


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        advantages, targets = super().compute_advantages(states, rewards, next_states, terminations, truncations)
        with torch.no_grad():
            next_values = self.compute_values(next_states)
        return advantages, advantages + next_values
