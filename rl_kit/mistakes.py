"""The known mistakes, put into words (shipped to students): each id once, with what the
mistake looks like and its fix. The instructor's instructor/ppo_mistakes.py implements each
one, some in several variants ('normalized_advantages:ddof0' is the id 'normalized_advantages'
with numpy's population std); the outputs of each on the fixed cases are stored in
expected.json, so that a report can name a mistake without any solution at hand. The probes'
readings (rl_kit/reading.py) name the same ids where a behaviour they read is one of them."""

from rl_kit.harness import Mistake


def _entries(*entries):
    return {id_: Mistake(id_, title, fix) for id_, title, fix in entries}


# the mistakes of compute_advantages()
GAE_MISTAKES = _entries(
    ('across_envs', 'GAE runs across environment boundaries',
     'rows i*T .. (i+1)*T-1 belong to environment i: start the backward sum afresh (a_T = 0) at the end of '
     'every segment.'),
    ('ignores_terminations', 'terminations are ignored',
     'after a termination the episode is over: v(s_{t+1}) counts as 0 and the backward sum must not carry over '
     'from the next episode.'),
    ('bootstraps_terminal', 'v(s_{t+1}) is used after a termination',
     'a terminal state has no future: multiply γ * v(s_{t+1}) by (1 - termination).'),
    ('carries_over_terminations', 'the backward sum carries over terminations',
     'a_t must not include the next episode: reset the running advantage when the episode terminated at step t.'),
    ('ignores_truncations', 'truncations are ignored',
     'a truncation (time limit) also ends the episode: stop the backward sum there (but keep γ * v(s_{t+1}) '
     'in δ_t).'),
    ('truncation_as_termination', 'a truncation is treated like a termination',
     'a time limit does not make the state terminal: keep γ * v(s_{t+1}) in δ_t after a truncation, only stop '
     'the backward sum.'),
    ('truncation_bootstraps_current', 'a truncated step is bootstrapped from v(s_t) instead of v(s_{t+1})',
     'after a truncation, next_states[t] is the last state of the episode: δ_t = r_{t+1} + γ * v(s_{t+1}) - '
     'v(s_t) with that state.'),
    ('truncation_zeroed', "a truncated step's advantage is set to 0",
     'a truncated step still has δ_t = r_{t+1} + γ * v(s_{t+1}) - v(s_t) (next_states[t] is the last state of '
     'the episode): only the backward sum stops there.'),
    ('truncation_bootstraps_next_row', "a truncated step is bootstrapped from the next row's state",
     'after a truncation the next row starts a new episode: bootstrap δ_t from v(next_states[t]), the last state '
     'of the episode, not from states[t+1].'),
    ('no_reset', 'the backward sum is not reset at episode ends',
     'at a termination or truncation the next row starts a new episode: set the running advantage to 0 there.'),
    ('no_lambda', 'λ is missing', 'the backward sum decays by γλ per step, not by γ.'),
    ('decay', 'the backward sum decays by the wrong factor',
     'a_t = δ_t + γλ * a_{t+1}: multiply the running advantage by γλ, once per step.'),
    ('no_gamma_in_sum', 'γ is missing in the backward sum', 'the backward sum decays by γλ per step, not by λ.'),
    ('no_gamma_in_delta', 'γ is missing in δ_t', 'δ_t = r_{t+1} + γ * v(s_{t+1}) - v(s_t).'),
    ('not_reversed', 'the advantages are in reverse order',
     'iterating backwards fills the list from the last step: reverse it afterwards (or write into index t).'),
    ('forward_sum', 'the sum runs forwards in time',
     'a_t sums the deltas of the steps AFTER t: iterate t = T-1, ..., 0.'),
    ('wrong_sign', 'the sign of δ_t is flipped', 'δ_t = r_{t+1} + γ * v(s_{t+1}) - v(s_t).'),
    ('no_segment_bootstrap', 'the last step of a segment is treated as terminal',
     'the rollout stops there, not the episode: bootstrap δ_{T-1} from v(next_state) unless the episode '
     'terminated.'),
    ('skips_last_step', 'the last step of each segment is skipped',
     'the loop must visit t = T-1 too: range(T - 1, -1, -1) or reversed(range(T)).'),
    ('stored_late', 'each step gets the advantage of the step after it',
     'the running advantage is stored before it is updated: update it first (gae = δ_t + γλ * gae), then store '
     'it (advantages[t] = gae).'),
    ('skips_first_step', 'the first step of each segment is skipped',
     'the loop must visit t = 0 too: range(T - 1, -1, -1) stops after 0, range(T - 1, 0, -1) before it.'),
    ('normalized_in_gae', 'the advantages are normalised inside compute_advantages',
     'return the advantages as GAE gives them; normalising them (zero mean, unit variance) belongs to the '
     'training loop, which does it per minibatch.'),
    ('target_without_value', 'critic_targets are missing + v(s_t)',
     'v_target = a(s_t, a_t) + v(s_t): add the values of the states to the advantages.'),
    ('target_td', 'critic_targets are the one-step TD targets',
     'v_target = a(s_t, a_t) + v(s_t), which uses the whole GAE, not r + γ * v(s_{t+1}).'),
    ('target_returns', 'critic_targets are the discounted rewards-to-go',
     'v_target = a(s_t, a_t) + v(s_t): the GAE-based target, which bootstraps from the critic at the end of the '
     'segment, not the sum of the remaining rewards.'),
)
# the mistakes of compute_loss()
LOSS_MISTAKES = _entries(
    ('max_not_min', 'max instead of min in L^clip',
     'PPO takes the pessimistic (smaller) of the clipped and unclipped objective: torch.min.'),
    ('clipped_advantage', 'the advantage is clipped instead of the ratio',
     'clip r_t(θ) into [1 - ε, 1 + ε], then multiply by the advantage.'),
    ('inverted_ratio', 'the ratio is inverted', 'r_t = π_θ / π_θold = exp(log_probs - log_probs_old).'),
    ('actor_sign', 'the actor loss has the wrong sign', 'L^clip = - mean(min(L1, L2)): minimising it maximises '
     'the objective.'),
    ('log_ratio', 'the ratio is computed from log-probabilities directly',
     'log_probs are logarithms: r_t = exp(log_probs - log_probs_old), not log_probs / log_probs_old.'),
    ('ratio_without_exp', 'the ratio is missing exp()',
     'log_probs - log_probs_old is log r_t: take exp() of it to get the ratio r_t.'),
    ('no_clipping', 'the ratio is not clipped', 'L^clip = - mean(min(r * a, clip(r, 1 - ε, 1 + ε) * a)).'),
    ('clip_bounds', 'the clip range is not [1 - ε, 1 + ε]',
     'clip the ratio into [1 - ε, 1 + ε], with ε = self.epsilon and no other bound.'),
    ('dual_clip', 'the loss of a negative advantage stops growing at a large ratio (a dual clip)',
     'the exercise\'s L^clip = - mean(min(r * a, clip(r) * a)) has no second clip: for a < 0 and a large r the '
     'unclipped term r * a is the minimum.'),
    ('only_clipped', 'only the clipped term is used',
     'take the minimum of the unclipped term r * a and the clipped term clip(r) * a.'),
    ('ratio_one', 'the ratio is always 1',
     'log_probs_old is given: compare the current log-probabilities to it, do not recompute it.'),
    ('min_of_means', 'min is taken after averaging',
     'take the minimum per transition, then the mean: mean(min(L1, L2)), not min(mean(L1), mean(L2)).'),
    ('actor_sum', 'the actor loss is a sum, not a mean', 'average over the batch with .mean().'),
    ('actor_extra_term', 'the actor loss has a term that does not depend on the advantages',
     'compute_loss returns L^clip = - mean(min(L1, L2)) alone: an entropy bonus or a KL penalty is added by the '
     'training loop, not by compute_loss.'),
    ('actor_uses_critic_error', 'the actor loss uses critic_targets - v(s_t) instead of the advantages',
     'use the advantages compute_loss is given (GAE, computed once from the rollout): critic_targets - v(s_t) '
     'with the current critic is another estimate, which changes as the critic learns and lets the actor loss '
     'train the critic.'),
    ('actor_factor', 'the actor loss has a constant factor', 'L^clip = - mean(min(L1, L2)), without a factor.'),
    ('normalized_advantages', 'the advantages are normalised inside compute_loss',
     'compute_loss must use the advantages as given; normalising them (zero mean, unit variance) belongs to the '
     'training loop, which does it per minibatch.'),
    ('critic_half', 'the critic loss has a factor 1/2', 'L_VF = mean((v_target - v(s_t))^2), without 1/2.'),
    ('critic_abs', 'the critic loss is not squared', 'L_VF = mean((v_target - v(s_t))^2).'),
    ('critic_huber', 'the critic loss is a smooth-L1 (Huber) loss',
     'L_VF = mean((v_target - v(s_t))^2): a plain squared error, not F.smooth_l1_loss.'),
    ('critic_clipped', 'the critic loss is clipped around the old values',
     'this exercise uses the plain L_VF = mean((v_target - v(s_t))^2), without the value clipping some PPO '
     'implementations add.'),
    ('critic_sum', 'the critic loss is a sum, not a mean', 'average over the batch with .mean().'),
    ('critic_factor', 'the critic loss has a constant factor',
     'L_VF = mean((v_target - v(s_t))^2), without a factor: the training loop weights the critic loss itself.'),
    ('critic_capped', 'the critic loss of a transition is capped',
     'L_VF = mean((v_target - v(s_t))^2): a large error counts in full.'),
    ('critic_uses_advantages', 'the critic is fitted to the advantages',
     'the critic target is critic_targets (= a + v(s_t)), not advantages.'),
)

# A mistake made of two others: named instead of them where both show (one bug, one name).
PARTS = {'ignores_terminations': ('bootstraps_terminal', 'carries_over_terminations'),
         'no_reset': ('carries_over_terminations', 'ignores_truncations')}
GAE_MISTAKES.update({id_: Mistake(id_, GAE_MISTAKES[id_].title, GAE_MISTAKES[id_].fix, parts)
                     for id_, parts in PARTS.items()})

MISTAKES = {**GAE_MISTAKES, **LOSS_MISTAKES}  # id: Mistake


# Variants of a mistake beyond its plain form: the same id, another way people write it
# (instructor/ppo_mistakes.py implements each; 'id:variant' is its key).
VARIANTS = {
    'normalized_in_gae': ('ddof0',),                 # numpy's and JAX's default std
    'target_returns': ('bootstrapped',),              # rewards-to-go that bootstrap where the episode goes on
    'truncation_bootstraps_current': ('no_gamma',),   # + v(s_t), without γ
    'normalized_advantages': ('ddof0',),
    'clip_bounds': ('log', 'fixed'),                  # [e^-ε, e^ε]; ε written as 0.2 instead of self.epsilon
}


def keys(function):
    """The keys of every variant of the mistakes made in `function`: 'id' and 'id:variant'."""
    return tuple(key for id_ in ids(function) for key in (id_,) + tuple(f'{id_}:{v}' for v in VARIANTS.get(id_, ())))


def ids(function):
    """The ids of the mistakes made in `function` ('compute_advantages' or 'compute_loss'), in order."""
    return tuple(GAE_MISTAKES if function == 'compute_advantages' else LOSS_MISTAKES)


def base(key):
    """The mistake id of a variant's key: 'normalized_advantages:ddof0' -> 'normalized_advantages'."""
    return key.split(':', 1)[0]


def of(key):
    """The Mistake of an id or a variant's key."""
    return MISTAKES[base(key)]
