"""Hand-written student bug: baselines' convention (dones[t+1] = "s_{t+1} starts a new episode")
applied to the kit's terminations (which mean "the episode ended at step t"): the masks are read
one step late, nextnonterminal = 1 - done[t + 1], and 1 at the last step."""

import torch

from ppo_reference import PPO

SOURCE = 'hand-written (baselines ppo2 runner convention misapplied)'
CORRECT = {'compute_advantages': False, 'compute_loss': True}
BUGS = {
    'the termination/truncation masks are shifted by one step (done[t+1] instead of done[t])':
        ('ignores_terminations', 'bootstraps_terminal', 'carries_over_terminations', 'no_reset',
         'ignores_truncations', 'truncation_as_termination'),
}


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        N = len(states) // T
        with torch.no_grad():
            values = self.compute_values(states).view(N, T)
            next_values = self.compute_values(next_states).view(N, T)
        rewards = rewards.float().view(N, T)
        term = terminations.float().view(N, T)
        done = (terminations | truncations).float().view(N, T)
        advantages = torch.zeros(N, T)
        lastgaelam = torch.zeros(N)
        for t in reversed(range(T)):
            if t == T - 1:
                nextnonterminal = torch.ones(N)
                nextnotdone = torch.ones(N)
            else:
                nextnonterminal = 1.0 - term[:, t + 1]
                nextnotdone = 1.0 - done[:, t + 1]
            delta = rewards[:, t] + self.gamma * next_values[:, t] * nextnonterminal - values[:, t]
            lastgaelam = delta + self.gamma * self.lmbda * nextnotdone * lastgaelam
            advantages[:, t] = lastgaelam
        return advantages.reshape(-1), (advantages + values).reshape(-1)
