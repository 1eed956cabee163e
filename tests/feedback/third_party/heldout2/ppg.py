"""OpenAI's phasic-policy-gradient PPO, adapted to the kit's API with its conventions kept.

Source: openai/phasic-policy-gradient, phasic_policy_gradient/ppo.py (compute_gae: env-major
[nenv, nstep] arrays, `first` marks the beginning of episodes (gym3: after any episode end,
terminated or truncated), notlast = 1 - first[:, t + 1] masks both the next value and the
backward sum, vpred has one extra column with the value of the final observation, vtarg =
vpred + adv; compute_advantage: seg["adv"] normalised over the whole rollout with
tu.mpi_moments, i.e. the population variance, and sqrt(var) + 1e-8; compute_losses:
pg_losses = max(-adv * ratio, -adv * clamp(ratio)), mean; vf = ((vpred - vtarg) ** 2).mean()).
vfcoef, entcoef and kl_penalty (0 by default) are trainer settings and are left out."""

import math

import torch

from ppo_reference import PPO

SOURCE = 'openai/phasic-policy-gradient, phasic_policy_gradient/ppo.py'
CORRECT = {'compute_advantages': False, 'compute_loss': True}
BUGS = {
    '`first` after any episode end: a truncated step is not bootstrapped': ('truncation_as_termination',),
    'advantages normalised over the rollout inside compute_advantages (population variance)':
        ('normalized_in_gae',),
}


def compute_gae(*, vpred, reward, first, γ, λ):
    first = first.to(dtype=torch.float32)
    assert first.dim() == 2
    nenv, nstep = reward.shape
    assert vpred.shape == first.shape == (nenv, nstep + 1)
    adv = torch.zeros(nenv, nstep, dtype=torch.float32)
    lastgaelam = 0
    for t in reversed(range(nstep)):
        notlast = 1.0 - first[:, t + 1]
        nextvalue = vpred[:, t + 1]
        # notlast: whether next timestep is from the same episode
        delta = reward[:, t] + notlast * γ * nextvalue - vpred[:, t]
        adv[:, t] = lastgaelam = delta + notlast * γ * λ * lastgaelam
    vtarg = vpred[:, :-1] + adv
    return adv, vtarg


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        if truncations is None:
            truncations = torch.zeros_like(terminations)
        T = self.num_steps
        N = len(states) // T
        with torch.no_grad():
            seg_vpred = self.compute_values(states).view(N, T)
            vpredfinal = self.compute_values(next_states).view(N, T)[:, -1]  # model.v(finalob)
        ended = (terminations | truncations).view(N, T)
        seg_first = torch.zeros(N, T, dtype=torch.bool)
        seg_first[:, 1:] = ended[:, :-1]  # the step after an episode end is a `first`
        finalfirst = ended[:, -1]
        adv, vtarg = compute_gae(γ=self.gamma, λ=self.lmbda, reward=rewards.float().view(N, T),
                                 vpred=torch.cat([seg_vpred, vpredfinal[:, None]], dim=1),
                                 first=torch.cat([seg_first, finalfirst[:, None]], dim=1))
        adv_mean, adv_var = adv.mean(), ((adv - adv.mean()) ** 2).mean()  # tu.mpi_moments on one worker
        adv = (adv - adv_mean) / (math.sqrt(adv_var) + 1e-8)
        return adv.reshape(-1), vtarg.reshape(-1)

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        newlogp = self.compute_log_probs(states, actions)
        logratio = newlogp - log_probs_old
        ratio = torch.exp(logratio)
        clip_param = self.epsilon
        pg_losses = -advantages * ratio
        pg_losses2 = -advantages * torch.clamp(ratio, 1.0 - clip_param, 1.0 + clip_param)
        pg_losses = torch.max(pg_losses, pg_losses2)
        vpred = self.compute_values(states)
        return pg_losses.mean(), ((vpred - critic_targets) ** 2).mean()
