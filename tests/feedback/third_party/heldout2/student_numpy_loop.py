"""Hand-written: a student who loops in numpy, one environment at a time.

compute_advantages: the per-environment slices are right and the termination handling is
right, but the backward loop is range(T - 1, 0, -1), so step 0 of every segment is never
visited (its advantage stays 0 and its target is v(s_0)); and after a truncation the student
"bootstraps from the state we are in" with values[k] instead of the value of next_states[k].
compute_loss: the student clips the ratio into [1 / (1 + ε), 1 + ε] ("symmetric, so that
π/π_old and π_old/π are treated alike"); the critic loss is right."""

import numpy as np
import torch

from ppo_reference import PPO

SOURCE = 'hand-written (student): numpy loop per environment'
CORRECT = {'compute_advantages': False, 'compute_loss': False}
BUGS = {
    'the backward loop range(T - 1, 0, -1) never visits t = 0': ('skips_first_step',),
    'after a truncation δ_t bootstraps from v(s_t) (values[k]) instead of v(next_states[k])':
        ('truncation_bootstraps_current',),
    'the ratio is clipped into [1 / (1 + ε), 1 + ε]': ('clip_bounds',),
}


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        N = len(states) // T
        with torch.no_grad():
            values = self.compute_values(states).numpy()
            next_values = self.compute_values(next_states).numpy()
        rew = rewards.numpy()
        term = terminations.numpy()
        trunc = truncations.numpy()
        advantages = np.zeros(N * T, dtype=np.float32)
        for i in range(N):
            gae = 0.0
            for t in range(T - 1, 0, -1):
                k = i * T + t
                if term[k]:
                    next_value, gae = 0.0, 0.0
                elif trunc[k]:
                    next_value, gae = values[k], 0.0  # "the episode stopped here"
                else:
                    next_value = next_values[k]
                delta = rew[k] + self.gamma * next_value - values[k]
                gae = delta + self.gamma * self.lmbda * gae
                advantages[k] = gae
        targets = advantages + values
        return torch.from_numpy(advantages), torch.from_numpy(targets)

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        ratios = torch.exp(self.compute_log_probs(states, actions) - log_probs_old)
        clipped = torch.clamp(ratios, 1 / (1 + self.epsilon), 1 + self.epsilon)
        actor_loss = -torch.min(ratios * advantages, clipped * advantages).mean()
        critic_loss = ((critic_targets - self.compute_values(states)) ** 2).mean()
        return actor_loss, critic_loss
