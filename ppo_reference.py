"""Reference PPO for LunarLander: the algorithm, the trainer and the command line.

This file is the one source of truth for the solution. The completed notebook's
code cells are copied from the regions between `# %% notebook:` markers, and the
student notebook is generated from the completed one with the solutions taken out
(both by tools/build.py).

Command line (`python ppo_reference.py --help`):
    python ppo_reference.py                  # train until solved, evaluate, save
    python ppo_reference.py --load runs/X/policy.pt   # evaluate a checkpoint
"""

import argparse
import bisect
import copy
import dataclasses
import json
import multiprocessing
import os
import signal
import sys
import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn, optim

# %% notebook: helpers
def select_at_index(x, indices):
    # Extracts the elements from x at the specified indices, i.e.,
    # result[i] = x[i, indices[i]] for all i.
    # - x has shape (batch_size, d)
    # - indices has shape (batch_size)
    # - the result has shape (batch_size)
    return x.gather(-1, indices.unsqueeze(-1)).squeeze(-1)


def sample_categorical(probs):
    # Samples from a categorical distribution (e.g. with probabilities computed with softmax).
    # - probs has shape (batch_size, d)
    # - the result has shape (batch_size)
    return torch.multinomial(probs, 1, replacement=True).squeeze(1)


def check_tensors(function, expected_batch, **tensors):
    # Raises a ValueError naming the argument if one of `tensors` is not a torch.Tensor
    # whose first dimension is `expected_batch`, so that a mistake in the calling code
    # is reported where it happens and not as a shape error deep inside the math.
    for name, x in tensors.items():
        if not isinstance(x, torch.Tensor):
            raise ValueError(f'{function}: {name} must be a torch.Tensor, got {type(x).__name__}')
        if x.dim() == 0 or x.shape[0] != expected_batch:
            shapes = ', '.join(f'{n}={tuple(t.shape)}' for n, t in tensors.items() if isinstance(t, torch.Tensor))
            raise ValueError(f'{function}: {name} has shape {tuple(x.shape)}, but its first dimension must be '
                             f'the batch size {expected_batch} (shapes: {shapes})')


def check_rollout(num_steps, states, rewards, next_states, terminations, truncations):
    # The checks compute_advantages() relies on: N * T transitions, flat per-transition
    # signals, boolean episode ends, and a batch that splits into segments of T steps.
    check_tensors('compute_advantages', len(states), states=states, rewards=rewards,
                  next_states=next_states, terminations=terminations, truncations=truncations)
    if states.dim() != 2 or next_states.shape != states.shape:
        raise ValueError(f'compute_advantages: states and next_states must both have shape (N * T, state_dim), '
                         f'got {tuple(states.shape)} and {tuple(next_states.shape)}')
    for name, x in (('rewards', rewards), ('terminations', terminations), ('truncations', truncations)):
        if x.dim() != 1:
            raise ValueError(f'compute_advantages: {name} must have shape (N * T,) = ({len(states)},), '
                             f'got {tuple(x.shape)}')
    if not rewards.is_floating_point():
        raise ValueError(f'compute_advantages: rewards must be a float tensor, got dtype {rewards.dtype}')
    for name, x in (('terminations', terminations), ('truncations', truncations)):
        if x.dtype != torch.bool:
            raise ValueError(f'compute_advantages: {name} must be a boolean tensor, got dtype {x.dtype} '
                             f'(use e.g. torch.as_tensor(flags, dtype=torch.bool))')
    if len(states) == 0 or len(states) % num_steps != 0:
        raise ValueError(f'compute_advantages: the batch of {len(states)} transitions is not N segments of '
                         f'num_steps = {num_steps} transitions each')
# %% end


# %% notebook: ppo
class PPO(nn.Module):

    def __init__(self, state_dim, num_actions, gamma, lmbda, epsilon, num_steps):
        super().__init__()
        self.gamma = gamma  # discount factor
        self.lmbda = lmbda
        self.epsilon = epsilon
        self.num_steps = num_steps

        # actor network
        self.actor = nn.Sequential(
            nn.Linear(state_dim, 128),
            nn.ReLU(),
            nn.Linear(128, 128),
            nn.ReLU(),
            nn.Linear(128, num_actions)
        )

        # critic network
        self.critic = nn.Sequential(
            nn.Linear(state_dim, 128),
            nn.ReLU(),
            nn.Linear(128, 128),
            nn.ReLU(),
            nn.Linear(128, 1)
        )

    def select_actions(self, states):
        # states has shape (batch_size, state_dim)
        # compute the scores for the given states
        scores = self.actor(states)
        # scores has shape (batch_size, num_actions)

        probs = torch.softmax(scores, dim=1)
        actions = sample_categorical(probs)
        return actions

    def compute_log_probs(self, states, actions):
        # states has shape (batch_size, state_dim)
        # actions has shape (batch_size)
        # compute the scores for the given states
        scores = self.actor(states)
        # scores has shape (batch_size, num_actions)

        logit_at_action = select_at_index(scores, actions)
        log_sum_exp = torch.logsumexp(scores, dim=1)
        log_probs = logit_at_action - log_sum_exp

        return log_probs

    def compute_values(self, states):
        # states has shape (batch_size, state_dim)
        # compute values for the batch of states using the critic network
        values = self.critic(states).squeeze(-1)
        # values has shape (batch_size)
        return values

    def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):

        # for every of the N environments 0, ..., N-1, we collected T transitions
        # state/next_state has shape (N * T, state_dim)
        # rewards, terminations and truncations have shape (N * T)
        # the states for environment i are saved in states[i*T:(i+1)*T, :]
        # the rewards for environment i are saved in rewards[i*T:(i+1)*T]
        # etc...
        # terminations[k] is True if the episode ended in next_states[k] (landed or crashed),
        # truncations[k] is True if it was cut off by the time limit; then next_states[k]
        # is the last state of that episode and the next transition starts a new one.

        if truncations is None:  # no time limits: nothing was truncated
            truncations = torch.zeros_like(terminations)
        check_rollout(self.num_steps, states, rewards, next_states, terminations, truncations)

        gamma = self.gamma  # discount factor
        lmbda = self.lmbda  # for generalized advantage estimation
        T = self.num_steps  # number of transitions per environment
        num_states = states.size()[0]         # has size N * T

        ##############################################################################
        # TODO Compute the advantages (GAE) and critic targets as described above.   #
        # advantages and critic_targets should be torch.Tensors in the end.          #
        # Hint: Iterate backwards for computing the advantages.                      #
        # Remember to potentially reverse the advantage list afterwards.             #
        # Don't forget to take care of the termination signals.                      #
        # A truncation ends the episode too, but its next state still has a value.   #
        # Be careful that some transitions can come from different environments.     #
        ##############################################################################
        ### BEGIN SOLUTION
        N = num_states // T
        with torch.no_grad():
            values = self.compute_values(states).reshape(N, T)
            next_values = self.compute_values(next_states).reshape(N, T)
        rewards = rewards.to(values.dtype).reshape(N, T)
        # after a termination the future is worth 0; after a truncation it is worth V(s_{t+1})
        bootstrap = (~terminations).reshape(N, T).to(values.dtype)
        # the backward sum stops at any episode end (a new episode follows in the same row)
        episode_continues = (~(terminations | truncations)).reshape(N, T).to(values.dtype)

        # delta_t = r_{t+1} + gamma * v(s_{t+1}) - v(s_t), shape (N, T)
        deltas = rewards + gamma * bootstrap * next_values - values

        # a_t = delta_t + gamma * lmbda * a_{t+1}, backwards in time for all N environments at once;
        # a_{T} = 0 at the end of every segment, so nothing flows between environments
        advantages = torch.zeros_like(deltas)  # shape (N, T)
        next_advantage = torch.zeros(N, dtype=deltas.dtype)  # shape (N)
        for t in reversed(range(T)):
            next_advantage = deltas[:, t] + gamma * lmbda * episode_continues[:, t] * next_advantage
            advantages[:, t] = next_advantage

        critic_targets = advantages + values  # v_target = a + v(s_t), shape (N, T)
        advantages = advantages.reshape(num_states)
        critic_targets = critic_targets.reshape(num_states)
        ### END SOLUTION

        return advantages.detach(), critic_targets.detach()

    def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
        # states has shape (batch_size, state_dim)
        # actions, advantages, critic_targets, and log_probs_old have shape (batch_size)
        # log_probs_old are given by \pi_\theta_old(a_t | s_t)
        check_tensors('compute_loss', len(states), states=states, actions=actions, advantages=advantages,
                      critic_targets=critic_targets, log_probs_old=log_probs_old)

        epsilon = self.epsilon

        #########################################################################
        # TODO Compute the loss for the actor (L^clip) and the critic (L_VF) as #
        # described above. The expectations are approximated by taking the      #
        # average over the batch (i.e., use `x.mean()`).                        #
        # Hint: you can use torch.clamp() for clipping values                   #
        #########################################################################
        ### BEGIN SOLUTION
        log_probs = self.compute_log_probs(states, actions)  # shape (batch_size)
        # r_t = pi_theta / pi_theta_old, computed in log space for stability
        ratios = torch.exp(log_probs - log_probs_old)
        l1 = ratios * advantages
        l2 = torch.clamp(ratios, 1 - epsilon, 1 + epsilon) * advantages
        actor_loss = -torch.min(l1, l2).mean()

        values = self.compute_values(states)  # shape (batch_size)
        critic_loss = ((critic_targets.detach() - values) ** 2).mean()  # sg(v_target)
        ### END SOLUTION

        # return both losses
        return actor_loss, critic_loss
# %% end


# %% notebook: hyperparameters
@dataclass
class Config:
    # Every hyperparameter of the trainer, in one place. The values are the result of a
    # sweep on this task (README: "Hyperparameters").
    env_id: str = 'LunarLander-v3'
    seed: int = 0
    total_steps: int = 1_000_000   # budget of environment steps; training stops earlier once it lands
    num_envs: int = 16             # N environments stepped together
    num_steps: int = 128           # T steps per environment and rollout: N * T transitions per update
    gamma: float = 0.999           # discount factor: a landing pays off hundreds of steps later
    lmbda: float = 0.98            # GAE lambda
    epsilon: float = 0.2           # PPO clip range (at the start, see anneal_epsilon)
    update_epochs: int = 4         # K passes over each rollout
    minibatch_size: int = 128      # transitions per gradient step
    learning_rate: float = 1.5e-3  # Adam's step size (at the start, see anneal_lr)
    anneal_lr: bool = True         # decay the learning rate linearly over anneal_steps ...
    anneal_epsilon: bool = True    # ... and the clip range too (as in the PPO paper's Atari runs)
    anneal_steps: int = 400_000    # the horizon of both decays; after it they stay at their floor
    anneal_floor: float = 0.1      # the fraction of the start value they never go below (never 0)
    critic_coef: float = 0.5       # weight of L_VF in the total loss
    entropy_coef: float = 0.005    # bonus for a less certain policy: keeps exploring early on
    max_grad_norm: float = 0.5     # clip the global gradient norm of each step
    normalize_advantages: bool = True  # per minibatch: zero mean, unit variance
    solve_threshold: float = 200.0     # solved: mean return of the last `solve_window` training episodes
    solve_window: int = 100
    check_from: float = 50.0       # once the training mean reaches this, every check_interval env steps ...
    check_interval: int = 8192     # ... the GREEDY policy plays check_episodes episodes on fresh seeds;
    check_episodes: int = 20       # landed (and training stops) when their mean reaches
    check_margin: float = 20.0     # solve_threshold + check_margin
    torch_threads: int = 1         # small networks: one thread is fastest and makes runs repeatable
    background_checks: bool = True  # the checks run in a second process, beside training, on the second
                                    # core: the same checks and the same stop as inline, in less time

    def __post_init__(self):
        # the values a schedule or the stopping rule cannot work with, named with the fix
        if not 0 < self.anneal_floor <= 1:
            raise ValueError(f'Config: anneal_floor must be in (0, 1], the fraction of the learning rate and clip '
                             f'range kept at the end, got {self.anneal_floor} (0 would stop learning: use e.g. 0.1)')
        for name in ('total_steps', 'anneal_steps', 'check_interval', 'check_episodes'):
            if getattr(self, name) < 1:
                raise ValueError(f'Config: {name} must be a positive whole number, got {getattr(self, name)}')

    @property
    def batch_size(self):
        return self.num_envs * self.num_steps

    def schedule(self, env_steps):
        # the factor applied to the learning rate and the clip range after env_steps steps:
        # 1 at the start, linearly down to anneal_floor at anneal_steps, then constant
        return max(self.anneal_floor, 1 - env_steps / self.anneal_steps)
# %% end


# %% notebook: environments
def make_envs(env_id, num_envs):
    # N copies of the environment, stepped together. SAME_STEP autoreset: when an episode
    # ends (terminated or truncated), the env is reset within the same step, the returned
    # observation is the first of the new episode, and the last one of the old episode is
    # in info['final_obs'].
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode='sync',
                        vector_kwargs={'autoreset_mode': gym.vector.AutoresetMode.SAME_STEP})


class EpisodeTracker:
    # Sums the rewards of every running episode and records each finished episode's return.
    def __init__(self, num_envs):
        self.running_returns = np.zeros(num_envs)
        self.returns = []     # return of every finished episode, in order
        self.end_steps = []   # total environment steps when that episode ended

    def update(self, rewards, dones, env_steps):
        self.running_returns += rewards
        for i in np.flatnonzero(dones):
            self.returns.append(float(self.running_returns[i]))
            self.end_steps.append(env_steps)
            self.running_returns[i] = 0.0

    def mean_return(self, window):
        return float(np.mean(self.returns[-window:])) if self.returns else float('nan')

    def truncate(self, env_steps):
        # forgets the episodes that ended after env_steps
        del self.returns[bisect.bisect_right(self.end_steps, env_steps):]
        del self.end_steps[len(self.returns):]
# %% end


# %% notebook: rollout
@dataclass
class Rollout:
    # What one rollout collected, flattened env-major: rows i*T .. (i+1)*T-1 belong to
    # environment i, the order compute_advantages expects.
    states: torch.Tensor        # shape (N * T, state_dim)
    actions: torch.Tensor       # shape (N * T), integers
    rewards: torch.Tensor       # shape (N * T)
    next_states: torch.Tensor   # shape (N * T, state_dim); the final observation where an episode ended
    terminations: torch.Tensor  # shape (N * T), bool: the episode ended in a terminal state
    truncations: torch.Tensor   # shape (N * T), bool: the episode was cut off by the time limit


def collect_rollout(envs, ac, states_now, num_steps, tracker, env_steps):
    # Runs the current policy (pi_theta_old) for T steps in all N environments.
    # states_now has shape (N, state_dim): the state every environment is in.
    # Storage is time-major, shape (T, N, ...), and is flattened env-major into a Rollout.
    N, state_dim = states_now.shape
    states = torch.zeros(num_steps, N, state_dim)
    actions = torch.zeros(num_steps, N, dtype=torch.long)
    rewards = torch.zeros(num_steps, N)
    next_states = torch.zeros(num_steps, N, state_dim)
    terminations = torch.zeros(num_steps, N, dtype=torch.bool)
    truncations = torch.zeros(num_steps, N, dtype=torch.bool)

    for t in range(num_steps):
        with torch.no_grad():
            action = ac.select_actions(states_now)  # shape (N)
        observations, reward, terminated, truncated, info = envs.step(action.numpy())

        states[t] = states_now
        actions[t] = action
        rewards[t] = torch.from_numpy(reward)
        terminations[t] = torch.from_numpy(terminated)
        truncations[t] = torch.from_numpy(truncated)
        # a finished env was already reset: its next state is the final observation of the
        # episode, which a truncated episode is bootstrapped from
        next_states[t] = torch.from_numpy(observations)
        if '_final_obs' in info:
            for i in np.flatnonzero(info['_final_obs']):
                next_states[t, i] = torch.from_numpy(info['final_obs'][i])

        env_steps += N
        tracker.update(reward, terminated | truncated, env_steps)
        states_now = torch.from_numpy(observations)

    def env_major(x):  # (T, N, ...) -> (N * T, ...)
        return x.transpose(0, 1).reshape(N * num_steps, *x.shape[2:])

    rollout = Rollout(states=env_major(states), actions=env_major(actions), rewards=env_major(rewards),
                      next_states=env_major(next_states), terminations=env_major(terminations),
                      truncations=env_major(truncations))
    return rollout, states_now, env_steps
# %% end


# %% notebook: update
@dataclass
class UpdateStats:
    # Diagnostics of one ppo_update(), for the progress display
    actor_loss: float     # of the last minibatch
    critic_loss: float    # of the last minibatch
    entropy: float        # of the policy on the last minibatch, in nats (log 4 = 1.39 is uniform)
    clip_fraction: float  # share of the rollout whose ratio the K epochs moved beyond 1 ± epsilon
    approx_kl: float      # how far the K epochs moved the policy (k3 estimator of KL(old || new))


def make_optimizer(ac, config):
    # Adam. fused=True updates all parameters in one kernel: with the default step, one
    # parameter at a time, the whole update is 1.18x slower (benchmarks/profile_trainer.py).
    return optim.Adam(ac.parameters(), lr=config.learning_rate, eps=1e-5, fused=True)


class ActorScores:
    # `with ActorScores(ac.actor, states) as scores:` keeps, in scores.value, the scores the
    # actor computes for exactly these states with gradients (through a forward hook), so
    # that the entropy bonus reuses the forward pass compute_loss makes. None if it made none.
    def __init__(self, actor, states):
        self.actor, self.states, self.value = actor, states, None

    def __enter__(self):
        # only an nn.Module has hooks: for an actor that is some other callable, nothing is
        # kept and the update runs the actor itself
        is_module = isinstance(self.actor, nn.Module)
        self.handle = self.actor.register_forward_hook(self._keep) if is_module else None
        return self

    def _keep(self, module, inputs, output):
        if inputs[0] is self.states and output.requires_grad:
            self.value = output

    def __exit__(self, *exc_info):
        if self.handle is not None:
            self.handle.remove()


def policy_entropy(scores):
    # H(pi(.|s)) = -sum_a pi(a|s) log pi(a|s) from the actor's scores, shape (batch_size,
    # num_actions) -> (batch_size). The same operations as
    # torch.distributions.Categorical(logits=scores).entropy(), with the same result to the
    # last bit (tests/test_training.py), but 1.9x faster forward and backward: Categorical
    # also validates its argument and builds a distribution object at every minibatch.
    log_probs = scores - scores.logsumexp(dim=-1, keepdim=True)  # log pi(a|s)
    probs = torch.softmax(log_probs, dim=-1)                      # pi(a|s)
    # a score of -inf gives log pi = -inf and 0 * -inf = nan: clamped, it contributes 0
    log_probs = log_probs.clamp(min=torch.finfo(log_probs.dtype).min)
    return -(probs * log_probs).sum(dim=-1)


def ppo_update(ac, optimizer, rollout, config, generator=None):
    # K epochs of minibatch gradient steps on one Rollout. Returns UpdateStats.
    states, actions = rollout.states, rollout.actions

    # pi_theta_old: taken ONCE, before any update. (The seed recomputed it after every
    # update, so the ratio was always 1 and clipping never acted.)
    with torch.no_grad():
        log_probs_old = ac.compute_log_probs(states, actions)  # shape (N * T)
    advantages, critic_targets = ac.compute_advantages(
        states, rollout.rewards, rollout.next_states, rollout.terminations, rollout.truncations)

    batch_size = len(states)
    for _ in range(config.update_epochs):
        order = torch.randperm(batch_size, generator=generator)
        for start in range(0, batch_size, config.minibatch_size):
            index = order[start:start + config.minibatch_size]
            minibatch_states = states[index]
            minibatch_advantages = advantages[index]
            if config.normalize_advantages and len(index) > 1:  # the std of one number is NaN
                minibatch_advantages = ((minibatch_advantages - minibatch_advantages.mean())
                                        / (minibatch_advantages.std() + 1e-8))
            with ActorScores(ac.actor, minibatch_states) as scores:
                actor_loss, critic_loss = ac.compute_loss(minibatch_states, actions[index], minibatch_advantages,
                                                          critic_targets[index], log_probs_old[index])
            # H(pi(.|s)), averaged over the minibatch, from the scores compute_loss computed: a
            # second forward and backward pass through the actor makes the update 1.18x slower
            # (benchmarks/profile_trainer.py). Only if compute_loss did not run the actor on
            # these states, run it here.
            logits = scores.value if scores.value is not None else ac.actor(minibatch_states)
            entropy = policy_entropy(logits).mean()
            loss = actor_loss + config.critic_coef * critic_loss - config.entropy_coef * entropy

            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(ac.parameters(), config.max_grad_norm)
            optimizer.step()

    # how far the K epochs moved the policy: with the seed's bug the clip fraction stays 0
    with torch.no_grad():
        log_ratios = ac.compute_log_probs(states, actions) - log_probs_old
        ratios = log_ratios.exp()
        clip_fraction = ((ratios - 1).abs() > ac.epsilon).float().mean().item()
        approx_kl = ((ratios - 1) - log_ratios).mean().item()
    return UpdateStats(actor_loss=actor_loss.item(), critic_loss=critic_loss.item(), entropy=entropy.item(),
                       clip_fraction=clip_fraction, approx_kl=approx_kl)
# %% end


# %% notebook: train
def greedy_actions(ac, states):
    # the most likely action of the policy, shape (batch_size); no sampling
    with torch.no_grad():
        return ac.actor(states).argmax(dim=1)


def evaluate(ac, env_id='LunarLander-v3', episodes=100, first_seed=10_000, act=greedy_actions):
    # Returns of `episodes` greedy episodes, each on its own fresh seed, which no training
    # environment used. All episodes run side by side, so the policy is called on a batch;
    # act(ac, states) gives the actions, shape (batch_size).
    envs = [gym.make(env_id) for _ in range(episodes)]
    observations = [env.reset(seed=first_seed + i)[0] for i, env in enumerate(envs)]
    returns = np.zeros(episodes)
    running = list(range(episodes))  # the episodes that have not ended yet
    while running:
        actions = act(ac, torch.as_tensor(np.array([observations[i] for i in running])))
        still_running = []
        for i, action in zip(running, actions.tolist()):
            observations[i], reward, terminated, truncated, _ = envs[i].step(action)
            returns[i] += reward
            if not (terminated or truncated):
                still_running.append(i)
        running = still_running
    for env in envs:
        env.close()
    return returns


@dataclass
class LandingCheck:
    # One check of the greedy policy during training, on seeds no other check or the
    # final evaluation uses.
    env_steps: int     # training steps when the check ran
    first_seed: int    # the episodes ran on first_seed, first_seed + 1, ...
    returns: list      # return of every greedy episode
    required: float    # the mean it had to reach
    seconds: float = 0.0  # how long the episodes took to play

    @property
    def mean(self):
        return float(np.mean(self.returns))

    @property
    def passed(self):
        return self.mean >= self.required


@dataclass
class TrainStats:
    # What the callback of train() receives after every update.
    env_steps: int
    total_steps: int
    elapsed: float                 # seconds since training started
    episode_returns: list          # return of every finished training episode
    episode_end_steps: list        # env steps at the end of each of them
    mean_return: float             # of the last solve_window episodes (NaN before the first one ends)
    solve_window: int
    solve_threshold: float
    solved_at: int | None          # env steps when the training mean first reached solve_threshold
    landed_at: int | None          # env steps when a greedy check passed: training stops there
    checks: list                   # every LandingCheck so far
    learning_rate: float           # used for this update
    epsilon: float                 # clip range used for this update
    update: UpdateStats
    ac: PPO                        # the agent as it is now (e.g. to save or evaluate it)

    @property
    def episodes(self):
        return len(self.episode_returns)

    @property
    def steps_per_second(self):
        return self.env_steps / self.elapsed if self.elapsed > 0 else float('nan')


@dataclass
class TrainResult:
    ac: PPO
    config: Config
    env_steps: int
    train_seconds: float           # including the checks
    check_seconds: float           # the greedy checks' own time: part of train_seconds when they ran
                                   # inline, beside it (on the second core) when they ran in the background
    episode_returns: list          # return of every training episode
    episode_end_steps: list        # env steps at the end of each episode
    solved_at: int | None          # criterion 1: the training mean of the last solve_window episodes
                                   # first reached solve_threshold (the sampled policy scores); None if
                                   # the run stopped before that
    landed_at: int | None          # criterion 2: a greedy check passed (the greedy policy lands); the stop
    checks: list                   # every LandingCheck, in order
    interrupted: bool              # stopped by the user (Ctrl-C / the stop button)
    checks_in_background: bool = False  # the checks ran in a second process (see BackgroundChecks)

    @property
    def solved(self):
        return self.solved_at is not None

    @property
    def landed(self):
        return self.landed_at is not None

    def status(self):
        return 'landed' if self.landed else 'interrupted' if self.interrupted else 'NOT landed'

    def summary(self):
        # one line: how the run ended and when each criterion was met
        def at(steps):
            return f'at {steps:,} steps' if steps is not None else 'never'
        last = f', last check {self.checks[-1].mean:.1f}' if self.checks else ''
        return (f'{self.status()} after {self.env_steps:,} environment steps, {len(self.episode_returns):,} '
                f'episodes, {self.train_seconds:.0f} s | training mean >= {self.config.solve_threshold:g}: '
                f'{at(self.solved_at)} | greedy check: {at(self.landed_at)} ({len(self.checks)} checks{last})')


CHECK_FIRST_SEED = 1_000_000  # the checks' seeds; the final evaluation uses 10_000, 10_001, ...


def training_mean_reached(returns, config, threshold):
    # the mean return of the last solve_window training episodes is at least threshold
    # (never before solve_window episodes have ended)
    return len(returns) >= config.solve_window and float(np.mean(returns[-config.solve_window:])) >= threshold


def check_due(returns, last_check_at, env_steps, config):
    # the stopping rule's schedule: once the training mean reaches check_from, a greedy
    # check every check_interval environment steps; last_check_at: when the last one began
    return (training_mean_reached(returns, config, config.check_from)
            and (last_check_at is None or env_steps - last_check_at >= config.check_interval))


def landing_check(ac, config, env_steps, number, act=greedy_actions):
    # The greedy policy on check_episodes fresh seeds; check `number` uses its own seeds.
    start = time.perf_counter()
    first_seed = CHECK_FIRST_SEED + number * config.check_episodes
    returns = evaluate(ac, config.env_id, episodes=config.check_episodes, first_seed=first_seed, act=act)
    return LandingCheck(env_steps=env_steps, first_seed=first_seed, returns=returns.tolist(),
                        required=config.solve_threshold + config.check_margin, seconds=time.perf_counter() - start)


def train(config, callback=None):
    # Trains PPO until the greedy policy lands, or until `total_steps` environment steps are
    # used up. Landing is checked once the training mean of the last `solve_window` episodes
    # has reached `check_from`, then every `check_interval` steps: `check_episodes` greedy
    # episodes on fresh seeds must average at least solve_threshold + check_margin. The
    # greedy policy often lands long before the sampled one reaches a training mean of
    # `solve_threshold` ("solved", reported too, if it happens before the stop).
    # callback(TrainStats) is called after every update, e.g. for a progress bar.
    torch.set_num_threads(config.torch_threads)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)

    envs = make_envs(config.env_id, config.num_envs)
    state_dim = int(envs.single_observation_space.shape[0])
    num_actions = int(envs.single_action_space.n)
    ac = PPO(state_dim, num_actions, config.gamma, config.lmbda, config.epsilon, config.num_steps)
    optimizer = make_optimizer(ac, config)

    observations, _ = envs.reset(seed=config.seed)  # env i is seeded with seed + i
    states_now = torch.from_numpy(observations)
    tracker = EpisodeTracker(config.num_envs)
    env_steps, solved_at, landed_at, interrupted = 0, None, None, False
    checks, background = [], BackgroundChecks(ac, config)
    start = time.perf_counter()

    def stats_now(update):
        return TrainStats(env_steps=env_steps, total_steps=config.total_steps, elapsed=time.perf_counter() - start,
                          episode_returns=tracker.returns, episode_end_steps=tracker.end_steps,
                          mean_return=tracker.mean_return(config.solve_window), solve_window=config.solve_window,
                          solve_threshold=config.solve_threshold, solved_at=solved_at, landed_at=landed_at,
                          checks=checks, learning_rate=optimizer.param_groups[0]['lr'], epsilon=ac.epsilon,
                          update=update, ac=ac)

    def landed(new_checks):
        # records the checks that came back; the env steps of the first that passed, or None
        for check in new_checks:
            checks.append(check)
            if check.passed:
                return check.env_steps
        return None

    try:
        while env_steps < config.total_steps and landed_at is None:
            # never 0 before the budget is used up: a late run can still learn
            optimizer.param_groups[0]['lr'] = config.learning_rate * (
                config.schedule(env_steps) if config.anneal_lr else 1)
            ac.epsilon = config.epsilon * (config.schedule(env_steps) if config.anneal_epsilon else 1)
            rollout, states_now, env_steps = collect_rollout(
                envs, ac, states_now, config.num_steps, tracker, env_steps)
            update = ppo_update(ac, optimizer, rollout, config, generator)

            if solved_at is None and training_mean_reached(tracker.returns, config, config.solve_threshold):
                solved_at = env_steps
            if check_due(tracker.returns, background.last_at, env_steps, config):
                background.start(env_steps)
            landed_at = landed(background.collect(wait=env_steps >= config.total_steps))
            if landed_at is not None and landed_at < env_steps:
                # the check that passed ran beside training: go back to the agent it checked,
                # so that the run ends as it would have with the check inline
                background.go_back_to(landed_at)
                env_steps = landed_at
                tracker.truncate(landed_at)
                solved_at = solved_at if solved_at is not None and solved_at <= landed_at else None
            if callback is not None:
                callback(stats_now(update))
    except KeyboardInterrupt:
        interrupted = True  # keep what has been learned so far
    finally:
        background.close()
        envs.close()
    return TrainResult(ac=ac, config=config, env_steps=env_steps, train_seconds=time.perf_counter() - start,
                       check_seconds=sum(check.seconds for check in checks), episode_returns=list(tracker.returns),
                       episode_end_steps=list(tracker.end_steps), solved_at=solved_at, landed_at=landed_at,
                       checks=list(checks), interrupted=interrupted, checks_in_background=background.in_background)
# %% end


# %% notebook: background
def _play_checks(connection, ac, config):
    # The second process of BackgroundChecks: plays the checks it is sent, in order.
    # Ctrl-C (or the notebook's stop button) reaches the whole process group: here it is
    # ignored, training handles it and ends this process. One torch thread, as PyTorch's
    # DataLoader workers do: a forked child must not reuse the parent's thread pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    while (request := connection.recv()) is not None:
        number, env_steps, actor_weights = request
        ac.actor.load_state_dict({name: torch.from_numpy(w) for name, w in actor_weights.items()})
        connection.send(landing_check(ac, config, env_steps, number))


class BackgroundChecks:
    # The greedy checks, played in a second process while training goes on: on 2 cores they
    # then cost training (almost) no time, where inline they took 17% of it. A check depends
    # only on the weights it is given and its number, so the checks and the stop are the same
    # as inline: the weights of every check are kept until it has failed, and train() goes
    # back to those of the check that passed (the steps trained meanwhile are dropped).
    # The second process is a fork of this one, so it knows the agent's class even where a
    # notebook defined it. Elsewhere than on Linux, on one core, in a daemon process (a
    # multiprocessing pool) or with config.background_checks=False, the checks run inline;
    # if the second process dies or hangs, the checks it had are played inline.
    TIMEOUT = 120.0  # seconds a check may take before the second process counts as hung

    def __init__(self, ac, config):
        self.ac, self.config = ac, config
        # fork is safe on Linux only (Windows has none; on macOS system libraries may break in
        # a forked child); and with a single core the second process would only compete
        self.in_background = (config.background_checks and sys.platform.startswith('linux')
                              and len(os.sched_getaffinity(0)) >= 2)
        self.process = self.connection = None
        self.started = 0    # checks started so far; the next one's number
        self.last_at = None  # env steps when the last check started
        self.pending = []   # the checks being played: (number, env steps, time sent), in order
        self.agents = {}    # env steps -> (the agent's weights, its epsilon) then, for every check not failed
        self.done = []      # the LandingChecks played and not yet collected

    def start(self, env_steps):
        # a check of the agent as it is now
        self.agents[env_steps] = ({name: w.detach().clone() for name, w in self.ac.state_dict().items()},
                                  self.ac.epsilon)
        self.pending.append((self.started, env_steps, time.perf_counter()))
        self.started, self.last_at = self.started + 1, env_steps
        if self.in_background:
            try:
                if self.process is None:
                    self._start_process()
                actor = {name: w.detach().numpy().copy() for name, w in self.ac.actor.state_dict().items()}
                self.connection.send((self.started - 1, env_steps, actor))
                return
            except Exception:  # no second process here (a pool's daemon process may have none),
                self._give_up()    # or the weights would not go through: the same check, inline
        self._play_inline()

    def collect(self, wait=False):
        # the checks played since the last call, in order; wait=True: every check started
        while self.pending and self.in_background:
            sent = self.pending[0][2]
            try:
                if not self.connection.poll(max(0.0, sent + self.TIMEOUT - time.perf_counter()) if wait else 0.0):
                    if time.perf_counter() - sent < self.TIMEOUT:
                        break  # still playing
                    raise TimeoutError(f'a check took more than {self.TIMEOUT:g} s')
                self.done.append(self.connection.recv())
                self.pending.pop(0)
            except (OSError, EOFError, TimeoutError):  # the second process died or hangs
                self._give_up()
                self._play_inline()
        done, self.done = self.done, []
        for check in done:
            if not check.passed:
                del self.agents[check.env_steps]
        return done

    def go_back_to(self, env_steps):
        # makes the agent again what it was when the check at env_steps started
        weights, self.ac.epsilon = self.agents[env_steps]
        self.ac.load_state_dict(weights)

    def _play_inline(self):
        agent = copy.deepcopy(self.ac)
        for number, env_steps, _ in self.pending:
            agent.load_state_dict(self.agents[env_steps][0])
            self.done.append(landing_check(agent, self.config, env_steps, number))
        self.pending = []

    def _start_process(self):
        context = multiprocessing.get_context('fork')
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_play_checks, args=(child, self.ac, self.config), daemon=True)
        self.process.start()
        child.close()

    def _give_up(self):
        # the checks from now on, and those the second process had, are played inline
        self.in_background = False
        self.close()

    def close(self):
        # ends the second process, if there is one
        if self.process is not None:
            try:
                self.connection.send(None)  # ends it once it is idle ...
            except OSError:
                pass
            # ... but a check still playing is not waited for: nobody needs its result
            self.process.join(timeout=0.0 if self.pending else 1.0)
            if self.process.is_alive():
                self.process.kill()
                self.process.join()
            self.connection.close()
            self.process = self.connection = None
# %% end


# %% notebook: evaluate
@dataclass
class LandingVerdict:
    # Whether a trained agent lands (its greedy policy averages >= solve_threshold on
    # fresh seeds), and if not, the likely causes, most likely first.
    lands: bool
    mean: float
    episodes: int
    causes: list

    def __str__(self):
        if self.lands:
            return f'your agent lands: the greedy policy averages {self.mean:.1f} over {self.episodes} fresh episodes'
        return (f'your agent did not land: the greedy policy averages {self.mean:.1f} over {self.episodes} fresh '
                f'episodes. Likely causes:\n' + '\n'.join(f'  - {cause}' for cause in self.causes))


def landing_verdict(result, eval_returns):
    # result: the TrainResult of train(); eval_returns: the returns of evaluate(result.ac, ...)
    config, mean = result.config, float(np.mean(eval_returns))
    if mean >= config.solve_threshold:
        return LandingVerdict(lands=True, mean=mean, episodes=len(eval_returns), causes=[])
    causes = []
    best_training_mean = max((float(np.mean(result.episode_returns[max(0, i + 1 - config.solve_window):i + 1]))
                              for i in range(len(result.episode_returns))), default=float('nan'))
    if result.interrupted:
        causes.append(f'training was interrupted after {result.env_steps:,} steps: run the training cell again '
                      f'and let it finish')
    elif result.env_steps < 100_000:
        causes.append(f'training had only {result.env_steps:,} steps (a landing takes 100k to 500k; PPO_QUICK=1 '
                      f'sets 20,000): run with the full budget, Config()')
    elif result.landed:
        causes.append(f'a {config.check_episodes}-episode check passed at {result.landed_at:,} steps, but the '
                      f'policy is borderline: train again with another seed, e.g. Config(seed=1)')
    elif result.checks:
        solved = (f'the sampled policy scored (training mean >= {config.solve_threshold:g} at '
                  f'{result.solved_at:,} steps), but ' if result.solved else '')
        causes.append(f'{solved}the greedy policy never passed a check (best {max(c.mean for c in result.checks):.1f}'
                      f'): it hovers or drifts instead of touching down. Train again with another seed, '
                      f'e.g. Config(seed=1)')
    elif best_training_mean < 0:
        causes.append(f'the training return never rose above 0 (best mean of {config.solve_window} episodes: '
                      f'{best_training_mean:.1f}): this points to a bug in compute_advantages or compute_loss '
                      f'that the tests did not catch, e.g. a sign, a term mixed up between environments or '
                      f'episodes, or critic targets that carry gradients. Run the tests again and reread your code')
    else:
        causes.append(f'the training return rose (best mean {best_training_mean:.1f}) but not to '
                      f'{config.check_from:g}, where the checks of the greedy policy start, within '
                      f'{result.env_steps:,} steps: train again with another seed, e.g. Config(seed=1); if that '
                      f'fails too, look for a subtle bug in your code (the discount or lambda in the wrong '
                      f'place, a truncation treated as a termination)')
    causes.append('a correct implementation lands on nearly every seed (README, "Results"); if a second seed '
                  'does not land either, the cause is most likely in your code')
    return LandingVerdict(lands=False, mean=mean, episodes=len(eval_returns), causes=causes)
# %% end


# ------------------------------------------------------------------------------------
# Checkpoints, the landing GIF and the command line
# ------------------------------------------------------------------------------------

def save_checkpoint(ac, config, path):
    torch.save({'state_dict': ac.state_dict(), 'config': dataclasses.asdict(config),
                'state_dim': int(ac.actor[0].in_features), 'num_actions': int(ac.actor[4].out_features)}, path)


def load_checkpoint(path):
    """(ac, config) from a file written by save_checkpoint()."""
    checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    config = Config(**checkpoint['config'])
    ac = PPO(checkpoint['state_dim'], checkpoint['num_actions'], config.gamma, config.lmbda, config.epsilon,
             config.num_steps)
    ac.load_state_dict(checkpoint['state_dict'])
    return ac, config


def record_episode(ac, path, env_id='LunarLander-v3', seed=10_000, fps=50):
    """Plays one greedy episode on `seed` and writes it as a GIF; returns its return."""
    import rl_gui  # only needed here: rendering is not part of training
    env = gym.make(env_id, render_mode='rgb_array')
    observation, _ = env.reset(seed=seed)
    render = rl_gui.create_renderer(env, fps=fps, figsize=(4, 3))
    render()
    episode_return, done = 0.0, False
    while not done:
        action = greedy_actions(ac, torch.as_tensor(observation).unsqueeze(0)).item()
        observation, reward, terminated, truncated, _ = env.step(action)
        episode_return += reward
        done = terminated or truncated
        render(f'seed {seed}   return {episode_return:7.1f}')
    env.close()
    render.save_gif(path, fps=25)
    return episode_return


def _positive_int(text):
    try:
        value = int(text.replace('_', ''))
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not a whole number') from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f'must be a positive number, got {value}')
    return value


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=f'Train the reference PPO on LunarLander-v3 until its greedy policy lands (once the mean '
                    f'return of the last {Config.solve_window} training episodes reaches {Config.check_from:g}, '
                    f'every {Config.check_interval:,} steps {Config.check_episodes} greedy episodes on fresh seeds '
                    f'must average '
                    f'{Config.solve_threshold + Config.check_margin:g}) or until the step budget is used up (exit '
                    f'code 1), then evaluate the greedy policy on 100 other fresh seeds. Writes summary.json, '
                    f'learning_curve.png, policy.pt and landing.gif to the output folder.')
    parser.add_argument('--seed', type=int, default=Config.seed, help='random seed (default: %(default)s)')
    parser.add_argument('--total-steps', type=_positive_int, default=Config.total_steps,
                        help='budget of environment steps (default: %(default)s)')
    parser.add_argument('--out', metavar='DIR', help='output folder (default: runs/<timestamp>)')
    parser.add_argument('--load', metavar='CHECKPOINT',
                        help='evaluate this policy.pt instead of training, and write a GIF')
    parser.add_argument('--eval-episodes', type=_positive_int, default=100,
                        help='greedy evaluation episodes (default: %(default)s)')
    args = parser.parse_args(argv)
    if args.load is not None and not os.path.isfile(args.load):
        parser.error(f'checkpoint not found: {args.load}')
    result_file = 'evaluation.json' if args.load is not None else 'summary.json'
    if args.out is not None and os.path.exists(os.path.join(args.out, result_file)):
        parser.error(f'{args.out} already holds a result ({result_file}); choose another --out')
    return args


def _output_folder(out):
    if out is None:
        out = os.path.join('runs', time.strftime('%Y%m%d-%H%M%S'))
        suffix, base = 1, out
        while os.path.exists(out):
            out, suffix = f'{base}-{suffix}', suffix + 1
    os.makedirs(out, exist_ok=True)
    return out


def _evaluate_and_record(ac, config, out, episodes):
    """Greedy evaluation, plus a GIF of the first evaluation episode that lands (>= 200)."""
    returns = evaluate(ac, config.env_id, episodes=episodes)
    landing = int(np.argmax(returns >= config.solve_threshold)) if (returns >= config.solve_threshold).any() \
        else int(np.argmax(returns))
    record_episode(ac, os.path.join(out, 'landing.gif'), config.env_id, seed=10_000 + landing)
    return returns


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    out = _output_folder(args.out)

    if args.load is not None:
        ac, config = load_checkpoint(args.load)
        torch.set_num_threads(config.torch_threads)
        returns = _evaluate_and_record(ac, config, out, args.eval_episodes)
        summary = {'checkpoint': args.load, 'eval_mean': float(returns.mean()), 'eval_std': float(returns.std()),
                   'eval_episodes': len(returns), 'eval_returns': returns.round(2).tolist()}
        with open(os.path.join(out, 'evaluation.json'), 'w') as file:
            json.dump(summary, file, indent=2)
        print(f'greedy evaluation of {args.load}: {returns.mean():.1f} ± {returns.std():.1f} over {len(returns)} '
              f'episodes -> {out}')
        return 0

    import rl_gui
    config = Config(seed=args.seed, total_steps=args.total_steps)
    monitor = rl_gui.TrainingMonitor(plot=False)
    result = train(config, callback=monitor)
    monitor.close()

    save_checkpoint(result.ac, config, os.path.join(out, 'policy.pt'))
    figure = rl_gui.plot_learning_curve(result.episode_returns, result.episode_end_steps,
                                        window=config.solve_window, threshold=config.solve_threshold,
                                        title=f'PPO on {config.env_id}, seed {config.seed}', solved_at=result.solved_at,
                                        landed_at=result.landed_at, checks=result.checks)
    figure.savefig(os.path.join(out, 'learning_curve.png'))
    returns = _evaluate_and_record(result.ac, config, out, args.eval_episodes)
    verdict = landing_verdict(result, returns)

    summary = {
        'landed': result.landed, 'landed_at': result.landed_at,
        'solved': result.solved, 'solved_at': result.solved_at,
        'interrupted': result.interrupted,
        'criteria': {'solved': f'mean return of the last {config.solve_window} training episodes >= '
                               f'{config.solve_threshold:g}',
                     'landed': f'mean return of {config.check_episodes} greedy episodes on fresh seeds >= '
                               f'{config.solve_threshold + config.check_margin:g}, checked every '
                               f'{config.check_interval:,} steps once the training mean reaches '
                               f'{config.check_from:g}; training stops there'},
        'checks': [{'env_steps': check.env_steps, 'first_seed': check.first_seed, 'mean': round(check.mean, 2),
                    'passed': check.passed} for check in result.checks],
        'env_steps': result.env_steps, 'train_seconds': round(result.train_seconds, 2),
        'check_seconds': round(result.check_seconds, 2), 'checks_in_background': result.checks_in_background,
        'steps_per_second': round(result.env_steps / result.train_seconds, 1),
        'episodes': len(result.episode_returns),
        'final_mean_return': round(float(np.mean(result.episode_returns[-config.solve_window:])), 2)
        if result.episode_returns else None,
        'eval_lands': verdict.lands,
        'eval_mean': round(float(returns.mean()), 2), 'eval_std': round(float(returns.std()), 2),
        'eval_episodes': len(returns), 'eval_returns': returns.round(2).tolist(),
        'seed': config.seed, 'hyperparameters': dataclasses.asdict(config),
        'versions': {'torch': torch.__version__, 'gymnasium': gym.__version__, 'numpy': np.__version__},
    }
    with open(os.path.join(out, 'summary.json'), 'w') as file:
        json.dump(summary, file, indent=2)

    print(f'{result.summary()}\ngreedy evaluation {returns.mean():.1f} ± {returns.std():.1f} over {len(returns)} '
          f'episodes -> {out}')
    if not result.landed:
        print(f'the greedy policy did not land within the budget of {config.total_steps:,} steps'
              + ('' if result.interrupted else '; exit code 1'))
    print(verdict)
    return 0 if result.landed else 1


if __name__ == '__main__':
    sys.exit(main())
