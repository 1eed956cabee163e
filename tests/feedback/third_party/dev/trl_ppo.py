"""Hugging Face TRL's (v0.4-era) PPOTrainer, adapted to the kit's API with its conventions kept.

Source: huggingface/trl (lvwerra/trl), trl/trainer/ppo_trainer.py (compute_advantages + loss)
and trl/core.py (whiten: torch.var, unbiased, + 1e-8). Kept: each row (a response in TRL; here
an environment's segment) is one episode: `nextvalues = values[:, t + 1] if t < gen_len - 1 else
0.0` (no bootstrap after the last step), no done flags inside a row; returns = advantages +
values BEFORE the advantages are whitened; pg_loss = mean(max(-adv * ratio, -adv * clamp(ratio)))
(= - mean(min(...)), right); vf_loss = 0.5 * mean(max((vpred - R)^2, (vpredclipped - R)^2)) with
vpredclipped = clip(vpred, values - cliprange_value, values + cliprange_value), cliprange_value = 0.2."""

import torch

from ppo_reference import PPO

SOURCE = 'huggingface/trl, trl/trainer/ppo_trainer.py + trl/core.py'
CORRECT = {'compute_advantages': False, 'compute_loss': False}
BUGS = {
    'no bootstrap after the last step of a segment (nextvalues = 0.0)': ('no_segment_bootstrap',),
    'episode ends inside a segment are ignored': ('ignores_terminations', 'ignores_truncations', 'no_reset',
                                                 'truncation_bootstraps_next_row', 'bootstraps_terminal'),
    'advantages whitened inside compute_advantages (torch.var, unbiased)': ('normalized_in_gae',),
    'value loss clipped around the old values (cliprange_value = 0.2)': ('critic_clipped',),
    'value loss has a factor 1/2': ('critic_half',),
}
CLIPRANGE_VALUE = 0.2


def whiten(values, shift_mean=True):
    mean, var = torch.mean(values), torch.var(values)
    whitened = (values - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        whitened += mean
    return whitened


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        T = self.num_steps
        N = len(states) // T
        with torch.no_grad():
            values = self.compute_values(states).view(N, T)
        rewards = rewards.float().view(N, T)
        lastgaelam = 0
        advantages_reversed = []
        gen_len = rewards.shape[-1]
        for t in reversed(range(gen_len)):
            nextvalues = values[:, t + 1] if t < gen_len - 1 else 0.0
            delta = rewards[:, t] + self.gamma * nextvalues - values[:, t]
            lastgaelam = delta + self.gamma * self.lmbda * lastgaelam
            advantages_reversed.append(lastgaelam)
        advantages = torch.stack(advantages_reversed[::-1]).transpose(0, 1)
        returns = advantages + values
        advantages = whiten(advantages)
        return advantages.reshape(-1).detach(), returns.reshape(-1).detach()

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        values = (critic_targets - advantages).detach()   # the rollout's values: returns = advantages + values
        returns = critic_targets
        vpreds = self.compute_values(states)
        logprobs = self.compute_log_probs(states, actions)
        vpredclipped = torch.max(torch.min(vpreds, values + CLIPRANGE_VALUE), values - CLIPRANGE_VALUE)
        vf_losses1 = (vpreds - returns) ** 2
        vf_losses2 = (vpredclipped - returns) ** 2
        vf_loss = 0.5 * torch.mean(torch.max(vf_losses1, vf_losses2))
        ratio = torch.exp(logprobs - log_probs_old)
        pg_losses = -advantages * ratio
        pg_losses2 = -advantages * torch.clamp(ratio, 1.0 - self.epsilon, 1.0 + self.epsilon)
        pg_loss = torch.mean(torch.max(pg_losses, pg_losses2))
        return pg_loss, vf_loss
