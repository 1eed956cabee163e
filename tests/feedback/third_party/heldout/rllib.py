"""RLlib's PPO (the torch policy of the old API stack), adapted to the kit's API with its
conventions kept.

Sources: ray-project/ray, rllib/evaluation/postprocessing.py (compute_advantages with
use_gae=True on one trajectory fragment, last_r = 0 after a termination, else the value of
the last observation) and rllib/algorithms/ppo/ppo_torch_policy.py (PPOTorchPolicy.loss:
the clipped surrogate, and vf_loss_clipped = torch.clamp(vf_loss, 0, vf_clip_param) with the
default vf_clip_param = 10). A fragment ends where an episode ends or the rollout stops. The
KL penalty needs the old action distribution, which the kit's compute_loss does not get, and
the entropy coefficient defaults to 0: both are left out."""

import numpy as np
import torch

from ppo_reference import PPO

SOURCE = 'ray-project/ray, rllib/evaluation/postprocessing.py + rllib/algorithms/ppo/ppo_torch_policy.py'
CORRECT = {'compute_advantages': True, 'compute_loss': False}
BUGS = {
    'the value loss of each transition is capped at vf_clip_param = 10': ('critic_capped',),
}


def discount(x, gamma):
    # scipy.signal.lfilter([1], [1, -gamma], x[::-1], axis=0)[::-1], as a loop
    out = np.zeros_like(x)
    running = 0.0
    for k in reversed(range(len(x))):
        running = x[k] + gamma * running
        out[k] = running
    return out


class Implementation(PPO):
    vf_clip_param = 10.0

    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        with torch.no_grad():
            vf_preds = self.compute_values(states).numpy()
            next_vf = self.compute_values(next_states).numpy()
        advantages = np.zeros(len(states), dtype=np.float32)
        value_targets = np.zeros(len(states), dtype=np.float32)
        start = 0
        for k in range(len(states)):
            if terminations[k] or truncations[k] or k % T == T - 1:
                last_r = 0.0 if terminations[k] else next_vf[k]
                fragment = slice(start, k + 1)
                vpred_t = np.concatenate([vf_preds[fragment], np.array([last_r])])
                delta_t = rewards.numpy()[fragment] + self.gamma * vpred_t[1:] - vpred_t[:-1]
                advantages[fragment] = discount(delta_t, self.gamma * self.lmbda)
                value_targets[fragment] = (advantages[fragment] + vf_preds[fragment]).astype(np.float32)
                start = k + 1
        return torch.as_tensor(advantages), torch.as_tensor(value_targets)

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        logp_ratio = torch.exp(self.compute_log_probs(states, actions) - log_probs_old)
        surrogate_loss = torch.min(advantages * logp_ratio,
                                   advantages * torch.clamp(logp_ratio, 1 - self.epsilon, 1 + self.epsilon))
        mean_policy_loss = torch.mean(-surrogate_loss)
        value_fn_out = self.compute_values(states)
        vf_loss = torch.pow(value_fn_out - critic_targets, 2.0)
        vf_loss_clipped = torch.clamp(vf_loss, 0, self.vf_clip_param)
        mean_vf_loss = torch.mean(vf_loss_clipped)
        return mean_policy_loss, mean_vf_loss
