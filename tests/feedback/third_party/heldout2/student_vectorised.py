"""Hand-written: a student who vectorises over the N environments and masks the values.

compute_advantages: the student "zeroes the values of terminal states" by multiplying the
values of the STATES by (1 - termination) as well as those of the next states, so a
terminated step gets δ_t = r_{t+1} instead of r_{t+1} - v(s_t) (and its target is a + 0);
and the running advantage decays by λ only (a_t = δ_t + λ * a_{t+1}). Episode ends and
segment ends are otherwise handled right. compute_loss: L^clip right; the critic loss is
summed over the batch instead of averaged."""

import torch

from ppo_reference import PPO

SOURCE = 'hand-written (student): vectorised over environments'
CORRECT = {'compute_advantages': False, 'compute_loss': False}
BUGS = {
    'v(s_t) is zeroed at terminated steps: δ_t = r_{t+1} there, target = advantage': (),
    'the backward sum decays by λ, not γλ': ('no_gamma_in_sum',),
    'the critic loss is a sum': ('critic_sum',),
}


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        N = states.shape[0] // T
        not_term = (~terminations).float().view(N, T)
        not_done = (~(terminations | truncations)).float().view(N, T)
        with torch.no_grad():
            values = self.compute_values(states).view(N, T) * not_term
            next_values = self.compute_values(next_states).view(N, T) * not_term
        deltas = rewards.view(N, T) + self.gamma * next_values - values
        adv = torch.zeros(N, T)
        running = torch.zeros(N)
        for t in range(T - 1, -1, -1):
            running = deltas[:, t] + self.lmbda * not_done[:, t] * running
            adv[:, t] = running
        return adv.flatten(), (adv + values).flatten()

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        ratios = torch.exp(self.compute_log_probs(states, actions) - log_probs_old)
        l1 = ratios * advantages
        l2 = torch.clamp(ratios, 1 - self.epsilon, 1 + self.epsilon) * advantages
        actor_loss = -torch.min(l1, l2).mean()
        critic_loss = ((critic_targets - self.compute_values(states)) ** 2).sum()
        return actor_loss, critic_loss
