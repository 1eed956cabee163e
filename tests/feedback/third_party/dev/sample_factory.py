"""Sample Factory 2's PPO losses, adapted to the kit's API with its defaults kept.

Source: alex-petrenko/sample-factory, sample_factory/algo/learning/learner.py
(_calculate_losses, _policy_loss, _value_loss, _compute_model_outputs). Kept: clip_ratio_high =
1 + ppo_clip_ratio, clip_ratio_low = 1 / clip_ratio_high ("this still works with e.g. clip_ratio
= 2"); normalize_advantage=True: adv = (adv - mean) / max(1e-7, adv.std()) per minibatch; the value
loss clipped around the old values with ppo_clip_value = 1.0 (default); value_loss_coeff is a
trainer setting and left out. GAE: the reference's (not part of this port)."""

import torch

from ppo_reference import PPO

SOURCE = 'alex-petrenko/sample-factory, sample_factory/algo/learning/learner.py'
CORRECT = {'compute_advantages': True, 'compute_loss': False}
BUGS = {
    'the clip range is [1/(1+eps), 1+eps]': ('clip_bounds',),
    'advantages normalised inside the loss': ('normalized_advantages',),
    'value loss clipped around the old values (ppo_clip_value = 1.0)': ('critic_clipped',),
}
PPO_CLIP_VALUE = 1.0


class Implementation(PPO):
    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        clip_ratio_high = 1.0 + self.epsilon
        clip_ratio_low = 1.0 / clip_ratio_high
        clip_value = PPO_CLIP_VALUE
        old_values = (critic_targets - advantages).detach()
        log_prob_actions = self.compute_log_probs(states, actions)
        ratio = torch.exp(log_prob_actions - log_probs_old)
        adv = advantages
        adv_mean = adv.mean()
        adv_std = adv.std()
        adv = (adv - adv_mean) / torch.clamp_min(adv_std, 1e-7)
        clipped_ratio = torch.clamp(ratio, clip_ratio_low, clip_ratio_high)
        loss_unclipped = ratio * adv
        loss_clipped = clipped_ratio * adv
        loss = torch.min(loss_unclipped, loss_clipped)
        policy_loss = -loss.mean()
        values = self.compute_values(states)
        value_clipped = old_values + torch.clamp(values - old_values, -clip_value, clip_value)
        value_original_loss = (values - critic_targets).pow(2)
        value_clipped_loss = (value_clipped - critic_targets).pow(2)
        value_loss = torch.max(value_original_loss, value_clipped_loss).mean()
        return policy_loss, value_loss
