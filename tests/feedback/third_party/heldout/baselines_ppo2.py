"""OpenAI Baselines' PPO2, adapted to the kit's API (in PyTorch) with its conventions kept.

Sources: openai/baselines, baselines/ppo2/runner.py (advantage_and_returns) and
baselines/ppo2/model.py (Model: advs = returns - values normalised with numpy's std, the
pg loss as the mean of the max of the negated surrogates, vf_loss = .5 * mean(max(vf_losses1,
vf_losses2)) with OLDVPRED the rollout's values). Kept: gym's done (terminated or truncated)
stops the bootstrap, values[t + 1] as the next value inside the rollout, last_values after it."""

import torch

from ppo_reference import PPO

SOURCE = 'openai/baselines, baselines/ppo2/runner.py + baselines/ppo2/model.py'
CORRECT = {'compute_advantages': False, 'compute_loss': False}
BUGS = {
    'a truncation stops the bootstrap (done = terminated or truncated)': ('truncation_as_termination',),
    'advantages normalised inside the loss (numpy std, ddof=0)': ('normalized_advantages',),
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
            values = self.compute_values(states).view(N, T).T.numpy()
            last_values = self.compute_values(next_states).view(N, T).T[-1].numpy()
        rewards = rewards.view(N, T).T.numpy()
        dones_after = (terminations | truncations).view(N, T).T.float().numpy()  # done after step t
        advantages = rewards * 0
        lastgaelam = 0
        for t in reversed(range(T)):
            next_non_terminal = 1.0 - dones_after[t]   # runner: 1 - dones[t + 1], or 1 - last_dones
            next_value = values[t + 1] if t < T - 1 else last_values
            delta = rewards[t] + self.gamma * next_value * next_non_terminal - values[t]
            advantages[t] = lastgaelam = delta + self.gamma * self.lmbda * next_non_terminal * lastgaelam
        returns = advantages + values
        return torch.as_tensor(advantages.T.reshape(-1)), torch.as_tensor(returns.T.reshape(-1))

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        values = (critic_targets - advantages).numpy()  # OLDVPRED: returns - advs
        advs = advantages.numpy()
        advs = (advs - advs.mean()) / (advs.std() + 1e-8)
        ADV = torch.as_tensor(advs)
        vpred = self.compute_values(states)
        vpredclipped = torch.as_tensor(values) + torch.clamp(vpred - torch.as_tensor(values), -self.epsilon,
                                                             self.epsilon)
        vf_losses1 = (vpred - critic_targets) ** 2
        vf_losses2 = (vpredclipped - critic_targets) ** 2
        vf_loss = .5 * torch.mean(torch.maximum(vf_losses1, vf_losses2))
        neglogpac = -self.compute_log_probs(states, actions)
        ratio = torch.exp(-log_probs_old - neglogpac)  # exp(OLDNEGLOGPAC - neglogpac)
        pg_losses = -ADV * ratio
        pg_losses2 = -ADV * torch.clamp(ratio, 1.0 - self.epsilon, 1.0 + self.epsilon)
        pg_loss = torch.mean(torch.maximum(pg_losses, pg_losses2))
        return pg_loss, vf_loss
