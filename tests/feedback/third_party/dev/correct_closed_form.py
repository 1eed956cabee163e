"""Hand-written, subtly CORRECT: GAE in closed form, a_t = sum_k (gamma*lambda)^(k-t) * prod(cont) * delta_k,
with a masked upper-triangular matrix of discounts per environment (no loop over time); the loss
written with torch.where on the sign of the advantage instead of min(), and F.mse_loss."""

import torch
import torch.nn.functional as F

from ppo_reference import PPO

SOURCE = 'hand-written'
CORRECT = {'compute_advantages': True, 'compute_loss': True}
BUGS = {}


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        N = len(states) // T
        with torch.no_grad():
            values = self.compute_values(states).view(N, T).double()
            next_values = self.compute_values(next_states).view(N, T).double()
        rewards = rewards.double().view(N, T)
        bootstrap = (~terminations).double().view(N, T)
        cont = (~(terminations | truncations)).double().view(N, T)
        deltas = rewards + self.gamma * bootstrap * next_values - values
        gl = self.gamma * self.lmbda
        # weight[n, t, k] = prod_{j=t}^{k-1} gl * cont[n, j] for k >= t
        logs = torch.log(torch.clamp(gl * cont, min=1e-300))                  # (N, T)
        cum = torch.cat([torch.zeros(N, 1, dtype=torch.float64), torch.cumsum(logs, 1)], 1)  # (N, T+1)
        expo = cum[:, None, :T] * 0 + (cum[:, None, :T] - cum[:, :T, None])    # (N, t, k): sum_{j=t}^{k-1}
        upper = torch.triu(torch.ones(T, T, dtype=torch.bool))
        weight = torch.where(upper, torch.exp(expo), torch.zeros_like(expo))
        weight = torch.where(weight < 1e-200, torch.zeros_like(weight), weight)
        advantages = torch.einsum('ntk,nk->nt', weight, deltas)
        targets = advantages + values
        return advantages.float().reshape(-1), targets.float().reshape(-1)

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        ratio = (self.compute_log_probs(states, actions) - log_probs_old).exp()
        eps = self.epsilon
        bounded = torch.where(advantages >= 0, torch.clamp(ratio, max=1 + eps), torch.clamp(ratio, min=1 - eps))
        actor_loss = -(bounded * advantages).mean()
        critic_loss = F.mse_loss(self.compute_values(states), critic_targets.detach())
        return actor_loss, critic_loss
