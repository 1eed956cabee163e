"""The RL-Adventure-2 PPO (higgsfield's notebook, here as copied into a course project),
adapted to the kit's API with its conventions kept.

Source: NitishNaineni/Multi-Agent-Flocking, ppo.py (compute_gae, ppo_update), the code of
higgsfield/RL-Adventure-2's 3.ppo notebook. Kept: masks = 1 - done (gym's done: terminated or
truncated), values + [next_value] so that values[step + 1] is the next row's value,
returns = gae + values and advantage = returns - values, no normalisation, and the total loss
0.5 * critic_loss + actor_loss - 0.001 * entropy split into its actor part (with the entropy
bonus) and its critic part (with its factor 0.5): the numbers are written into the loss, not
settings of a trainer."""

import torch

from ppo_reference import PPO

SOURCE = 'NitishNaineni/Multi-Agent-Flocking, ppo.py (from higgsfield/RL-Adventure-2)'
CORRECT = {'compute_advantages': False, 'compute_loss': False}
BUGS = {
    'a truncation stops the bootstrap (done = terminated or truncated)': ('truncation_as_termination',),
    'the actor loss has an entropy bonus': ('actor_extra_term',),
    'the critic loss has a factor 1/2': ('critic_half',),
}


class Implementation(PPO):
    tau = None  # GAE's lambda is self.lmbda

    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        N = len(states) // T
        with torch.no_grad():
            values = list(self.compute_values(states).view(N, T).T)          # one (N,) tensor per step
            next_value = self.compute_values(next_states).view(N, T).T[-1]
        rewards = list(rewards.view(N, T).T)
        masks = list(1.0 - (terminations | truncations).view(N, T).T.float())
        values = values + [next_value]
        gae = 0
        returns = []
        for step in reversed(range(len(rewards))):
            delta = rewards[step] + self.gamma * values[step + 1] * masks[step] - values[step]
            gae = delta + self.gamma * self.lmbda * masks[step] * gae
            returns.insert(0, gae + values[step])
        returns = torch.stack(returns)
        advantage = returns - torch.stack(values[:-1])
        return advantage.T.reshape(-1), returns.T.reshape(-1)

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        dist = torch.distributions.Categorical(logits=self.actor(states))
        value = self.compute_values(states)
        entropy = dist.entropy().mean()
        new_log_probs = dist.log_prob(actions)
        ratio = (new_log_probs - log_probs_old).exp()
        surr1 = ratio * advantages
        surr2 = torch.clamp(ratio, 1.0 - self.epsilon, 1.0 + self.epsilon) * advantages
        actor_loss = - torch.min(surr1, surr2).mean()
        critic_loss = (critic_targets - value).pow(2).mean()
        return actor_loss - 0.001 * entropy, 0.5 * critic_loss
