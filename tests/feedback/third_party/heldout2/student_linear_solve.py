"""Hand-written: a student who knows GAE as a linear system and writes L^clip case by case.

compute_advantages: for every environment, GAE is the solution of (I - γλ·S) a = δ, where S
has S[t, t + 1] = 1 where the episode goes on after step t (and 0 after a termination or a
truncation, and nothing past the segment's end): solved with torch.linalg.solve_triangular
instead of a backward loop. δ_t bootstraps from v(next_states[t]) unless the episode
terminated. compute_loss: the clipped objective written by the sign of the advantage,
torch.where(A >= 0, min(r, 1 + ε), max(r, 1 - ε)) * A, which is min(r A, clip(r) A); the critic
loss as a squared norm divided by the batch size. Both functions are correct."""

import torch

from ppo_reference import PPO

SOURCE = 'hand-written (student): GAE as a triangular linear system, L^clip by the sign of A'
CORRECT = {'compute_advantages': True, 'compute_loss': True}
BUGS = {}


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        N = states.shape[0] // T
        with torch.no_grad():
            v = self.compute_values(states).double().view(N, T)
            v_next = self.compute_values(next_states).double().view(N, T)
        r = rewards.double().view(N, T)
        alive = 1.0 - terminations.double().view(N, T)
        goes_on = 1.0 - (terminations | truncations).double().view(N, T)
        delta = r + self.gamma * alive * v_next - v  # (N, T)
        # M = I - γλ diag(goes_on[:-1]) on the superdiagonal, one (T, T) matrix per environment
        M = torch.eye(T, dtype=torch.float64).repeat(N, 1, 1)
        idx = torch.arange(T - 1)
        M[:, idx, idx + 1] = -self.gamma * self.lmbda * goes_on[:, :-1]
        adv = torch.linalg.solve_triangular(M, delta.unsqueeze(-1), upper=True).squeeze(-1)
        targets = adv + v
        return adv.float().reshape(-1), targets.float().reshape(-1)

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        eps = self.epsilon
        ratio = (self.compute_log_probs(states, actions) - log_probs_old).exp()
        capped = torch.where(advantages >= 0, torch.clamp(ratio, max=1 + eps), torch.clamp(ratio, min=1 - eps))
        actor_loss = -(capped * advantages).mean()
        err = critic_targets.detach() - self.compute_values(states)
        critic_loss = torch.linalg.vector_norm(err) ** 2 / err.numel()
        return actor_loss, critic_loss
