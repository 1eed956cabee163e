"""nikhilbarhate99's PPO-PyTorch (the discrete version), adapted to the kit's API with its
conventions kept.

Source: nikhilbarhate99/PPO-PyTorch, PPO.py (PPO.update). Kept: a Monte Carlo estimate of the
returns over the whole memory, backwards with `discounted_reward = reward + gamma *
discounted_reward` and no reset (this version has no is_terminal check), the returns
normalised with torch's std + 1e-5 and used as the critic targets, advantages = returns -
state_values, and the per-transition loss -min(surr1, surr2) + 0.5 * MseLoss - 0.01 *
entropy, whose actor part (with the entropy bonus) and critic part are returned apart."""

import torch
import torch.nn as nn

from ppo_reference import PPO

SOURCE = 'nikhilbarhate99/PPO-PyTorch, PPO.py'
CORRECT = {'compute_advantages': False, 'compute_loss': False}
BUGS = {
    'the returns run over the whole memory: across environments and episode ends': ('across_envs', 'no_reset'),
    'Monte Carlo returns: no lambda, no bootstrap from the critic': ('no_lambda', 'no_segment_bootstrap',
                                                                     'decay'),
    'the returns are normalised (and so are the advantages and targets)': ('normalized_in_gae',),
    'critic targets are the (normalised) returns': ('target_returns',),
    'the actor loss has an entropy bonus': ('actor_extra_term',),
    'the critic loss has a factor 1/2': ('critic_half',),
}


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        returns = []
        discounted_reward = 0
        for reward in reversed(rewards.tolist()):
            discounted_reward = reward + (self.gamma * discounted_reward)
            returns.insert(0, discounted_reward)
        returns = torch.tensor(returns, dtype=torch.float32)
        returns = (returns - returns.mean()) / (returns.std() + 1e-5)
        with torch.no_grad():
            state_values = self.compute_values(states)
        advantages = returns - state_values.detach()
        return advantages, returns

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        logits = self.actor(states)
        dist = torch.distributions.Categorical(logits=logits)
        logprobs = dist.log_prob(actions)
        dist_entropy = dist.entropy()
        state_values = self.compute_values(states)
        ratios = torch.exp(logprobs - log_probs_old.detach())
        surr1 = ratios * advantages
        surr2 = torch.clamp(ratios, 1 - self.epsilon, 1 + self.epsilon) * advantages
        actor_loss = (-torch.min(surr1, surr2) - 0.01 * dist_entropy).mean()
        critic_loss = 0.5 * nn.MSELoss()(state_values, critic_targets)
        return actor_loss, critic_loss
