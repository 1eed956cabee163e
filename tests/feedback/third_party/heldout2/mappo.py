"""MAPPO (marlbenchmark/on-policy), adapted to the kit's API (one agent) with its defaults kept.

Sources: marlbenchmark/on-policy, onpolicy/utils/shared_buffer.py (SharedReplayBuffer.
compute_returns with use_gae=True and the default use_proper_time_limits=False, no PopArt /
ValueNorm: value_preds[-1] = next_value, masks[step + 1] = 0 after gym's done (terminated or
truncated), value_preds[step + 1] as the next value, returns = gae + value_preds),
onpolicy/algorithms/r_mappo/r_mappo.py (R_MAPPO.train: advantages = returns - value_preds
normalised over the buffer with np.nanmean / np.nanstd (population std) + 1e-5;
ppo_update: -sum(min(surr1, surr2), dim=-1).mean(); cal_value_loss with the defaults
use_clipped_value_loss=True (clipped around value_preds_batch with clip_param),
use_huber_loss=True, huber_delta=10) and onpolicy/utils/util.py (huber_loss(e, d):
a = (abs(e) <= d), b = (e > d), a * e**2 / 2 + b * d * (abs(e) - d / 2)). value_preds_batch, the
values stored at collection, is critic_targets - advantages (returns = advantages + values).
value_loss_coef and entropy_coef are trainer settings."""

import numpy as np
import torch

from ppo_reference import PPO

SOURCE = 'marlbenchmark/on-policy, onpolicy/utils/shared_buffer.py + algorithms/r_mappo/r_mappo.py + utils/util.py'
CORRECT = {'compute_advantages': False, 'compute_loss': False}
BUGS = {
    'masks = 0 after any done: a truncated step is not bootstrapped': ('truncation_as_termination',),
    'advantages normalised over the buffer inside compute_advantages (np.nanstd, population std)':
        ('normalized_in_gae',),
    'value loss clipped around the stored values (max of clipped and unclipped)': ('critic_clipped',),
    'value loss is a Huber loss with delta 10: e**2 / 2 for |e| <= 10, linear beyond':
        ('critic_huber', 'critic_half'),
    'huber_loss uses (e > d), not (|e| > d): an error below -10 counts 0': ('critic_capped',),
}

HUBER_DELTA = 10.0


def huber_loss(e, d):
    a = (abs(e) <= d).float()
    b = (e > d).float()
    return a * e ** 2 / 2 + b * d * (abs(e) - d / 2)


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        N = len(states) // T
        with torch.no_grad():
            v = self.compute_values(states).view(N, T).T.numpy()
            next_value = self.compute_values(next_states).view(N, T).T[-1].numpy()
        value_preds = np.zeros((T + 1, N), dtype=np.float32)
        value_preds[:T] = v
        masks = np.ones((T + 1, N), dtype=np.float32)
        masks[1:] = 1.0 - (terminations | truncations).view(N, T).T.numpy()
        r = rewards.view(N, T).T.numpy()
        returns = np.zeros((T + 1, N), dtype=np.float32)
        value_preds[-1] = next_value
        gae = 0
        for step in reversed(range(T)):
            delta = r[step] + self.gamma * value_preds[step + 1] * masks[step + 1] - value_preds[step]
            gae = delta + self.gamma * self.lmbda * masks[step + 1] * gae
            returns[step] = gae + value_preds[step]
        advantages = returns[:-1] - value_preds[:-1]
        advantages = (advantages - np.nanmean(advantages)) / (np.nanstd(advantages) + 1e-5)
        return torch.as_tensor(advantages.T.reshape(-1)), torch.as_tensor(returns[:-1].T.reshape(-1))

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        adv_targ = advantages.unsqueeze(-1)
        imp_weights = torch.exp(self.compute_log_probs(states, actions) - log_probs_old).unsqueeze(-1)
        surr1 = imp_weights * adv_targ
        surr2 = torch.clamp(imp_weights, 1.0 - self.epsilon, 1.0 + self.epsilon) * adv_targ
        policy_action_loss = -torch.sum(torch.min(surr1, surr2), dim=-1, keepdim=True).mean()

        values = self.compute_values(states)
        value_preds_batch = (critic_targets - advantages).detach()
        return_batch = critic_targets
        value_pred_clipped = value_preds_batch + (values - value_preds_batch).clamp(-self.epsilon, self.epsilon)
        error_clipped = return_batch - value_pred_clipped
        error_original = return_batch - values
        value_loss_clipped = huber_loss(error_clipped, HUBER_DELTA)
        value_loss_original = huber_loss(error_original, HUBER_DELTA)
        value_loss = torch.max(value_loss_original, value_loss_clipped)
        value_loss = value_loss.mean()  # active masks all 1
        return policy_action_loss, value_loss
