"""DI-engine's ppo_error, adapted to the kit's API with its options kept.

Source: opendilab/DI-engine, ding/rl_utils/ppo.py (ppo_policy_error with dual_clip, ppo_value_error
with use_value_clip=True, the default of ppo_error). Kept: dual_clip = 5.0 (the docstring's "if
used, default value is 5.0"): for adv < 0 the objective is max(min(surr1, surr2), dual_clip * adv);
value_loss = 0.5 * mean(max((return - v)^2, (return - v_clip)^2)) with v_clip = v_old +
clamp(v - v_old, -clip_ratio, clip_ratio). The entropy term is returned separately (left out)."""

import torch

from ppo_reference import PPO

SOURCE = 'opendilab/DI-engine, ding/rl_utils/ppo.py'
CORRECT = {'compute_advantages': True, 'compute_loss': False}
BUGS = {
    'dual clip at c = 5: for a < 0 the loss stops growing once r > 5': ('dual_clip',),
    'value loss clipped around the old values': ('critic_clipped',),
    'value loss has a factor 1/2': ('critic_half',),
}
DUAL_CLIP = 5.0


class Implementation(PPO):
    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        clip_ratio = self.epsilon
        adv = advantages
        logp_new = self.compute_log_probs(states, actions)
        ratio = torch.exp(logp_new - log_probs_old)
        surr1 = ratio * adv
        surr2 = ratio.clamp(1 - clip_ratio, 1 + clip_ratio) * adv
        clip1 = torch.min(surr1, surr2)
        clip2 = torch.max(clip1, DUAL_CLIP * adv)
        policy_loss = -(torch.where(adv < 0, clip2, clip1)).mean()
        value_new = self.compute_values(states)
        value_old = (critic_targets - adv).detach()
        return_ = critic_targets
        value_clip = value_old + (value_new - value_old).clamp(-clip_ratio, clip_ratio)
        v1 = (return_ - value_new).pow(2)
        v2 = (return_ - value_clip).pow(2)
        value_loss = 0.5 * (torch.max(v1, v2)).mean()
        return policy_loss, value_loss
