"""labml.ai's annotated PPO, adapted to the kit's API with its conventions kept.

Sources: labmlai/annotated_deep_learning_paper_implementations, labml_nn/rl/ppo/gae.py
(GAE.__call__: mask = 1 - done applied to last_value and last_advantage, values of shape
(workers, steps + 1) with the value of the last observation appended) and labml_nn/rl/ppo/
__init__.py (ClippedPPOLoss; ClippedValueFunctionLoss = 0.5 * mean(max((v - R)^2,
(v_clip - R)^2))); the experiment normalises the advantages of each minibatch with
std + 1e-8 and uses sampled_return = values + advantages. `done` is gym's done
(terminated or truncated)."""

import torch

from ppo_reference import PPO

SOURCE = 'labmlai/annotated_deep_learning_paper_implementations, labml_nn/rl/ppo/gae.py + __init__.py'
CORRECT = {'compute_advantages': False, 'compute_loss': False}
BUGS = {
    'a truncation stops the bootstrap (done = terminated or truncated)': ('truncation_as_termination',),
    'advantages normalised inside the loss': ('normalized_advantages',),
    'value loss clipped around the old values': ('critic_clipped',),
    'value loss has a factor 1/2': ('critic_half',),
}


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        N = len(states) // T
        with torch.no_grad():
            values = torch.zeros(N, T + 1)
            values[:, :T] = self.compute_values(states).view(N, T)
            values[:, T] = self.compute_values(next_states).view(N, T)[:, -1]
        done = (terminations | truncations).view(N, T).float()
        rewards = rewards.view(N, T)
        advantages = torch.zeros(N, T)
        last_advantage = 0
        last_value = values[:, -1]
        for t in reversed(range(T)):
            mask = 1.0 - done[:, t]
            last_value = last_value * mask
            last_advantage = last_advantage * mask
            delta = rewards[:, t] + self.gamma * last_value - values[:, t]
            last_advantage = delta + self.gamma * self.lmbda * last_advantage
            advantages[:, t] = last_advantage
            last_value = values[:, t]
        return advantages.reshape(-1), (values[:, :T] + advantages).reshape(-1)

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        sampled_value = critic_targets - advantages
        advantage = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        log_pi = self.compute_log_probs(states, actions)
        ratio = torch.exp(log_pi - log_probs_old)
        clipped_ratio = ratio.clamp(min=1.0 - self.epsilon, max=1.0 + self.epsilon)
        policy_reward = torch.min(ratio * advantage, clipped_ratio * advantage)
        policy_loss = -policy_reward.mean()
        value = self.compute_values(states)
        clipped_value = sampled_value + (value - sampled_value).clamp(min=-self.epsilon, max=self.epsilon)
        vf_loss = torch.max((value - critic_targets) ** 2, (clipped_value - critic_targets) ** 2)
        return policy_loss, 0.5 * vf_loss.mean()
