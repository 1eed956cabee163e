"""Hand-written student bug: the critic's output (B, 1) is not squeezed, so (critic_targets - v)
broadcasts to a (B, B) matrix and the mean runs over every pair."""

import torch

from ppo_reference import PPO

SOURCE = 'hand-written'
CORRECT = {'compute_advantages': True, 'compute_loss': False}
BUGS = {'critic loss broadcast (B,) - (B, 1) -> (B, B): the mean over the wrong shape': ()}


class Implementation(PPO):
    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        ratios = torch.exp(self.compute_log_probs(states, actions) - log_probs_old)
        l1 = ratios * advantages
        l2 = torch.clamp(ratios, 1 - self.epsilon, 1 + self.epsilon) * advantages
        actor_loss = -torch.min(l1, l2).mean()
        values = self.critic(states)          # shape (B, 1)
        critic_loss = ((critic_targets.detach() - values) ** 2).mean()
        return actor_loss, critic_loss
