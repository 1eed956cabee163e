"""DeepSpeed-Chat's RLHF PPO (the trlx-derived GAE), adapted to the kit's API with its conventions kept.

Source: microsoft/DeepSpeedExamples, applications/DeepSpeed-Chat/dschat/rlhf/ppo_trainer.py
(DeepSpeedPPOTrainer.get_advantages_and_returns: batch-major [batch, length] rows, a backward
loop with nextvalues = values[:, t + 1] if t < length - 1 else 0.0, no done flags at all,
returns = advantages + values; actor_loss_fn: mean of max(-A * ratio, -A * clamp(ratio)) over
the mask; critic_loss_fn: values clamped to old_values +- cliprange_value (0.2), 0.5 * mean of
max(vf_loss1, vf_loss2)). Each of the kit's N environment segments is one row (one "sequence")
and the action mask is all ones; old_values, the values stored at generation, are
critic_targets - advantages (returns = advantages + values)."""

import torch

from ppo_reference import PPO

SOURCE = 'microsoft/DeepSpeedExamples, applications/DeepSpeed-Chat/dschat/rlhf/ppo_trainer.py'
CORRECT = {'compute_advantages': False, 'compute_loss': False}
BUGS = {
    'no done flags: a terminated step is bootstrapped (from the next row) and the sum carries over':
        ('ignores_terminations',),
    'the backward sum carries over truncations': ('ignores_truncations',),
    "a truncated step is bootstrapped from states[t + 1], the next episode's first state":
        ('truncation_bootstraps_next_row',),
    'the last step of each row has nextvalues = 0': ('no_segment_bootstrap',),
    'value loss clipped around the old values (cliprange_value = 0.2)': ('critic_clipped',),
    'value loss has a factor 0.5': ('critic_half',),
}

CLIPRANGE_VALUE = 0.2


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        T = self.num_steps
        N = len(states) // T
        with torch.no_grad():
            values = self.compute_values(states).view(N, T)
        rewards = rewards.float().view(N, T)
        lastgaelam = 0
        advantages_reversed = []
        length = rewards.size()[-1]
        for t in reversed(range(length)):
            nextvalues = values[:, t + 1] if t < length - 1 else 0.0
            delta = rewards[:, t] + self.gamma * nextvalues - values[:, t]
            lastgaelam = delta + self.gamma * self.lmbda * lastgaelam
            advantages_reversed.append(lastgaelam)
        advantages = torch.stack(advantages_reversed[::-1], dim=1)
        returns = advantages + values
        return advantages.detach().reshape(-1), returns.reshape(-1)

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        mask = torch.ones_like(advantages)
        logprobs = self.compute_log_probs(states, actions)
        log_ratio = (logprobs - log_probs_old) * mask
        ratio = torch.exp(log_ratio)
        pg_loss1 = -advantages * ratio
        pg_loss2 = -advantages * torch.clamp(ratio, 1.0 - self.epsilon, 1.0 + self.epsilon)
        pg_loss = torch.sum(torch.max(pg_loss1, pg_loss2) * mask) / mask.sum()

        values = self.compute_values(states)
        old_values = (critic_targets - advantages).detach()
        returns = critic_targets
        values_clipped = torch.clamp(values, old_values - CLIPRANGE_VALUE, old_values + CLIPRANGE_VALUE)
        vf_loss1 = (values - returns) ** 2
        vf_loss2 = (values_clipped - returns) ** 2
        vf_loss = 0.5 * torch.sum(torch.max(vf_loss1, vf_loss2) * mask) / mask.sum()
        return pg_loss, vf_loss
