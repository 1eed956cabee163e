"""Hand-written student bug: the two surrogate terms stacked as columns and min() taken over
dim=0 (the batch) instead of dim=1 (the pair), then the mean of the two batch minima."""

import torch

from ppo_reference import PPO

SOURCE = 'hand-written'
CORRECT = {'compute_advantages': True, 'compute_loss': False}
BUGS = {'min over the batch dimension instead of over the pair of terms': ('min_of_means',)}


class Implementation(PPO):
    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        ratios = torch.exp(self.compute_log_probs(states, actions) - log_probs_old)
        l1 = ratios * advantages
        l2 = torch.clamp(ratios, 1 - self.epsilon, 1 + self.epsilon) * advantages
        actor_loss = -torch.stack([l1, l2], dim=1).min(dim=0).values.mean()
        critic_loss = ((critic_targets.detach() - self.compute_values(states)) ** 2).mean()
        return actor_loss, critic_loss
