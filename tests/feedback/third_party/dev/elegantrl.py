"""ElegantRL's AgentPPO, adapted to the kit's API with its conventions kept.

Sources: AI4Finance-Foundation/ElegantRL, elegantrl/agents/AgentPPO.py (update_net,
update_objectives, get_advantages with if_use_v_trace=True) and elegantrl/agents/AgentBase.py
(criterion = torch.nn.SmoothL1Loss). Kept: at a truncation the reward gets the critic's value
of the *current* state added (`rewards[truncated] += self.cri(states[truncated])`, no gamma) and
the step counts as done; masks = undones * gamma; the next value is the value of the next row;
reward_sums = advantages + values before the advantages are normalised with std + 1e-5; and
obj_actor = ((obj_surrogate + obj_entropy) * unmask).mean() * lambda_entropy (0.01). Truncated
transitions are masked out of both objectives (unmask)."""

import torch

from ppo_reference import PPO

SOURCE = 'AI4Finance-Foundation/ElegantRL, elegantrl/agents/AgentPPO.py + elegantrl/agents/AgentBase.py'
CORRECT = {'compute_advantages': False, 'compute_loss': False}
BUGS = {
    'a truncated step is bootstrapped from V(s_t), without gamma': ('truncation_bootstraps_current',),
    'advantages normalised inside compute_advantages': ('normalized_in_gae',),
    'the actor objective includes the entropy and is scaled by lambda_entropy = 0.01':
        ('actor_extra_term', 'actor_factor'),
    'critic loss is smooth L1': ('critic_huber',),
}


class Implementation(PPO):
    lambda_entropy = 0.01

    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        N = len(states) // T
        with torch.no_grad():
            values = self.compute_values(states).view(N, T).T
            rewards = rewards.clone().view(N, T).T
            undones = (~terminations).view(N, T).T.clone()
            truncated = truncations.view(N, T).T
            if torch.any(truncated):
                rewards[truncated] += values[truncated]  # self.cri(states[truncated])
                undones[truncated] = False
            masks = undones.float() * self.gamma
            next_value = self.compute_values(next_states).view(N, T).T[-1]  # self.cri(self.last_state)
            advantages = torch.empty_like(values)
            advantage = torch.zeros_like(next_value)
            for t in range(T - 1, -1, -1):
                next_value = rewards[t] + masks[t] * next_value
                advantages[t] = advantage = next_value - values[t] + masks[t] * self.lmbda * advantage
                next_value = values[t]
            reward_sums = advantages + values
            advantages = (advantages - advantages.mean()) / (advantages.std(dim=0) + 1e-5)
        return advantages.T.reshape(-1), reward_sums.T.reshape(-1)

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        value = self.compute_values(states)
        obj_critic = torch.nn.SmoothL1Loss()(value, critic_targets)
        logits = self.actor(states)
        dist = torch.distributions.Categorical(logits=logits)
        new_logprob, obj_entropy = dist.log_prob(actions), dist.entropy()
        ratio = (new_logprob - log_probs_old.detach()).exp()
        surrogate1 = advantages * ratio
        surrogate2 = advantages * ratio.clamp(1 - self.epsilon, 1 + self.epsilon)
        obj_surrogate = torch.min(surrogate1, surrogate2)
        obj_actor = (obj_surrogate + obj_entropy).mean() * self.lambda_entropy
        return -obj_actor, obj_critic
