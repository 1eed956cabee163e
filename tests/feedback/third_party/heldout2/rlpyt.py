"""rlpyt's PPO, adapted to the kit's API with its conventions kept.

Sources: astooke/rlpyt, rlpyt/algos/utils.py (generalized_advantage_estimation: time-major
[T, B] inputs, nd = 1 - done, the last step bootstrapped from bootstrap_value, value[t + 1] as
the next value inside the batch, return_ = advantage + value), rlpyt/algos/pg/base.py
(PolicyGradientAlgo.process_returns with gae_lambda < 1: done = samples.env.done, gym's done,
i.e. terminated or truncated; valid = ones with mid_batch_reset) and rlpyt/algos/pg/ppo.py
(PPO.loss: clipped surrogate, pi_loss = - valid_mean(min(surr_1, surr_2)), value_error =
0.5 * (value - return_) ** 2). value_loss_coeff and entropy_loss_coeff are trainer settings
and are left out. rlpyt's value[t + 1] is v(states[t + 1]): it equals v(next_states[t]) in a
real rollout unless the episode ended at t, where nd[t] = 0 masks it."""

import torch

from ppo_reference import PPO

SOURCE = 'astooke/rlpyt, rlpyt/algos/utils.py + rlpyt/algos/pg/base.py + rlpyt/algos/pg/ppo.py'
CORRECT = {'compute_advantages': False, 'compute_loss': False}
BUGS = {
    'done = terminated or truncated: a truncated step is not bootstrapped': ('truncation_as_termination',),
    'value loss 0.5 * (value - return_) ** 2': ('critic_half',),
}


def generalized_advantage_estimation(reward, value, done, bootstrap_value, discount, gae_lambda):
    """Time-major inputs, optional other dimensions: [T], [T,B], etc."""
    advantage = torch.zeros(reward.shape, dtype=reward.dtype)
    return_ = torch.zeros(reward.shape, dtype=reward.dtype)
    nd = 1 - done
    advantage[-1] = reward[-1] + discount * bootstrap_value * nd[-1] - value[-1]
    for t in reversed(range(len(reward) - 1)):
        delta = reward[t] + discount * value[t + 1] * nd[t] - value[t]
        advantage[t] = delta + discount * gae_lambda * nd[t] * advantage[t + 1]
    return_[:] = advantage + value
    return advantage, return_


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        B = len(states) // T
        with torch.no_grad():
            value = self.compute_values(states).view(B, T).T  # samples.agent.agent_info.value, [T, B]
            bv = self.compute_values(next_states).view(B, T).T[-1]  # samples.agent.bootstrap_value
        reward = rewards.float().view(B, T).T
        done = (terminations | truncations).view(B, T).T.type(reward.dtype)  # samples.env.done
        advantage, return_ = generalized_advantage_estimation(reward, value, done, bv, self.gamma, self.lmbda)
        return advantage.T.reshape(-1), return_.T.reshape(-1)

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        # dist.likelihood_ratio for a Categorical: exp(log pi(a) - log pi_old(a))
        ratio = torch.exp(self.compute_log_probs(states, actions) - log_probs_old)
        surr_1 = ratio * advantages
        clipped_ratio = torch.clamp(ratio, 1. - self.epsilon, 1. + self.epsilon)
        surr_2 = clipped_ratio * advantages
        surrogate = torch.min(surr_1, surr_2)
        pi_loss = - surrogate.mean()  # valid_mean with valid = ones
        value = self.compute_values(states)
        value_error = 0.5 * (value - critic_targets) ** 2
        value_loss = value_error.mean()
        return pi_loss, value_loss
