"""rl_games' A2C/PPO agent, adapted to the kit's API with its conventions kept.

Sources: Denys88/rl_games, rl_games/common/a2c_common.py (play_steps: with value_bootstrap, a
time-out adds gamma * res_dict['values'] -- the value of the current observation -- to the
reward; discount_values; prepare_dataset: advantages = returns - values, normalised with
std + 1e-8) and rl_games/common/common_losses.py (actor_loss with the ratio of the stored
negative log-probabilities, max(-surr1, -surr2); critic_loss clipped around the old values),
with the factor 0.5 of a2c_common's `loss = a_loss + 0.5 * c_loss * self.critic_coef ...`.
Kept: `dones` (terminated or timed out) stops the bootstrap and the sum; the next value inside
the rollout is the value of the next row."""

import torch

from ppo_reference import PPO

SOURCE = 'Denys88/rl_games, rl_games/common/a2c_common.py + rl_games/common/common_losses.py'
CORRECT = {'compute_advantages': False, 'compute_loss': False}
BUGS = {
    'a time-out is bootstrapped from the current state (gamma * V(s_t) added to the reward)':
        ('truncation_bootstraps_current',),
    'advantages normalised inside compute_advantages': ('normalized_in_gae',),
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
            mb_values = self.compute_values(states).view(N, T).T
            last_values = self.compute_values(next_states).view(N, T).T[-1]
        time_outs = truncations.view(N, T).T.float()
        mb_rewards = rewards.view(N, T).T + self.gamma * mb_values * time_outs  # value_bootstrap
        mb_fdones = (terminations | truncations).view(N, T).T.float()  # done after step t
        mb_advs = torch.zeros_like(mb_rewards)
        lastgaelam = 0
        for t in reversed(range(T)):
            nextnonterminal = 1.0 - mb_fdones[t]
            nextvalues = last_values if t == T - 1 else mb_values[t + 1]
            delta = mb_rewards[t] + self.gamma * nextvalues * nextnonterminal - mb_values[t]
            mb_advs[t] = lastgaelam = delta + self.gamma * self.lmbda * nextnonterminal * lastgaelam
        mb_returns = mb_advs + mb_values
        advantages = mb_returns - mb_values
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        return advantages.T.reshape(-1), mb_returns.T.reshape(-1)

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        old_action_log_probs_batch = -log_probs_old           # rl_games stores negative log-probabilities
        action_log_probs = -self.compute_log_probs(states, actions)
        ratio = torch.exp(old_action_log_probs_batch - action_log_probs)
        surr1 = ratio * advantages
        surr2 = torch.clamp(ratio, 1.0 - self.epsilon, 1.0 + self.epsilon) * advantages
        a_loss = torch.max(-surr1, -surr2).mean()
        values = self.compute_values(states)
        value_preds_batch = critic_targets - advantages
        value_pred_clipped = value_preds_batch + (values - value_preds_batch).clamp(-self.epsilon, self.epsilon)
        value_losses = (values - critic_targets) ** 2
        value_losses_clipped = (value_pred_clipped - critic_targets) ** 2
        c_loss = torch.max(value_losses, value_losses_clipped).mean()
        return a_loss, 0.5 * c_loss
