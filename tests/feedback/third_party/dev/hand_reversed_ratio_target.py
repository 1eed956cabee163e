"""Hand-written student bugs: the ratio written old / new (pi_old / pi_theta), and the critic
regressed onto critic_targets rebuilt from the CURRENT critic (advantages + v(s).detach()), so
its error is the advantage itself: mean(advantages^2) with no gradient to the critic."""

import torch

from ppo_reference import PPO

SOURCE = 'hand-written'
CORRECT = {'compute_advantages': True, 'compute_loss': False}
BUGS = {
    'the ratio is pi_old / pi_theta': ('inverted_ratio',),
    'critic target rebuilt as advantages + v(s).detach(): the loss is mean(a^2)': ('critic_uses_advantages',),
}


class Implementation(PPO):
    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        log_probs = self.compute_log_probs(states, actions)
        ratios = log_probs_old.exp() / log_probs.exp()
        l1 = ratios * advantages
        l2 = torch.clamp(ratios, 1 - self.epsilon, 1 + self.epsilon) * advantages
        actor_loss = -torch.min(l1, l2).mean()
        values = self.compute_values(states)
        targets = advantages + values.detach()
        critic_loss = ((targets - values.detach()) ** 2).mean()
        return actor_loss, critic_loss
