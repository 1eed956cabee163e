"""verl's PPO policy and value losses (an LLM-training library), adapted to the kit's API with
their conventions kept.

Source: volcengine/verl, verl/trainer/ppo/core_algos.py (compute_policy_loss with
cliprange_low = clip_ratio, cliprange_high = 0.28 as DAPO recommends ("clip-higher"), the
dual clip clip_ratio_c = 3.0 for negative advantages, loss_agg_mode="token-mean"; and
compute_value_loss: 0.5 * mean(max((vpreds - returns)^2, (clip(vpreds, values -
cliprange_value, values + cliprange_value) - returns)^2)) with cliprange_value = 0.5). One
transition is one token here, and the old values are critic_targets - advantages."""

import torch

from ppo_reference import PPO

SOURCE = 'volcengine/verl, verl/trainer/ppo/core_algos.py'
CORRECT = {'compute_advantages': True, 'compute_loss': False}
BUGS = {
    'the upper clip bound is 1 + 0.28 ("clip-higher"), not 1 + epsilon': ('clip_bounds',),
    'the dual clip caps the loss of a negative advantage at -3 * a': ('dual_clip',),
    'value loss clipped around the old values (cliprange_value = 0.5)': ('critic_clipped',),
    'value loss has a factor 1/2': ('critic_half',),
}


class Implementation(PPO):
    cliprange_high, clip_ratio_c, cliprange_value = 0.28, 3.0, 0.5

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        log_prob = self.compute_log_probs(states, actions)
        negative_approx_kl = torch.clamp(log_prob - log_probs_old, min=-20.0, max=20.0)
        ratio = torch.exp(negative_approx_kl)
        pg_losses1 = -advantages * ratio
        pg_losses2 = -advantages * torch.clamp(ratio, 1 - self.epsilon, 1 + self.cliprange_high)
        clip_pg_losses1 = torch.maximum(pg_losses1, pg_losses2)
        pg_losses3 = -advantages * self.clip_ratio_c
        clip_pg_losses2 = torch.min(pg_losses3, clip_pg_losses1)
        pg_losses = torch.where(advantages < 0, clip_pg_losses2, clip_pg_losses1)
        pg_loss = pg_losses.mean()  # agg_loss(..., "token-mean")

        vpreds = self.compute_values(states)
        values = critic_targets - advantages
        vpredclipped = torch.clamp(vpreds, values - self.cliprange_value, values + self.cliprange_value)
        vf_losses1 = (vpreds - critic_targets) ** 2
        vf_losses2 = (vpredclipped - critic_targets) ** 2
        vf_loss = 0.5 * torch.max(vf_losses1, vf_losses2).mean()
        return pg_loss, vf_loss
