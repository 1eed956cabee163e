"""Hand-written student bug: the log-probabilities summed over the batch before exp() (as one
would sum over action dimensions), so every transition gets the joint ratio of the whole batch."""

import torch

from ppo_reference import PPO

SOURCE = 'hand-written'
CORRECT = {'compute_advantages': True, 'compute_loss': False}
BUGS = {'ratio = exp(sum over the batch of log-ratios): one joint ratio for all transitions': ()}


class Implementation(PPO):
    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        log_probs = self.compute_log_probs(states, actions)
        ratios = torch.exp((log_probs - log_probs_old).sum(dim=-1, keepdim=True))
        l1 = ratios * advantages
        l2 = torch.clamp(ratios, 1 - self.epsilon, 1 + self.epsilon) * advantages
        actor_loss = -torch.min(l1, l2).mean()
        critic_loss = ((critic_targets.detach() - self.compute_values(states)) ** 2).mean()
        return actor_loss, critic_loss
