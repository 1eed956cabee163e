"""minimalRL's PPO, adapted to the kit's API with its conventions kept.

Source: seungeunrho/minimalRL, ppo.py (PPO.train). Kept: done_mask = 0 when gym's done
(terminated or truncated), td_target = r + gamma * v(s') * done_mask, the advantages summed
backwards over the whole batch as one sequence without any reset (minimalRL's batches are one
environment's steps that stop at `done`), the critic fitted to td_target with smooth_l1_loss,
and the ratio exp(log(pi_a) - log(prob_a)) from probabilities."""

import torch
import torch.nn.functional as F

from ppo_reference import PPO

SOURCE = 'seungeunrho/minimalRL, ppo.py'
CORRECT = {'compute_advantages': False, 'compute_loss': False}
BUGS = {
    'the backward sum runs over the whole batch, across environments': ('across_envs',),
    'the backward sum is not reset at episode ends': ('no_reset', 'carries_over_terminations', 'ignores_truncations'),
    'a truncated step is not bootstrapped (done = terminated or truncated)': ('truncation_as_termination',),
    'critic targets are one-step TD targets': ('target_td',),
    'critic loss is smooth L1': ('critic_huber',),
}


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        done_mask = 1.0 - (terminations | truncations).float()
        with torch.no_grad():
            td_target = rewards + self.gamma * self.compute_values(next_states) * done_mask
            delta = td_target - self.compute_values(states)
        delta = delta.numpy()
        advantage_lst = []
        advantage = 0.0
        for delta_t in delta[::-1]:
            advantage = self.gamma * self.lmbda * advantage + delta_t
            advantage_lst.append(advantage)
        advantage_lst.reverse()
        advantage = torch.tensor(advantage_lst, dtype=torch.float)
        return advantage, td_target

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        pi = torch.softmax(self.actor(states), dim=1)
        pi_a = pi.gather(1, actions.unsqueeze(1)).squeeze(1)
        prob_a = log_probs_old.exp()
        ratio = torch.exp(torch.log(pi_a) - torch.log(prob_a))
        surr1 = ratio * advantages
        surr2 = torch.clamp(ratio, 1 - self.epsilon, 1 + self.epsilon) * advantages
        actor_loss = (-torch.min(surr1, surr2)).mean()  # loss.mean() of the per-transition term
        critic_loss = F.smooth_l1_loss(critic_targets.detach(), self.compute_values(states))
        return actor_loss, critic_loss
