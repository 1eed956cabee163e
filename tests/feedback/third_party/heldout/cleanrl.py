"""CleanRL's PPO, adapted to the kit's API with its conventions kept.

Source: vwxyzjn/cleanrl, cleanrl/ppo.py (the GAE loop after the rollout, and the policy and
value losses of the update). Kept: one `done` flag (gym's done = terminated or truncated),
values[t + 1] as the next value inside the rollout and V(next_obs) after it, advantages
normalised per minibatch (norm_adv=True), the max of the negated surrogates, and the clipped
value loss with its factor 0.5 (clip_vloss=True). The entropy bonus is a separate term of
CleanRL's total loss, so it is left to the trainer."""

import torch

from ppo_reference import PPO

SOURCE = 'vwxyzjn/cleanrl, cleanrl/ppo.py'
CORRECT = {'compute_advantages': False, 'compute_loss': False}
BUGS = {
    'a truncation stops the bootstrap (done = terminated or truncated)': ('truncation_as_termination',),
    'advantages normalised inside the loss': ('normalized_advantages',),
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
            values = self.compute_values(states).view(N, T).T               # (num_steps, num_envs)
            next_value = self.compute_values(next_states).view(N, T).T[-1]  # V(next_obs) after the rollout
        rewards = rewards.view(N, T).T
        done = (terminations | truncations).view(N, T).T.float()  # gym's done after step t
        advantages = torch.zeros_like(rewards)
        lastgaelam = 0
        for t in reversed(range(T)):
            if t == T - 1:
                nextnonterminal = 1.0 - done[t]   # 1.0 - next_done
                nextvalues = next_value
            else:
                nextnonterminal = 1.0 - done[t]   # 1.0 - dones[t + 1] (CleanRL stores done one step later)
                nextvalues = values[t + 1]
            delta = rewards[t] + self.gamma * nextvalues * nextnonterminal - values[t]
            advantages[t] = lastgaelam = delta + self.gamma * self.lmbda * nextnonterminal * lastgaelam
        returns = advantages + values
        return advantages.T.reshape(-1), returns.T.reshape(-1)

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        newlogprob = self.compute_log_probs(states, actions)
        logratio = newlogprob - log_probs_old
        ratio = logratio.exp()
        mb_advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        pg_loss1 = -mb_advantages * ratio
        pg_loss2 = -mb_advantages * torch.clamp(ratio, 1 - self.epsilon, 1 + self.epsilon)
        pg_loss = torch.max(pg_loss1, pg_loss2).mean()

        newvalue = self.compute_values(states)
        b_values = critic_targets - advantages  # the rollout's values: returns = advantages + values
        v_loss_unclipped = (newvalue - critic_targets) ** 2
        v_clipped = b_values + torch.clamp(newvalue - b_values, -self.epsilon, self.epsilon)
        v_loss_clipped = (v_clipped - critic_targets) ** 2
        v_loss_max = torch.max(v_loss_unclipped, v_loss_clipped)
        v_loss = 0.5 * v_loss_max.mean()
        return pg_loss, v_loss
