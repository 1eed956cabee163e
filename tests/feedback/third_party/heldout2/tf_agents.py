"""TF-Agents' PPOAgent, adapted to the kit's API (PyTorch) with its conventions kept.

Sources: tensorflow/agents, tf_agents/agents/ppo/ppo_agent.py (the 2019 TF2 version; PPOAgent with use_gae=True,
use_td_lambda_return left at its default False, importance_ratio_clipping = epsilon and the
KL penalties off; compute_return_and_advantage: discounts = next_time_steps.discount * gamma,
times common.get_episode_mask (0 where the next time step is LAST, i.e. after a termination
or a time limit); returns = value_ops.discounted_return(rewards, discounts) with no
final_value (zeros); advantages = value_ops.generalized_advantage_estimation(values=
value_preds[:, :-1], final_value=value_preds[:, -1], ...), then _normalize_advantages over
axes (0, 1): tf.nn.moments (population variance), sqrt(var) + 1e-8; policy_gradient_loss:
-min(ratio * adv, clip(ratio) * adv), reduce_mean; value_estimation_loss:
reduce_mean(squared_difference(returns, value_preds))) and tf_agents/utils/value_ops.py.
Batch-major [B, T] as in _train (time_major=False); value_preds come from
experience.observation, T + 1 frames per row. value_pred_loss_coef and the entropy
regularisation are trainer settings."""

import torch

from ppo_reference import PPO

SOURCE = 'tensorflow/agents, tf_agents/agents/ppo/ppo_agent.py + tf_agents/utils/value_ops.py'
CORRECT = {'compute_advantages': False, 'compute_loss': True}
BUGS = {
    'the episode mask zeroes the discount after a time limit too: no bootstrap at a truncation':
        ('truncation_as_termination',),
    'advantages normalised over the batch inside compute_return_and_advantage (population variance)':
        ('normalized_in_gae',),
    'critic targets are Monte Carlo discounted returns, not bootstrapped at the segment end':
        ('target_returns',),
}


def discounted_return(rewards, discounts, final_value=None):
    """[B, T] (time_major=False); a reverse scan acc * discount + reward."""
    if final_value is None:
        final_value = torch.zeros_like(rewards[:, -1])
    returns = torch.zeros_like(rewards)
    acc = final_value
    for t in reversed(range(rewards.shape[1])):
        acc = acc * discounts[:, t] + rewards[:, t]
        returns[:, t] = acc
    return returns


def generalized_advantage_estimation(values, final_value, discounts, rewards, td_lambda=1.0):
    """[B, T] (time_major=False)."""
    next_values = torch.cat([values[:, 1:], final_value[:, None]], dim=1)
    delta = rewards + discounts * next_values - values
    weighted_discounts = discounts * td_lambda
    advantages = torch.zeros_like(rewards)
    acc = torch.zeros_like(final_value)
    for t in reversed(range(rewards.shape[1])):
        acc = delta[:, t] + weighted_discounts[:, t] * acc
        advantages[:, t] = acc
    return advantages


def _normalize_advantages(advantages, variance_epsilon=1e-8):
    adv_mean = advantages.mean()
    adv_var = ((advantages - adv_mean) ** 2).mean()  # tf.nn.moments
    return (advantages - adv_mean) / (torch.sqrt(adv_var) + variance_epsilon)


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        B = len(states) // T
        with torch.no_grad():
            v = self.compute_values(states).view(B, T)
            v_last = self.compute_values(next_states).view(B, T)[:, -1]
        value_preds = torch.cat([v, v_last[:, None]], dim=1)  # [B, T + 1]
        discount = (~terminations).float().view(B, T)  # next_time_steps.discount: 0 at a terminal step
        discounts = discount * self.gamma
        episode_mask = (~(terminations | truncations)).float().view(B, T)  # 0 where next step is LAST
        discounts = discounts * episode_mask
        rewards = rewards.float().view(B, T)
        returns = discounted_return(rewards, discounts)
        advantages = generalized_advantage_estimation(value_preds[:, :-1], value_preds[:, -1], discounts,
                                                      rewards, self.lmbda)
        normalized_advantages = _normalize_advantages(advantages)
        return normalized_advantages.reshape(-1), returns.reshape(-1)

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        action_log_prob = self.compute_log_probs(states, actions)
        importance_ratio = torch.exp(action_log_prob - log_probs_old)
        importance_ratio_clipped = torch.clamp(importance_ratio, 1 - self.epsilon, 1 + self.epsilon)
        per_timestep_objective = importance_ratio * advantages
        per_timestep_objective_clipped = importance_ratio_clipped * advantages
        per_timestep_objective_min = torch.minimum(per_timestep_objective, per_timestep_objective_clipped)
        policy_gradient_loss = torch.mean(-per_timestep_objective_min)
        value_preds = self.compute_values(states)
        value_estimation_loss = torch.mean((critic_targets - value_preds) ** 2)
        return policy_gradient_loss, value_estimation_loss
