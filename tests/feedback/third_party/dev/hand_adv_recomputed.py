"""Hand-written student bug: compute_loss ignores the given advantages and recomputes them as
critic_targets - v(s) with the CURRENT critic (not detached: the actor loss pushes the critic)."""

import torch

from ppo_reference import PPO

SOURCE = 'hand-written'
CORRECT = {'compute_advantages': True, 'compute_loss': False}
BUGS = {'advantages recomputed inside compute_loss as critic_targets - v(s), with the gradient': ('actor_uses_critic_error',)}


class Implementation(PPO):
    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        values = self.compute_values(states)
        advantages = critic_targets - values
        ratios = torch.exp(self.compute_log_probs(states, actions) - log_probs_old)
        l1 = ratios * advantages
        l2 = torch.clamp(ratios, 1 - self.epsilon, 1 + self.epsilon) * advantages
        actor_loss = -torch.min(l1, l2).mean()
        critic_loss = ((critic_targets - values) ** 2).mean()
        return actor_loss, critic_loss
