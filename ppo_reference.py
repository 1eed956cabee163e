"""Reference PPO for LunarLander: the algorithm, the trainer and the command line.

This file is the one source of truth for the solution. The completed notebook's
code cells are copied from the regions between `# %% notebook:` markers, and the
student notebook is generated from the completed one with the solutions taken out
(both by tools/build.py). What training needs besides PPO (the records, the landing
checks, the evaluation and the verdict) is rl_kit/training.py, which the notebook imports
as this file does.

Command line (`python ppo_reference.py --help`):
    python ppo_reference.py                  # train until solved, evaluate, save
    python ppo_reference.py --load runs/X/policy.pt   # evaluate a checkpoint
"""

import argparse
import dataclasses
import json
import os
import pickle
import sys
import time
import zipfile
from dataclasses import dataclass

import rl_kit  # noqa: F401 (first: on a Python older than the kit needs, it says so in one line)
import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rl_kit.inputs import check_rollout, check_tensors
from rl_kit.training import (ActorScores, EpisodeTracker, LandingChecks, LandingShare, TrainResult, TrainStats,
                             UpdateStats, evaluate, greedy_actions, landing_verdict, make_optimizer)

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
        # a ValueError that names the argument if the inputs do not fit these shapes (rl_kit/inputs.py)
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
    # Every setting of the trainer, in one place. The values were tuned on this task (seeds
    # 0-29) and then measured on seeds the tuning never saw.
    env_id: str = 'LunarLander-v3'
    seed: int = 0                  # training environment i is seeded with seed + i
    total_steps: int = 1_000_000   # budget of environment steps; training stops earlier once it lands
    num_envs: int = 16             # N environments stepped together
    num_steps: int = 128           # T steps per environment and rollout: N * T transitions per update
    gamma: float = 0.999           # discount factor: a landing pays off hundreds of steps later
    lmbda: float = 0.98            # GAE lambda
    epsilon: float = 0.2           # PPO clip range (at the start, see anneal_epsilon)
    update_epochs: int = 6         # K passes over each rollout (6 landed in fewer steps than 4 when tuned)
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
    check_from: float = 50.0       # once the training mean reaches this, every check_interval env steps the
    check_interval: int = 8192     # GREEDY policy plays a check on fresh seeds, in stages of episodes; landed
    check_stages: tuple = (20, 40, 60, 100)  # (training stops) when their mean is >= solve_threshold and,
    check_share: float = 0.8       # with 99% confidence, at least this share of them score >= solve_threshold
    check_seed: int = 1_000_000    # check k (= env steps // check_interval) plays check_seed + 100 k, + 1, ...
    eval_seed: int = 10_000        # the final evaluation's seeds: eval_seed, eval_seed + 1, ... (no check's)
    torch_threads: int = 1         # small networks: one thread is fastest and makes runs repeatable
    background_checks: bool = True  # the checks run in a second process, beside training, on the second
                                    # core: the same checks and the same stop as inline, in less time

    def __post_init__(self):
        # the values a schedule or the stopping rule cannot work with, named with the fix
        if not 0 < self.anneal_floor <= 1:
            raise ValueError(f'Config: anneal_floor must be in (0, 1], the fraction of the learning rate and clip '
                             f'range kept at the end, got {self.anneal_floor} (0 would stop learning: use e.g. 0.1)')
        for name in ('total_steps', 'anneal_steps', 'check_interval'):
            if getattr(self, name) < 1:
                raise ValueError(f'Config: {name} must be a positive whole number, got {getattr(self, name)}')
        stages = self.check_stages = tuple(self.check_stages)  # (a list too, e.g. read from JSON)
        if not (stages and stages[0] > 0 and list(stages) == sorted(set(stages)) and 0 <= self.check_share < 1):
            raise ValueError(f'Config: check_stages must be rising numbers of episodes, e.g. (20, 40, 60, 100), and '
                             f'check_share a share below 1, e.g. 0.8; got {stages} and {self.check_share}')

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
def ppo_update(ac, optimizer, rollout, config, generator=None):
    # K epochs of minibatch gradient steps on one Rollout. Returns UpdateStats.
    states, actions = rollout.states, rollout.actions

    # pi_theta_old: taken ONCE, before any update. (The original exercise recomputed it after
    # every update, so the ratio was always 1 and clipping never acted.)
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
            # ActorScores keeps the actor's scores that compute_loss computes, for the entropy bonus
            with ActorScores(ac.actor, minibatch_states) as scores:
                actor_loss, critic_loss = ac.compute_loss(minibatch_states, actions[index], minibatch_advantages,
                                                          critic_targets[index], log_probs_old[index])
            entropy = scores.entropy()  # H(pi(.|s)), averaged over the minibatch
            loss = actor_loss + config.critic_coef * critic_loss - config.entropy_coef * entropy

            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(ac.parameters(), config.max_grad_norm)
            optimizer.step()

    # how far the K epochs moved the policy: had pi_theta_old been recomputed after every
    # update, as in the original exercise, the clip fraction would stay 0
    with torch.no_grad():
        log_ratios = ac.compute_log_probs(states, actions) - log_probs_old
        ratios = log_ratios.exp()
        clip_fraction = ((ratios - 1).abs() > ac.epsilon).float().mean().item()
        approx_kl = ((ratios - 1) - log_ratios).mean().item()
    return UpdateStats(actor_loss=actor_loss.item(), critic_loss=critic_loss.item(), entropy=entropy.item(),
                       clip_fraction=clip_fraction, approx_kl=approx_kl)
# %% end


# %% notebook: train
def train(config, callback=None):
    # Trains PPO until the greedy policy lands (LandingChecks, the stopping rule), or until
    # config.total_steps environment steps are used up. callback(TrainStats) is called after
    # every update, e.g. for a progress bar. Returns a TrainResult.
    torch.set_num_threads(config.torch_threads)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)  # the order of the minibatches

    envs = make_envs(config.env_id, config.num_envs)
    ac = PPO(int(envs.single_observation_space.shape[0]), int(envs.single_action_space.n), config.gamma,
             config.lmbda, config.epsilon, config.num_steps)
    optimizer = make_optimizer(ac, config)
    observations, _ = envs.reset(seed=config.seed)  # env i is seeded with seed + i
    states_now = torch.from_numpy(observations)
    tracker = EpisodeTracker(config.num_envs, config.solve_window, config.solve_threshold)
    checks = LandingChecks(ac, config, tracker)
    env_steps, interrupted, start = 0, False, time.perf_counter()
    try:
        while env_steps < config.total_steps and checks.landed_at is None:
            decay = config.schedule(env_steps)  # from 1 down to anneal_floor, never 0
            optimizer.param_groups[0]['lr'] = config.learning_rate * (decay if config.anneal_lr else 1)
            ac.epsilon = config.epsilon * (decay if config.anneal_epsilon else 1)

            rollout, states_now, env_steps = collect_rollout(envs, ac, states_now, config.num_steps, tracker,
                                                             env_steps)
            update = ppo_update(ac, optimizer, rollout, config, generator)

            tracker.note_solved(env_steps)  # reported: the training mean reached solve_threshold
            # the stop: a greedy check passed; a check that ran beside training and passed takes
            # the run back to the agent (and the env steps) it checked
            env_steps = checks.after_update(env_steps)
            if callback is not None:
                callback(TrainStats.of(config, ac, optimizer, tracker, checks, update, env_steps,
                                       time.perf_counter() - start))
    except KeyboardInterrupt:
        interrupted = True  # keep what has been learned so far
    finally:
        checks.close()
        envs.close()
    return TrainResult.of(ac, config, env_steps, time.perf_counter() - start, tracker, checks, interrupted)
# %% end


# ------------------------------------------------------------------------------------
# Checkpoints, the landing GIF and the command line
# ------------------------------------------------------------------------------------

CHECKPOINT_KEYS = ('state_dict', 'config', 'state_dim', 'num_actions')


class CheckpointError(ValueError):
    """A file given as a checkpoint is not one; the message says what it is instead."""


def save_checkpoint(ac, config, path):
    torch.save({'state_dict': ac.state_dict(), 'config': dataclasses.asdict(config),
                'state_dim': int(ac.actor[0].in_features), 'num_actions': int(ac.actor[4].out_features)}, path)


def describe_file(path):
    """What a file that torch cannot load as a checkpoint is, in a few words."""
    if zipfile.is_zipfile(path):
        return 'a zip archive, but not one torch.save() wrote'
    with open(path, 'rb') as file:
        start = file.read(512)
    try:
        text = start.decode('utf-8')
    except UnicodeDecodeError:
        return f'not a torch file (it starts with the bytes {start[:8]!r})'
    first = text.strip().splitlines()[0][:60] if text.strip() else ''
    return f'a text file, not a torch file (its first line: {first!r})' if first else 'an empty file'


def load_checkpoint(path):
    """(ac, config) from a file written by save_checkpoint(); CheckpointError, saying what the
    file is, if it is not one."""
    holds = (f'a checkpoint is a torch file of a dict with {", ".join(CHECKPOINT_KEYS[:-1])} and '
             f'{CHECKPOINT_KEYS[-1]}, as the policy.pt of a run')
    try:
        checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as error:
        kind = describe_file(path) if not zipfile.is_zipfile(path) else f'a torch file torch cannot read ({error})'
        raise CheckpointError(f'{path} is not a checkpoint: it is {kind}; {holds}') from None
    if not isinstance(checkpoint, dict) or not set(CHECKPOINT_KEYS) <= set(checkpoint):
        what = (f'a dict with the keys {", ".join(map(str, checkpoint))}' if isinstance(checkpoint, dict)
                else f'a {type(checkpoint).__name__}')
        raise CheckpointError(f'{path} is not a checkpoint: it is a torch file of {what}; {holds}')
    known = {field.name for field in dataclasses.fields(Config)}
    try:
        config = Config(**{name: value for name, value in checkpoint['config'].items() if name in known})
        ac = PPO(checkpoint['state_dim'], checkpoint['num_actions'], config.gamma, config.lmbda, config.epsilon,
                 config.num_steps)
        ac.load_state_dict(checkpoint['state_dict'])
    except (TypeError, ValueError, AttributeError, RuntimeError) as error:
        detail = ' '.join(line.strip() for line in str(error).splitlines() if line.strip())
        detail = detail if len(detail) <= 240 else detail[:239] + '…'
        raise CheckpointError(f'{path} is not a checkpoint of this PPO: {detail}; {holds}') from None
    return ac, config


def record_episode(ac, path, config, seed=None, fps=50):
    """Plays one greedy episode on `seed` (by default config.eval_seed) and writes it as a GIF,
    every frame; returns its return."""
    import rl_gui  # only needed here: rendering is not part of training
    seed = config.eval_seed if seed is None else seed
    env = gym.make(config.env_id, render_mode='rgb_array')
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
    render.save_gif(path)
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
        description=f'Train the reference PPO on {Config.env_id} until its greedy policy lands (the '
                    f'{LandingChecks(None, Config(), tracker=None, background=False).rule()}) or until the step '
                    f'budget is used up (exit code 1), then evaluate the greedy policy on 100 other fresh seeds. '
                    f'Writes summary.json, learning_curve.png, policy.pt and landing.gif to the output folder.')
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
    returns = evaluate(ac, config, episodes=episodes)
    landing = int(np.argmax(returns >= config.solve_threshold)) if (returns >= config.solve_threshold).any() \
        else int(np.argmax(returns))
    record_episode(ac, os.path.join(out, 'landing.gif'), config, seed=config.eval_seed + landing)
    return returns


def _share_fields(share):
    # how surely the policy lands, for summary.json and evaluation.json
    return {'eval_landed_episodes': share.wins, 'eval_share': round(share.share, 4),
            'eval_share_95ci': [round(share.low, 4), round(share.high, 4)]}


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)

    if args.load is not None:
        try:
            ac, config = load_checkpoint(args.load)
        except CheckpointError as error:
            print(f'ppo_reference.py: error: {error}', file=sys.stderr)
            return 2
        out = _output_folder(args.out)
        torch.set_num_threads(config.torch_threads)
        returns = _evaluate_and_record(ac, config, out, args.eval_episodes)
        share = LandingShare.of(returns, config.solve_threshold)
        summary = {'checkpoint': args.load, 'eval_mean': float(returns.mean()), 'eval_std': float(returns.std()),
                   'eval_episodes': len(returns), **_share_fields(share), 'eval_returns': returns.round(2).tolist()}
        with open(os.path.join(out, 'evaluation.json'), 'w') as file:
            json.dump(summary, file, indent=2)
        print(f'greedy evaluation of {args.load}: {returns.mean():.1f} ± {returns.std():.1f} over {len(returns)} '
              f'episodes; {share} -> {out}')
        return 0

    import rl_gui
    out = _output_folder(args.out)
    config = Config(seed=args.seed, total_steps=args.total_steps)
    monitor = rl_gui.TrainingMonitor(plot=False)
    result = train(config, callback=monitor)
    monitor.close()

    save_checkpoint(result.ac, config, os.path.join(out, 'policy.pt'))
    returns = _evaluate_and_record(result.ac, config, out, args.eval_episodes)
    verdict = landing_verdict(result, returns)
    figure = rl_gui.plot_learning_curve(result.episode_returns, result.episode_end_steps,
                                        window=config.solve_window, threshold=config.solve_threshold,
                                        title=f'PPO on {config.env_id}, seed {config.seed}', solved_at=result.solved_at,
                                        landed_at=result.landed_at, checks=result.checks, evaluation=returns)
    figure.savefig(os.path.join(out, 'learning_curve.png'))

    summary = {
        'landed': result.landed, 'landed_at': result.landed_at,
        'solved': result.solved, 'solved_at': result.solved_at,
        'interrupted': result.interrupted,
        'criteria': {'solved': f'mean return of the last {config.solve_window} training episodes >= '
                               f'{config.solve_threshold:g}',
                     'landed': LandingChecks(result.ac, config, tracker=None, background=False).rule()},
        'checks': [{'env_steps': check.env_steps, 'first_seed': check.first_seed, 'episodes': len(check.returns),
                    'landed_episodes': check.wins, 'mean': round(check.mean, 2),
                    'share_lower_bound': round(check.share_bound, 4), 'passed': check.passed,
                    'seconds': round(check.seconds, 2), 'latency': round(check.latency, 2)} for check in result.checks],
        'env_steps': result.env_steps, 'train_seconds': round(result.train_seconds, 2),
        'check_seconds': round(result.check_seconds, 2), 'checks_in_background': result.checks_in_background,
        'steps_per_second': round(result.env_steps / result.train_seconds, 1),
        'episodes': len(result.episode_returns),
        'final_mean_return': round(float(np.mean(result.episode_returns[-config.solve_window:])), 2)
        if result.episode_returns else None,
        'eval_lands': verdict.lands,
        'eval_mean': round(float(returns.mean()), 2), 'eval_std': round(float(returns.std()), 2),
        'eval_episodes': len(returns), **_share_fields(verdict.share), 'eval_returns': returns.round(2).tolist(),
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
