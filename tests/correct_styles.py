"""Correct implementations of compute_advantages and compute_loss written differently from
the reference, as students write them: a loop over Python lists, and a float64 version
without a loop over time. Each changes the order of the floating-point sums, and so the
whole training run: the slow tests train them on held-out seeds to show that a correct
implementation lands, not only the reference's bit-exact trajectory."""

import torch
import torch.nn.functional as F

from ppo_reference import PPO


class ListLoopPPO(PPO):
    """GAE one environment and one step at a time, on Python floats; the loss with torch.where."""

    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        with torch.no_grad():
            values = self.compute_values(states).tolist()
            next_values = self.compute_values(next_states).tolist()
        rewards, terminations, truncations = rewards.tolist(), terminations.tolist(), truncations.tolist()
        T = self.num_steps
        advantages = [0.0] * len(values)
        for env_start in range(0, len(values), T):
            advantage = 0.0
            for k in reversed(range(env_start, env_start + T)):
                future = 0.0 if terminations[k] else self.gamma * next_values[k]
                delta = rewards[k] + future - values[k]
                if terminations[k] or truncations[k]:
                    advantage = 0.0  # the episode ends here: nothing flows back from the next one
                advantage = delta + self.gamma * self.lmbda * advantage
                advantages[k] = advantage
        targets = [a + v for a, v in zip(advantages, values)]
        return torch.tensor(advantages), torch.tensor(targets)

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        ratios = torch.exp(self.compute_log_probs(states, actions) - log_probs_old)
        # min(r A, clip(r) A) is the clip on the side where it is smaller
        clipped = torch.where(advantages >= 0, torch.clamp(ratios, max=1 + self.epsilon),
                              torch.clamp(ratios, min=1 - self.epsilon))
        actor_loss = -(clipped * advantages).mean()
        critic_loss = F.mse_loss(self.compute_values(states), critic_targets.detach())
        return actor_loss, critic_loss


class Float64MatrixPPO(PPO):
    """GAE as one matrix product per environment, in float64: A_t = sum_k (gamma lambda)^(k-t) delta_k
    over the steps k >= t of the same episode; the loss in float64 too."""

    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        N = len(states) // T
        with torch.no_grad():
            values = self.compute_values(states).double().reshape(N, T)
            next_values = self.compute_values(next_states).double().reshape(N, T)
        rewards = rewards.double().reshape(N, T)
        alive = (~terminations).double().reshape(N, T)
        deltas = rewards + self.gamma * alive * next_values - values  # (N, T)
        ends = (terminations | truncations).reshape(N, T).long()
        # episode[i, t]: how many episodes of environment i ended before step t
        episode = torch.cumsum(ends, dim=1) - ends
        same_episode = episode.unsqueeze(2) == episode.unsqueeze(1)  # (N, T, T): [i, t, k]
        t = torch.arange(T)
        later = (t.unsqueeze(1) <= t.unsqueeze(0))  # (T, T): k >= t
        power = (t.unsqueeze(0) - t.unsqueeze(1)).clamp(min=0).double()
        weights = (self.gamma * self.lmbda) ** power * later * same_episode  # (N, T, T)
        advantages = torch.einsum('itk,ik->it', weights, deltas)
        targets = advantages + values
        return advantages.reshape(N * T).float(), targets.reshape(N * T).float()

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        log_probs = self.compute_log_probs(states, actions).double()
        ratios = torch.exp(log_probs - log_probs_old.double())
        advantages = advantages.double()
        surrogate = torch.minimum(ratios * advantages,
                                  torch.clamp(ratios, 1 - self.epsilon, 1 + self.epsilon) * advantages)
        values = self.compute_values(states).double()
        critic_loss = ((values - critic_targets.detach().double()) ** 2).mean()
        return -surrogate.mean().float(), critic_loss.float()  # the exercise's losses are float32


STYLES = {'list_loop': ListLoopPPO, 'float64_matrix': Float64MatrixPPO}
