"""SaLinA's PPO example, adapted to the kit's API with its conventions kept.

Sources: facebookresearch/salina, salina/rl/functional.py (gae(critic, reward, done, ...):
time-major frames, td = reward[1:] + discount * (1 - done[1:]) * critic[1:] - critic[:-1],
the backward sum decayed by (1 - d[:-1][t]), the done flag of frame t, not of frame t + 1;
temporal_difference: target = discount * critic[1:] * (1 - done[1:]) + reward[1:]) and
salina_examples/rl/ppo_brax/ppo.py (run_ppo: the policy loss -(min(ratio * gae,
clamp(ratio) * gae)).mean(); the critic loss (td0 ** 2).mean(), i.e. the critic is fitted to
the one-step TD target). Frames: frame t holds states[t], frame T the value of
next_states[T - 1]; env/reward and env/done of frame t + 1 are rewards[t] and the episode's end
at t (gym's done: terminated or truncated); frame 0 starts with done = False. The kit's
critic_targets are that TD target, so that compute_loss's (target - v) ** 2 is td0 ** 2."""

import torch

from ppo_reference import PPO

SOURCE = 'facebookresearch/salina, salina/rl/functional.py + salina_examples/rl/ppo_brax/ppo.py'
CORRECT = {'compute_advantages': False, 'compute_loss': True}
BUGS = {
    'done = terminated or truncated: a truncated step is not bootstrapped': ('truncation_as_termination',),
    'the sum is decayed by (1 - done[t]) instead of (1 - done[t + 1]): it carries over each episode end':
        ('no_reset',),
    '... and it is cut after the first step of the next episode instead': (),
    'critic targets are the one-step TD targets (the critic loss is td0 ** 2)': ('target_td',),
}


def gae(critic, reward, done, discount_factor, gae_coef):
    r = reward[1:]
    v = critic[1:].detach()
    d = done.float()
    td = r + discount_factor * (1.0 - d[1:]) * v - critic[:-1]
    T = td.shape[0]
    gae = td[-1]
    gaes = [gae]
    for t in range(T - 2, -1, -1):
        gae = td[t] + discount_factor * gae_coef * (1.0 - d[:-1][t]) * gae
        gaes.append(gae)
    gaes = list([g.unsqueeze(0) for g in reversed(gaes)])
    gaes = torch.cat(gaes, dim=0)
    return gaes


def temporal_difference_target(critic, reward, done, discount_factor):
    return discount_factor * critic[1:].detach() * (1.0 - done[1:].float()) + reward[1:]


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        B = len(states) // T
        with torch.no_grad():
            v = self.compute_values(states).view(B, T).T
            v_last = self.compute_values(next_states).view(B, T).T[-1]
        critic = torch.cat([v, v_last[None]], dim=0)  # [T + 1, B]
        reward = torch.zeros(T + 1, B)
        reward[1:] = rewards.float().view(B, T).T
        done = torch.zeros(T + 1, B, dtype=torch.bool)
        done[1:] = (terminations | truncations).view(B, T).T
        advantages = gae(critic, reward, done, self.gamma, self.lmbda)
        target = temporal_difference_target(critic, reward, done, self.gamma)
        return advantages.T.reshape(-1), target.T.reshape(-1)

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        ratio = self.compute_log_probs(states, actions) - log_probs_old
        ratio = ratio.exp()
        clip_adv = torch.clamp(ratio, 1 - self.epsilon, 1 + self.epsilon) * advantages
        loss_policy = -(torch.min(ratio * advantages, clip_adv)).mean()
        td0 = critic_targets - self.compute_values(states)
        loss_critic = (td0 ** 2).mean()
        return loss_policy, loss_critic
