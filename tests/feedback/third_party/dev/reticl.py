"""ReTICL's get_gae, adapted to the kit's API with its conventions kept.

Source: a ReTICL (RL for in-context example selection) training module; the search tool showed the code
(find_string('def get_gae('), hit id 36979908398) without naming repository or path, so verify before citing:
get_td_error / get_gae). Kept: `lam = 0.9` written into the function (self.lmbda is never read),
no gamma anywhere (TD error r_t + v_{t+1} - v_t, sum decays by lam), each row (an episode of
the source; here an environment's segment) padded with v = 0 after its last step (no
bootstrap), no episode ends inside a row. Critic targets: the source trains the value head on
the returns gae + v, kept."""

import torch
import torch.nn.functional as F

from ppo_reference import PPO

SOURCE = 'ReTICL training code, get_gae / get_td_error (repository path unverified; find_string hit 36979908398)'
CORRECT = {'compute_advantages': False, 'compute_loss': True}
BUGS = {
    'no gamma in delta_t': ('no_gamma_in_delta',),
    'no gamma in the backward sum, and lambda hard-coded as 0.9': ('no_gamma_in_sum', 'decay'),
    'no bootstrap at the end of a segment (v padded with 0)': ('no_segment_bootstrap',),
    'episode ends inside a segment are ignored': ('ignores_terminations', 'ignores_truncations', 'no_reset',
                                                 'truncation_bootstraps_next_row', 'bootstraps_terminal'),
}


def get_td_error(value_estimates, rewards, batch_size):
    v_t = F.pad(value_estimates.detach().view(batch_size, -1), (0, 1))
    return (rewards.view(batch_size, -1) + v_t[:, 1:] - v_t[:, :-1]).view(-1)


def get_gae(value_estimates, rewards, batch_size):
    lam = 0.9
    gae = get_td_error(value_estimates, rewards, batch_size).view(batch_size, -1)
    for t in range(gae.shape[1] - 2, -1, -1):
        gae[:, t] += lam * gae[:, t + 1]
    return gae.view(-1)


class Implementation(PPO):
    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
        N = len(states) // self.num_steps
        with torch.no_grad():
            values = self.compute_values(states)
        gae = get_gae(values, rewards.float(), N)
        return gae, gae + values
