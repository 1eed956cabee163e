"""Eric Yu's "PPO for Beginners", adapted to the kit's API with its conventions kept.

Source: ericyangyu/PPO-for-Beginners, ppo.py (compute_rtgs, learn). Kept: rewards-to-go per
episode with no bootstrap (an episode's rollout stops at `done` or at the time limit, and a
batch is made of whole episodes, so the end of a segment is the end of an episode), advantages
A_k = rtgs - V normalised with torch's std + 1e-10, the critic fitted to the rewards-to-go
with nn.MSELoss, and actor_loss = (-min(surr1, surr2)).mean()."""

import torch
import torch.nn as nn

from ppo_reference import PPO

SOURCE = 'ericyangyu/PPO-for-Beginners, ppo.py'
CORRECT = {'compute_advantages': False, 'compute_loss': True}
BUGS = {
    'Monte Carlo advantages: rewards-to-go minus V, no lambda': ('no_lambda', 'decay'),
    'no bootstrap at a truncation or at the end of a segment': ('truncation_as_termination',
                                                                 'no_segment_bootstrap'),
    'advantages normalised inside compute_advantages': ('normalized_in_gae',),
    'critic targets are the rewards-to-go': ('target_returns',),
}


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        # the batch's episodes: each ends at done or at the end of its segment (the time limit)
        batch_rews, episode = [], []
        for k in range(len(states)):
            episode.append(float(rewards[k]))
            if terminations[k] or truncations[k] or k % T == T - 1:
                batch_rews.append(episode)
                episode = []
        batch_rtgs = []
        for ep_rews in reversed(batch_rews):
            discounted_reward = 0
            for rew in reversed(ep_rews):
                discounted_reward = rew + discounted_reward * self.gamma
                batch_rtgs.insert(0, discounted_reward)
        batch_rtgs = torch.tensor(batch_rtgs, dtype=torch.float)
        with torch.no_grad():
            V = self.compute_values(states)
        A_k = batch_rtgs - V.detach()
        A_k = (A_k - A_k.mean()) / (A_k.std() + 1e-10)
        return A_k, batch_rtgs

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        V = self.compute_values(states)
        curr_log_probs = self.compute_log_probs(states, actions)
        ratios = torch.exp(curr_log_probs - log_probs_old)
        surr1 = ratios * advantages
        surr2 = torch.clamp(ratios, 1 - self.epsilon, 1 + self.epsilon) * advantages
        actor_loss = (-torch.min(surr1, surr2)).mean()
        critic_loss = nn.MSELoss()(V, critic_targets)
        return actor_loss, critic_loss
