"""The Keras example "Proximal Policy Optimization" (CartPole), adapted to the kit's API (in
PyTorch) with its conventions kept.

Source: keras-team/keras-io, examples/rl/ppo_cartpole.py (Buffer.finish_trajectory and get,
train_policy, train_value_function, and the loop that calls finish_trajectory). Kept: a
trajectory ends at gym's done (terminated or truncated: last_value = 0) or at the end of the
epoch (last_value = critic(observation)), GAE per trajectory, the returns are the rewards-to-go
bootstrapped with last_value, the advantages normalised over the buffer with np.std (ddof=0)
and no epsilon, and the clip written with tf.where(advantage > 0, (1 + clip) * a, (1 - clip) * a)."""

import numpy as np
import torch

from ppo_reference import PPO

SOURCE = 'keras-team/keras-io, examples/rl/ppo_cartpole.py'
CORRECT = {'compute_advantages': False, 'compute_loss': True}
BUGS = {
    'a truncation is not bootstrapped (done = terminated or truncated)': ('truncation_as_termination',),
    'advantages normalised inside compute_advantages (np.std, ddof=0)': ('normalized_in_gae',),
    'critic targets are the rewards-to-go': ('target_returns',),
}


def discounted_cumulative_sums(x, discount):
    # scipy.signal.lfilter([1], [1, -discount], x[::-1])[::-1], as a loop
    out = np.zeros_like(x)
    running = 0.0
    for k in reversed(range(len(x))):
        running = x[k] + discount * running
        out[k] = running
    return out


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        with torch.no_grad():
            value_buffer = self.compute_values(states).numpy()
            next_value = self.compute_values(next_states).numpy()
        reward_buffer = rewards.numpy()
        advantage_buffer = np.zeros(len(states), dtype=np.float32)
        return_buffer = np.zeros(len(states), dtype=np.float32)
        for begin in range(0, len(states), T):
            start = begin
            for t in range(begin, begin + T):
                done = bool(terminations[t] or truncations[t])
                if done or t == begin + T - 1:
                    last_value = 0 if done else next_value[t]
                    path = slice(start, t + 1)
                    r = np.append(reward_buffer[path], last_value)
                    v = np.append(value_buffer[path], last_value)
                    deltas = r[:-1] + self.gamma * v[1:] - v[:-1]
                    advantage_buffer[path] = discounted_cumulative_sums(deltas, self.gamma * self.lmbda)
                    return_buffer[path] = discounted_cumulative_sums(r, self.gamma)[:-1]
                    start = t + 1
        advantage_mean, advantage_std = np.mean(advantage_buffer), np.std(advantage_buffer)
        advantage_buffer = (advantage_buffer - advantage_mean) / advantage_std
        return torch.as_tensor(advantage_buffer), torch.as_tensor(return_buffer)

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        ratio = torch.exp(self.compute_log_probs(states, actions) - log_probs_old)
        min_advantage = torch.where(advantages > 0, (1 + self.epsilon) * advantages, (1 - self.epsilon) * advantages)
        policy_loss = -torch.mean(torch.minimum(ratio * advantages, min_advantage))
        value_loss = torch.mean((critic_targets - self.compute_values(states)) ** 2)
        return policy_loss, value_loss
