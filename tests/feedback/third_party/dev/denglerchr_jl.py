"""denglerchr/ReinforcementLearning.jl's gae (Julia), adapted to the kit's API with its conventions kept.

Source: denglerchr/ReinforcementLearning.jl, src/gae.jl. Kept: per trajectory (one per
environment), `for T = nsteps-1:-1:1`: A[T] = delta_V + gamma*lambda * delta_V1 where delta_V1
is the PREVIOUS iteration's delta (the delta of step T+1), i.e. a_t = delta_t + gamma*lambda*delta_{t+1}:
two terms, not a running sum; the last step keeps A = 0 (the loop starts at nsteps-1); V[T+1] is
the value of the next row's state (the trajectory's own states); no episode ends at all.
The Julia code returns only A; the critic targets are A + V, as its value function fits them."""

import torch

from ppo_reference import PPO

SOURCE = 'denglerchr/ReinforcementLearning.jl, src/gae.jl'
CORRECT = {'compute_advantages': False, 'compute_loss': True}
BUGS = {
    'a_t = delta_t + gamma*lambda*delta_{t+1}: only two terms, not the recursive sum': (),
    'the last step of each segment gets advantage 0': ('skips_last_step',),
    'episode ends inside a segment are ignored (sum and bootstrap run on)': ('ignores_terminations',
                                                                          'ignores_truncations', 'no_reset',
                                                                          'truncation_bootstraps_next_row',
                                                                          'bootstraps_terminal'),
}


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        T = self.num_steps
        N = len(states) // T
        with torch.no_grad():
            V = self.compute_values(states).view(N, T)
        r = rewards.view(N, T).float()
        A = torch.zeros(N, T)
        delta_V = torch.zeros(N)
        delta_V1 = torch.zeros(N)
        discount = self.gamma * self.lmbda
        for t in range(T - 2, -1, -1):
            delta_V1 = delta_V.clone()
            delta_V = r[:, t] + self.gamma * V[:, t + 1] - V[:, t]
            A[:, t] = delta_V + discount * delta_V1
        return A.reshape(-1), (A + V).reshape(-1)
