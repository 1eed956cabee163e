"""OpenAI Spinning Up's PPO (PyTorch), adapted to the kit's API with its conventions kept.

Source: openai/spinningup, spinup/algos/pytorch/ppo/ppo.py (PPOBuffer.finish_path and get,
compute_loss_pi, compute_loss_v, and the rollout loop that calls finish_path). Kept: a path
ends at a terminal state (last_val = 0), a timeout or the end of the epoch (last_val = V(o);
when both hold, the epoch end wins: `if timeout or epoch_ended`), GAE per path, the value
targets are the rewards-to-go discount_cumsum(rews, gamma) bootstrapped with last_val, and the
advantages are normalised over the buffer with mpi_statistics_scalar (the population std)."""

import numpy as np
import torch

from ppo_reference import PPO

SOURCE = 'openai/spinningup, spinup/algos/pytorch/ppo/ppo.py'
CORRECT = {'compute_advantages': False, 'compute_loss': True}
BUGS = {
    'advantages normalised inside compute_advantages (population std)': ('normalized_in_gae',),
    'critic targets are the rewards-to-go': ('target_returns',),
    'a termination at the last step of a segment is bootstrapped (epoch_ended wins)': ('bootstraps_terminal',),
}


def discount_cumsum(x, discount):
    # core.discount_cumsum (scipy.signal.lfilter) written as a loop
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
            val_buf = self.compute_values(states).numpy()
            last_vals = self.compute_values(next_states).numpy()
        rew_buf = rewards.numpy()
        adv_buf = np.zeros(len(states), dtype=np.float32)
        ret_buf = np.zeros(len(states), dtype=np.float32)
        for begin in range(0, len(states), T):
            path_start = begin
            for k in range(begin, begin + T):
                terminal, timeout = bool(terminations[k]), bool(truncations[k])
                epoch_ended = k == begin + T - 1
                if terminal or timeout or epoch_ended:
                    last_val = last_vals[k] if (timeout or epoch_ended) else 0.0
                    path = slice(path_start, k + 1)
                    rews = np.append(rew_buf[path], last_val)
                    vals = np.append(val_buf[path], last_val)
                    deltas = rews[:-1] + self.gamma * vals[1:] - vals[:-1]
                    adv_buf[path] = discount_cumsum(deltas, self.gamma * self.lmbda)
                    ret_buf[path] = discount_cumsum(rews, self.gamma)[:-1]
                    path_start = k + 1
        adv_mean, adv_std = np.mean(adv_buf), np.std(adv_buf)  # mpi_statistics_scalar
        adv_buf = (adv_buf - adv_mean) / adv_std
        return torch.as_tensor(adv_buf, dtype=torch.float32), torch.as_tensor(ret_buf, dtype=torch.float32)

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        logp = self.compute_log_probs(states, actions)
        ratio = torch.exp(logp - log_probs_old)
        clip_adv = torch.clamp(ratio, 1 - self.epsilon, 1 + self.epsilon) * advantages
        loss_pi = -(torch.min(ratio * advantages, clip_adv)).mean()
        loss_v = ((self.compute_values(states) - critic_targets) ** 2).mean()
        return loss_pi, loss_v
