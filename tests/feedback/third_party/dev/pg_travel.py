"""reinforcement-learning-kr/pg_travel's PPO (and its many copies), adapted to the kit's API with its
conventions kept.

Source: reinforcement-learning-kr/pg_travel, mujoco/agent/ppo_gae.py (get_gae, train_model);
the same code is in many forks found by find_string('torch.max(critic_loss1, critic_loss2)').
Kept: get_gae runs once over the whole memory (all environments in a row), masks = 1 - done
with done = terminated or truncated, `previous_value = values[t]` (the next ROW's state value,
0 after the last row), returns are the masked discounted rewards-to-go, advants normalised with
.std() and no eps. The loss: criterion = nn.MSELoss() (mean reduction), so
torch.max(critic_loss1, critic_loss2) takes the max of two BATCH MEANS (clipped vs unclipped);
loss = actor_loss + 0.5 * critic_loss (the 0.5 is written into the loss)."""

import torch

from ppo_reference import PPO

SOURCE = 'reinforcement-learning-kr/pg_travel, mujoco/agent/ppo_gae.py'
CORRECT = {'compute_advantages': False, 'compute_loss': False}
BUGS = {
    'one backward pass over the whole memory, across environments': ('across_envs',),
    'done = terminated or truncated: no bootstrap after a truncation': ('truncation_as_termination',),
    'previous_value = 0 after the last row: the last step is not bootstrapped': ('no_segment_bootstrap',),
    'advantages normalised inside compute_advantages (sample std)': ('normalized_in_gae',),
    'critic targets are the rewards-to-go': ('target_returns',),
    'value loss: max of the clipped and unclipped batch MEANS': ('critic_clipped',),
    'critic loss has a factor 1/2 (0.5 * critic_loss)': ('critic_half',),
}


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        with torch.no_grad():
            values = self.compute_values(states)
        masks = 1.0 - (terminations | truncations).float()
        returns = torch.zeros_like(rewards)
        advants = torch.zeros_like(rewards)
        running_returns = 0
        previous_value = 0
        running_advants = 0
        for t in reversed(range(0, len(rewards))):
            running_returns = rewards[t] + self.gamma * running_returns * masks[t]
            running_tderror = rewards[t] + self.gamma * previous_value * masks[t] - values.data[t]
            running_advants = running_tderror + self.gamma * self.lmbda * running_advants * masks[t]
            returns[t] = running_returns
            previous_value = values.data[t]
            advants[t] = running_advants
        advants = (advants - advants.mean()) / advants.std()
        return advants, returns

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        criterion = torch.nn.MSELoss()
        oldvalue_samples = (critic_targets - advantages).detach()
        new_policy = self.compute_log_probs(states, actions)
        ratio = torch.exp(new_policy - log_probs_old)
        loss = ratio * advantages
        values = self.compute_values(states)
        clipped_values = oldvalue_samples + torch.clamp(values - oldvalue_samples, -self.epsilon, self.epsilon)
        critic_loss1 = criterion(clipped_values, critic_targets)
        critic_loss2 = criterion(values, critic_targets)
        critic_loss = torch.max(critic_loss1, critic_loss2).mean()
        clipped_ratio = torch.clamp(ratio, 1.0 - self.epsilon, 1.0 + self.epsilon)
        clipped_loss = clipped_ratio * advantages
        actor_loss = -torch.min(loss, clipped_loss).mean()
        return actor_loss, 0.5 * critic_loss
