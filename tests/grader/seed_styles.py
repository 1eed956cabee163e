"""Correct compute_advantages / compute_loss written in other orders of float32 operations
than the reference, as students write them. Each gives the same values up to rounding:
the grader must give each 100 on any secret seed (tests/grader/test_verdict.py)."""

import torch
import torch.nn.functional as F
from torch.distributions import Categorical

from correct_styles import Float64MatrixPPO, ListLoopPPO
from ppo_reference import PPO


class ReorderedDeltaPPO(PPO):
    """δ_t = (r_{t+1} - v(s_t)) + γ v(s_{t+1}) (1 - d), summed backwards one environment at a time."""

    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        with torch.no_grad():
            values = self.compute_values(states)            # (N * T,)
            next_values = self.compute_values(next_states)  # (N * T,)
        deltas = (rewards - values) + self.gamma * next_values * (1.0 - terminations.float())
        advantages = torch.zeros_like(values)
        for start in range(0, len(values), T):
            running = torch.tensor(0.0)
            for k in range(start + T - 1, start - 1, -1):
                if terminations[k] or truncations[k]:
                    running = torch.tensor(0.0)
                running = deltas[k] + self.gamma * self.lmbda * running
                advantages[k] = running
        return advantages, advantages + values


class CatCriticPPO(PPO):
    """The critic runs once, on cat([states, next_states]); the mask is multiplied last."""

    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        N = len(states) // T
        with torch.no_grad():
            both = self.compute_values(torch.cat([states, next_states]))  # (2 N T,)
        values, next_values = both[:len(states)].reshape(N, T), both[len(states):].reshape(N, T)
        not_done = 1.0 - terminations.float().reshape(N, T)
        not_end = 1.0 - (terminations | truncations).float().reshape(N, T)
        deltas = rewards.reshape(N, T) + self.gamma * (next_values * not_done) - values
        advantages = torch.zeros(N, T)
        last = torch.zeros(N)
        for t in range(T - 1, -1, -1):
            last = deltas[:, t] + (self.gamma * self.lmbda * last) * not_end[:, t]
            advantages[:, t] = last
        return advantages.flatten(), (advantages + values).flatten()


class LogSoftmaxPPO(PPO):
    """log π from log(softmax(scores)) picked with gather; the ratio's clip with torch.where."""

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        probs = torch.softmax(self.actor(states), dim=-1)                         # (B, A)
        log_probs = torch.log(probs).gather(1, actions.long().unsqueeze(1)).squeeze(1)  # (B,)
        ratios = (log_probs - log_probs_old).exp()
        clipped = ratios.clamp(1 - self.epsilon, 1 + self.epsilon)
        actor_loss = -torch.where(ratios * advantages < clipped * advantages, ratios * advantages,
                                  clipped * advantages).mean()
        critic_loss = F.mse_loss(self.critic(states).squeeze(1), critic_targets)
        return actor_loss, critic_loss


class CategoricalProbsPPO(PPO):
    """log π from torch.distributions.Categorical(probs=...); the critic loss with nn.MSELoss."""

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        distribution = Categorical(probs=torch.softmax(self.actor(states), dim=1))
        ratios = torch.exp(distribution.log_prob(actions) - log_probs_old)
        surrogate = torch.min(advantages * ratios, advantages * torch.clamp(ratios, 1 - self.epsilon,
                                                                            1 + self.epsilon))
        actor_loss = -surrogate.sum() / len(states)
        critic_loss = torch.nn.MSELoss()(self.compute_values(states), critic_targets.detach())
        return actor_loss, critic_loss


GAE_STYLES = {'reordered delta': ReorderedDeltaPPO, 'critic on cat([states, next_states])': CatCriticPPO,
              'list loop': ListLoopPPO, 'float64 inside': Float64MatrixPPO}
LOSS_STYLES = {'log(softmax)': LogSoftmaxPPO, 'Categorical(probs=...)': CategoricalProbsPPO,
               'list loop': ListLoopPPO, 'float64 inside': Float64MatrixPPO}
