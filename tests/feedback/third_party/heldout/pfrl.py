"""PFRL's PPO, adapted to the kit's API with its conventions kept.

Source: pfnet/pfrl, pfrl/agents/ppo.py (_add_advantage_and_value_target_to_episode, _update,
_lossfun). Kept: GAE per episode (an episode's transitions end at done or at a reset, such as
a time limit, with nonterminal = 0 only at done, and the last, unfinished episode of the
buffer ends where the data ends), v_teacher = adv + v_pred, standardize_advantages with
torch.std_mean(..., unbiased=False) and + 1e-8, and F.mse_loss for the value function
(clip_eps_vf=None). The entropy term is a separate term of PFRL's loss."""

import torch
import torch.nn.functional as F

from ppo_reference import PPO

SOURCE = 'pfnet/pfrl, pfrl/agents/ppo.py'
CORRECT = {'compute_advantages': True, 'compute_loss': False}
BUGS = {
    'advantages standardised inside the loss (unbiased=False, ddof=0)': ('normalized_advantages',),
}


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        with torch.no_grad():
            v_pred = self.compute_values(states).tolist()
            next_v_pred = self.compute_values(next_states).tolist()
        episodes, episode = [], []
        for k in range(len(states)):
            episode.append({'reward': float(rewards[k]), 'nonterminal': 0.0 if terminations[k] else 1.0,
                            'v_pred': v_pred[k], 'next_v_pred': next_v_pred[k], 'index': k})
            if terminations[k] or truncations[k] or k % T == T - 1:  # done, reset, or the end of the data
                episodes.append(episode)
                episode = []
        adv_out, target_out = torch.zeros(len(states)), torch.zeros(len(states))
        for episode in episodes:
            adv = 0.0
            for transition in reversed(episode):
                td_err = (transition['reward'] + (self.gamma * transition['nonterminal'] * transition['next_v_pred'])
                          - transition['v_pred'])
                adv = td_err + self.gamma * self.lmbda * adv
                adv_out[transition['index']] = adv
                target_out[transition['index']] = adv + transition['v_pred']
        return adv_out, target_out

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        std_advs, mean_advs = torch.std_mean(advantages, unbiased=False)
        advs = (advantages - mean_advs) / (std_advs + 1e-8)
        vs_pred = self.compute_values(states)
        prob_ratio = torch.exp(self.compute_log_probs(states, actions) - log_probs_old)
        loss_policy = -torch.mean(torch.min(prob_ratio * advs,
                                            torch.clamp(prob_ratio, 1 - self.epsilon, 1 + self.epsilon) * advs))
        loss_value_func = F.mse_loss(vs_pred, critic_targets)
        return loss_policy, loss_value_func
