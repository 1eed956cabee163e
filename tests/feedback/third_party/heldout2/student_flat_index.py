"""Hand-written: a student who never reshapes and walks the flat N*T tensors backwards.

compute_advantages: one backward loop over k = N*T - 1, ..., 0 on the flat tensors; the
running advantage is reset where k % T == T - 1 (the last step of an environment's segment)
and after any episode end, and δ_k bootstraps from v(next_states[k]) unless terminated:
correct, written unusually. compute_loss: the student believes clamp() already keeps the
objective pessimistic and drops the min: the actor loss uses only clip(r) * A. The critic
loss is right."""

import torch

from ppo_reference import PPO

SOURCE = 'hand-written (student): flat index arithmetic'
CORRECT = {'compute_advantages': True, 'compute_loss': False}
BUGS = {
    'only the clipped term clip(r) * A is used (no min with r * A)': ('only_clipped',),
}


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        with torch.no_grad():
            v = self.compute_values(states)
            v_next = self.compute_values(next_states)
        advantages = torch.empty_like(v)
        a = 0.0
        for k in range(len(v) - 1, -1, -1):
            if k % T == T - 1 or terminations[k] or truncations[k]:
                a = 0.0
            bootstrap = 0.0 if terminations[k] else self.gamma * v_next[k]
            a = rewards[k] + bootstrap - v[k] + self.gamma * self.lmbda * a
            advantages[k] = a
        return advantages, advantages + v

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        ratio = torch.exp(self.compute_log_probs(states, actions) - log_probs_old)
        actor_loss = -(torch.clamp(ratio, 1 - self.epsilon, 1 + self.epsilon) * advantages).mean()
        critic_loss = (self.compute_values(states) - critic_targets).pow(2).mean()
        return actor_loss, critic_loss
