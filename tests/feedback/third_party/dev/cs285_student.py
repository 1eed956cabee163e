"""A CS285 (Berkeley deep RL) homework 2 solution, adapted to the kit's API with its choices kept.

Source: Guan-Zheng/cs285hm2, cs285/agents/pg_agent.py (calculate_q_vals with reward_to_go=True,
estimate_advantage with nn_baseline=True and standardize_advantages=True). Kept: the Q values
are the rewards-to-go of each rollout (a rollout ends at done or at the path length, which in
the kit is an episode end or the end of a segment; no bootstrap), the advantage is Q minus the
baseline, standardised with np.std (ddof=0) + 1e-8, and the baseline is fitted to the Q values.
The baseline's own normalisation (b_n * std(q) + mean(q)) is for a baseline trained on
normalised targets; the kit's critic predicts values directly, so it is used as it is."""

import numpy as np
import torch

from ppo_reference import PPO

SOURCE = 'Guan-Zheng/cs285hm2, cs285/agents/pg_agent.py'
CORRECT = {'compute_advantages': False, 'compute_loss': True}
BUGS = {
    'Monte Carlo advantages: rewards-to-go minus V, no lambda': ('no_lambda', 'decay'),
    'no bootstrap at a truncation or at the end of a segment': ('truncation_as_termination',
                                                                 'no_segment_bootstrap'),
    'advantages standardised inside compute_advantages (np.std, ddof=0)': ('normalized_in_gae',),
    'critic targets are the rewards-to-go': ('target_returns',),
}


class Implementation(PPO):
    def _discounted_cumsum(self, rewards):
        all_discounted_cumsums = []
        for start_time_index in range(len(rewards)):
            indices = list(range(start_time_index, len(rewards)))
            discounts = [self.gamma ** (i - start_time_index) for i in indices]
            discounted_rtg = discounts * np.array(rewards[start_time_index:])
            all_discounted_cumsums.append(sum(discounted_rtg))
        return np.array(all_discounted_cumsums)

    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        rews_list, rollout = [], []
        for k in range(len(states)):
            rollout.append(float(rewards[k]))
            if terminations[k] or truncations[k] or k % T == T - 1:
                rews_list.append(rollout)
                rollout = []
        q_values = np.concatenate([self._discounted_cumsum(r) for r in rews_list])
        with torch.no_grad():
            b_n = self.compute_values(states).numpy()
        adv_n = q_values - b_n
        adv_n = (adv_n - np.mean(adv_n)) / (np.std(adv_n) + 1e-8)
        return torch.as_tensor(adv_n, dtype=torch.float32), torch.as_tensor(q_values, dtype=torch.float32)
