"""Hand-written from DI-engine's ppo_policy_error (dual_clip = 5.0) with the reference critic loss:
the dual clip alone, to see whether any case can tell it from the exercise's L^clip."""

import torch

from ppo_reference import PPO

SOURCE = 'hand-written, after opendilab/DI-engine ding/rl_utils/ppo.py (dual_clip=5.0)'
CORRECT = {'compute_advantages': True, 'compute_loss': False}
BUGS = {'dual clip at c = 5 for a < 0': ('dual_clip',)}


class Implementation(PPO):
    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        ratio = torch.exp(self.compute_log_probs(states, actions) - log_probs_old)
        surr1 = ratio * advantages
        surr2 = ratio.clamp(1 - self.epsilon, 1 + self.epsilon) * advantages
        clip1 = torch.min(surr1, surr2)
        clip2 = torch.max(clip1, 5.0 * advantages)
        actor_loss = -torch.where(advantages < 0, clip2, clip1).mean()
        critic_loss = ((critic_targets.detach() - self.compute_values(states)) ** 2).mean()
        return actor_loss, critic_loss
