"""A course project's GAE helper, adapted to the kit's API with its conventions kept.

Source: BigbossDD/rl_proj, src/helper_classes/PPO_helper_classes/GAE.py (GAE.compute: values
with last_value appended, mask = 1 - dones[t] on both the bootstrap and the running sum,
returns = advantages + values). Its `dones` is "the episode termination mask", so the kit's
terminations are passed; the next value is the next row's value, as in the helper."""

import numpy as np
import torch

from ppo_reference import PPO

SOURCE = 'BigbossDD/rl_proj, src/helper_classes/PPO_helper_classes/GAE.py'
CORRECT = {'compute_advantages': False, 'compute_loss': True}
BUGS = {
    'truncations are ignored: the sum runs on and the next row (the next episode) is bootstrapped':
        ('ignores_truncations', 'truncation_bootstraps_next_row'),
}


def compute(values, rewards, dones, last_value, gamma, lam):
    T = len(rewards)
    advantages = np.zeros(T, dtype=np.float32)
    gae = 0.0
    values = np.append(values, last_value)
    for t in reversed(range(T)):
        mask = 1.0 - dones[t]
        delta = rewards[t] + gamma * values[t + 1] * mask - values[t]
        gae = delta + gamma * lam * mask * gae
        advantages[t] = gae
    returns = advantages + values[:-1]
    return advantages, returns


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        T = self.num_steps
        with torch.no_grad():
            values = self.compute_values(states).numpy()
            last_values = self.compute_values(next_states).numpy()
        advantages, returns = np.zeros(len(states), np.float32), np.zeros(len(states), np.float32)
        for begin in range(0, len(states), T):
            segment = slice(begin, begin + T)
            advantages[segment], returns[segment] = compute(values[segment], rewards.numpy()[segment],
                                                            terminations.numpy()[segment].astype(np.float32),
                                                            last_values[begin + T - 1], self.gamma, self.lmbda)
        return torch.as_tensor(advantages), torch.as_tensor(returns)
