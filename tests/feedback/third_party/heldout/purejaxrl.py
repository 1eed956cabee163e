"""PureJaxRL's PPO, adapted to the kit's API (in PyTorch) with its conventions kept.

Source: luchris429/purejaxrl, purejaxrl/ppo.py (_calculate_gae with a reversed jax.lax.scan,
and _loss_fn). Kept: gymnax's done (terminated or truncated) masks both the bootstrap and the
sum, the next value is the value of the next transition (last_val after the rollout),
targets = advantages + values, the advantages normalised inside the loss with jnp's std
(ddof=0), and the clipped value loss with a factor 0.5."""

import torch

from ppo_reference import PPO

SOURCE = 'luchris429/purejaxrl, purejaxrl/ppo.py'
CORRECT = {'compute_advantages': False, 'compute_loss': False}
BUGS = {
    'a truncation stops the bootstrap (done = terminated or truncated)': ('truncation_as_termination',),
    'advantages normalised inside the loss (ddof=0)': ('normalized_advantages',),
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
            value = self.compute_values(states).view(N, T).T
            last_val = self.compute_values(next_states).view(N, T).T[-1]
        reward = rewards.view(N, T).T
        done = (terminations | truncations).view(N, T).T.float()
        gae, next_value = torch.zeros(N), last_val
        advantages = torch.zeros(T, N)
        for t in reversed(range(T)):  # jax.lax.scan(_get_advantages, ..., reverse=True)
            delta = reward[t] + self.gamma * next_value * (1 - done[t]) - value[t]
            gae = delta + self.gamma * self.lmbda * (1 - done[t]) * gae
            next_value = value[t]
            advantages[t] = gae
        return advantages.T.reshape(-1), (advantages + value).T.reshape(-1)

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        traj_value = critic_targets - advantages  # traj_batch.value
        value = self.compute_values(states)
        log_prob = self.compute_log_probs(states, actions)
        value_pred_clipped = traj_value + (value - traj_value).clamp(-self.epsilon, self.epsilon)
        value_losses = torch.square(value - critic_targets)
        value_losses_clipped = torch.square(value_pred_clipped - critic_targets)
        value_loss = 0.5 * torch.maximum(value_losses, value_losses_clipped).mean()
        ratio = torch.exp(log_prob - log_probs_old)
        gae = (advantages - advantages.mean()) / (advantages.std(unbiased=False) + 1e-8)  # jnp std: ddof=0
        loss_actor1 = ratio * gae
        loss_actor2 = torch.clamp(ratio, 1.0 - self.epsilon, 1.0 + self.epsilon) * gae
        loss_actor = -torch.minimum(loss_actor1, loss_actor2)
        loss_actor = loss_actor.mean()
        return loss_actor, value_loss
