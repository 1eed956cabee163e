"""Hand-written student bug: the values computed under torch.no_grad() (copied from
compute_advantages), so critic_loss has the right value but no gradient: the critic never learns."""

import torch

from ppo_reference import PPO

SOURCE = 'hand-written'
CORRECT = {'compute_advantages': True, 'compute_loss': False}
BUGS = {'critic_loss computed under no_grad: right value, no gradient': ()}


class Implementation(PPO):
    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        ratios = torch.exp(self.compute_log_probs(states, actions) - log_probs_old)
        l1 = ratios * advantages
        l2 = torch.clamp(ratios, 1 - self.epsilon, 1 + self.epsilon) * advantages
        actor_loss = -torch.min(l1, l2).mean()
        with torch.no_grad():
            values = self.compute_values(states)
        critic_loss = ((critic_targets - values) ** 2).mean().requires_grad_()
        return actor_loss, critic_loss
