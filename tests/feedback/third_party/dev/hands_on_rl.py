"""Hands-on RL (boyuai/Hands-on-RL, the textbook 动手学强化学习) PPO, adapted to the kit's API with its
conventions kept.

Source: boyuai/Hands-on-RL, rl_utils.py (compute_advantage) and the PPO chapter's PPO.update
(copied into many course repos: find_string('td_delta = td_target - self.critic(states)')).
Kept: td_target = r + gamma * V(s') * (1 - done), done = terminated or truncated (gym's done);
compute_advantage runs ONE backward sum over the whole transition list (all environments in a
row), never reset at an episode end; critic_loss = mse(critic(states), td_target)."""

import torch

from ppo_reference import PPO

SOURCE = 'boyuai/Hands-on-RL, rl_utils.py + PPO chapter'
CORRECT = {'compute_advantages': False, 'compute_loss': True}
BUGS = {
    'one backward sum over the whole batch, across environments': ('across_envs',),
    'the backward sum is not reset at episode ends': ('no_reset', 'carries_over_terminations', 'ignores_truncations'),
    'done = terminated or truncated: no bootstrap after a truncation': ('truncation_as_termination',),
    'critic targets are the one-step TD targets': ('target_td',),
}


def compute_advantage(gamma, lmbda, td_delta):
    td_delta = td_delta.detach().numpy()
    advantage_list = []
    advantage = 0.0
    for delta in td_delta[::-1]:
        advantage = gamma * lmbda * advantage + delta
        advantage_list.append(advantage)
    advantage_list.reverse()
    return torch.tensor(advantage_list, dtype=torch.float)


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        dones = (terminations | truncations).float().view(-1, 1)
        rewards = rewards.float().view(-1, 1)
        with torch.no_grad():
            td_target = rewards + self.gamma * self.critic(next_states) * (1 - dones)
            td_delta = td_target - self.critic(states)
        advantage = compute_advantage(self.gamma, self.lmbda, td_delta)
        return advantage.view(-1), td_target.view(-1)
