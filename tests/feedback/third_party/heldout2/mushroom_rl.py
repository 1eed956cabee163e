"""MushroomRL's PPO, adapted to the kit's API with its conventions kept.

Sources: MushroomRL/mushroom-rl, mushroom_rl/utils/value_functions.py (compute_gae over one
dataset: a backward loop over ALL samples, restarting only where `last` is set or at the very
end of the dataset (rev_k == 0), bootstrapping gamma * v_next unless `absorbing`; returns
(v_target = gen_adv + v, gen_adv)) and mushroom_rl/algorithms/actor_critic/deep_actor_critic/
ppo.py (PPO.fit: np_adv = (np_adv - np.mean(np_adv)) / (np.std(np_adv) + 1e-8) over the whole
dataset; _update_policy: loss = -mean(min(prob_ratio * adv, clipped_ratio * adv)); the critic
Regressor fitted to v_target with F.mse_loss, as in MushroomRL's examples). The kit's rollout
is handed to compute_gae the way parse_dataset gives a dataset: the N segments one after the
other, absorbing = terminated, last = the episode ended (terminated or truncated); Mushroom's
`last` marks episode ends only, not where a segment stops. ent_coeff is a trainer setting."""

import numpy as np
import torch
import torch.nn.functional as F

from ppo_reference import PPO

SOURCE = 'MushroomRL/mushroom-rl, mushroom_rl/utils/value_functions.py + algorithms/actor_critic/deep_actor_critic/ppo.py'
CORRECT = {'compute_advantages': False, 'compute_loss': True}
BUGS = {
    'one backward loop over the concatenated dataset: GAE runs from one environment into the next':
        ('across_envs',),
    'advantages normalised over the dataset with np.std (population std) before the loss':
        ('normalized_in_gae',),
}


def compute_gae(V, s, ss, r, absorbing, last, gamma, lam):
    v = V(s)
    v_next = V(ss)
    gen_adv = np.empty_like(v)
    for rev_k in range(len(v)):
        k = len(v) - rev_k - 1
        if last[k] or rev_k == 0:
            gen_adv[k] = r[k] - v[k]
            if not absorbing[k]:
                gen_adv[k] += gamma * v_next[k]
        else:
            gen_adv[k] = r[k] + gamma * v_next[k] - v[k] + gamma * lam * gen_adv[k + 1]
    return gen_adv + v, gen_adv


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)

        def V(x):
            with torch.no_grad():
                return self.compute_values(torch.as_tensor(x)).numpy()

        x, xn = states.numpy().astype(np.float32), next_states.numpy().astype(np.float32)
        r = rewards.numpy().astype(np.float32)
        absorbing, last = terminations.numpy(), (terminations | truncations).numpy()
        v_target, np_adv = compute_gae(V, x, xn, r, absorbing, last, self.gamma, self.lmbda)
        np_adv = (np_adv - np.mean(np_adv)) / (np.std(np_adv) + 1e-8)
        return torch.as_tensor(np_adv, dtype=torch.float32), torch.as_tensor(v_target, dtype=torch.float32)

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        prob_ratio = torch.exp(self.compute_log_probs(states, actions) - log_probs_old)
        clipped_ratio = torch.clamp(prob_ratio, 1 - self.epsilon, 1 + self.epsilon)
        loss = -torch.mean(torch.min(prob_ratio * advantages, clipped_ratio * advantages))
        critic_loss = F.mse_loss(self.compute_values(states), critic_targets)  # self._V.fit(x, v_target)
        return loss, critic_loss
