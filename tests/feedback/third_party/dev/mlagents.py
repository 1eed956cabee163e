"""Unity ML-Agents' GAE and PPO losses, adapted to the kit's API with its conventions kept.

Source: Unity-Technologies/ml-agents, ml-agents/mlagents/trainers/trainer/trainer_utils.py
(discount_rewards, get_gae: numpy, one trajectory at a time, value_next bootstraps the end) and
ml-agents/mlagents/trainers/torch_entities/utils.py (trust_region_value_loss,
trust_region_policy_loss) with ppo/optimizer_torch.py (loss = policy_loss + 0.5 * value_loss -
beta * entropy: the 0.5 is written into the loss; the entropy term is a trainer setting, left out).
A trajectory in ML-Agents stops at an episode end or at the time horizon; here each segment is cut
into such trajectories at its episode ends, value_next = 0 after a termination, else
v(next_states[end]) (ML-Agents' interrupted/max-step bootstrap). Local return = advantage + value."""

import numpy as np
import torch

from ppo_reference import PPO

SOURCE = 'Unity-Technologies/ml-agents, trainer_utils.py + torch_entities/utils.py'
CORRECT = {'compute_advantages': True, 'compute_loss': False}
BUGS = {
    'value loss clipped around the old values (trust_region_value_loss)': ('critic_clipped',),
    'value loss has a factor 1/2 (0.5 * value_loss)': ('critic_half',),
}


def discount_rewards(r, gamma=0.99, value_next=0.0):
    discounted_r = np.zeros_like(r)
    running_add = value_next
    for t in reversed(range(0, r.size)):
        running_add = running_add * gamma + r[t]
        discounted_r[t] = running_add
    return discounted_r


def get_gae(rewards, value_estimates, value_next=0.0, gamma=0.99, lambd=0.95):
    value_estimates = np.append(value_estimates, value_next)
    delta_t = rewards + gamma * value_estimates[1:] - value_estimates[:-1]
    advantage = discount_rewards(r=delta_t, gamma=gamma * lambd)
    return advantage


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        with torch.no_grad():
            values = self.compute_values(states).double().numpy()
            next_values = self.compute_values(next_states).double().numpy()
        r = rewards.double().numpy()
        term, trunc = terminations.numpy(), truncations.numpy()
        advantages = np.zeros_like(r)
        for start in range(0, len(r), T):
            begin = start
            for k in range(start, start + T):
                if term[k] or trunc[k] or k == start + T - 1:
                    value_next = 0.0 if term[k] else next_values[k]
                    advantages[begin:k + 1] = get_gae(r[begin:k + 1], values[begin:k + 1], value_next,
                                                      self.gamma, self.lmbda)
                    begin = k + 1
        returns = advantages + values
        return torch.as_tensor(advantages, dtype=torch.float32), torch.as_tensor(returns, dtype=torch.float32)

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        epsilon = self.epsilon
        old_values = (critic_targets - advantages).detach()
        values = self.compute_values(states)
        clipped_value_estimate = old_values + torch.clamp(values - old_values, -1 * epsilon, epsilon)
        v_opt_a = (critic_targets - values) ** 2
        v_opt_b = (critic_targets - clipped_value_estimate) ** 2
        value_loss = torch.mean(torch.max(v_opt_a, v_opt_b))
        log_probs = self.compute_log_probs(states, actions)
        r_theta = torch.exp(log_probs - log_probs_old)
        p_opt_a = r_theta * advantages
        p_opt_b = torch.clamp(r_theta, 1.0 - epsilon, 1.0 + epsilon) * advantages
        policy_loss = -1 * torch.mean(torch.min(p_opt_a, p_opt_b))
        return policy_loss, 0.5 * value_loss
