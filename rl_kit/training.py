"""What training needs besides PPO itself (shipped to students; nothing of the solution).

The notebook's train() reads rollout -> update -> landing check -> callback. This module
holds what is behind those calls:

    UpdateStats, LandingCheck, TrainStats, TrainResult   the records train() produces
    EpisodeTracker    the return of every training episode, and when the training mean
                      first reached the solve threshold ("solved")
    make_optimizer    Adam, fused
    ActorScores       the entropy bonus from the actor's scores that compute_loss computed
    greedy_actions, evaluate    the greedy policy, played on fresh seeds
    LandingChecks     the stopping rule: greedy checks of the agent during training, played
                      in a second process beside training, and the going back to the agent
                      a passing check played
    landing_verdict   whether the trained agent lands, and if not, the likely causes

Every function takes the agent and the notebook's Config as arguments: nothing here imports
the notebook's code.
"""

import bisect
import copy
import dataclasses
import math
import multiprocessing
import os
import signal
import statistics
import sys
import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn, optim


# ------------------------------------------------------------------------------------
# Records
# ------------------------------------------------------------------------------------

@dataclass
class UpdateStats:
    # Diagnostics of one ppo_update(), for the progress display
    actor_loss: float     # of the last minibatch
    critic_loss: float    # of the last minibatch
    entropy: float        # of the policy on the last minibatch, in nats (log 4 = 1.39 is uniform)
    clip_fraction: float  # share of the rollout whose ratio the K epochs moved beyond 1 ± epsilon
    approx_kl: float      # how far the K epochs moved the policy (k3 estimator of KL(old || new))


@dataclass
class LandingCheck:
    # One check of the greedy policy during training (LandingChecks), on seeds no other check
    # and no final evaluation uses. It plays its episodes in stages (config.check_stages).
    env_steps: int        # training steps at the check point
    first_seed: int       # the episodes ran on first_seed, first_seed + 1, ...
    returns: list         # return of every greedy episode it played, in order
    threshold: float      # an episode lands when its return is at least this (solve_threshold)
    passed: bool          # whether it passed (LandingChecks.judge: the stopping rule)
    share_bound: float    # the lower confidence bound of the share of episodes that land
    seconds: float = 0.0  # how long the episodes took to play
    queued: int = 0       # checks still playing in the second process when this one was sent there
    latency: float = 0.0  # seconds from the check point until training had the result (inline: = seconds)

    @property
    def mean(self):
        return float(np.mean(self.returns))

    @property
    def wins(self):
        # the episodes that landed (return >= threshold)
        return int(np.sum(np.asarray(self.returns) >= self.threshold))

    def describe(self):
        # e.g. '38 of 40 >= 200, mean 243.1'
        return f'{self.wins} of {len(self.returns)} >= {self.threshold:g}, mean {self.mean:.1f}'


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
    progress: float                # 0 to 1: how close the agent is to passing a check (LandingChecks.progress)
    learning_rate: float           # used for this update
    epsilon: float                 # clip range used for this update
    update: UpdateStats
    ac: nn.Module                  # the agent as it is now (e.g. to save or evaluate it)

    @classmethod
    def of(cls, config, ac, optimizer, tracker, checks, update, env_steps, elapsed):
        # what train() tells its callback after an update
        return cls(env_steps=env_steps, total_steps=config.total_steps, elapsed=elapsed,
                   episode_returns=tracker.returns, episode_end_steps=tracker.end_steps,
                   mean_return=tracker.mean_return(), solve_window=config.solve_window,
                   solve_threshold=config.solve_threshold, solved_at=tracker.solved_at,
                   landed_at=checks.landed_at, checks=checks.checks, progress=checks.progress(),
                   learning_rate=optimizer.param_groups[0]['lr'], epsilon=ac.epsilon, update=update, ac=ac)

    @property
    def episodes(self):
        return len(self.episode_returns)

    @property
    def steps_per_second(self):
        return self.env_steps / self.elapsed if self.elapsed > 0 else float('nan')


@dataclass
class TrainResult:
    ac: nn.Module
    config: object                 # the notebook's Config
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
    checks_in_background: bool = False  # the checks ran in a second process (see LandingChecks)

    @classmethod
    def of(cls, ac, config, env_steps, seconds, tracker, checks, interrupted):
        # the result of train(), from its agent, tracker and checks
        return cls(ac=ac, config=config, env_steps=env_steps, train_seconds=seconds,
                   check_seconds=sum(check.seconds for check in checks.checks),
                   episode_returns=list(tracker.returns), episode_end_steps=list(tracker.end_steps),
                   solved_at=tracker.solved_at, landed_at=checks.landed_at, checks=list(checks.checks),
                   interrupted=interrupted, checks_in_background=checks.in_background)

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
        last = f', the last: {self.checks[-1].describe()}' if self.checks else ''
        return (f'{self.status()} after {self.env_steps:,} environment steps, {len(self.episode_returns):,} '
                f'episodes, {self.train_seconds:.0f} s | training mean >= {self.config.solve_threshold:g}: '
                f'{at(self.solved_at)} | greedy check: {at(self.landed_at)} ({len(self.checks)} '
                f'check{"s" if len(self.checks) != 1 else ""}{last})')


# ------------------------------------------------------------------------------------
# The training episodes
# ------------------------------------------------------------------------------------

class EpisodeTracker:
    # Sums the rewards of every running episode, records each finished episode's return,
    # and notes when the mean of the last `window` returns first reached `threshold`.
    def __init__(self, num_envs, window, threshold):
        self.window, self.threshold = window, threshold
        self.running_returns = np.zeros(num_envs)
        self.returns = []      # return of every finished episode, in order
        self.end_steps = []    # total environment steps when that episode ended
        self.solved_at = None  # env steps when note_solved() first found the mean >= threshold

    def update(self, rewards, dones, env_steps):
        self.running_returns += rewards
        for i in np.flatnonzero(dones):
            self.returns.append(float(self.running_returns[i]))
            self.end_steps.append(env_steps)
            self.running_returns[i] = 0.0

    def mean_return(self):
        # of the last `window` episodes (of all of them before `window` have ended)
        return float(np.mean(self.returns[-self.window:])) if self.returns else float('nan')

    def mean_reached(self, value):
        # the mean return of the last `window` episodes is at least value (never before
        # `window` episodes have ended)
        return len(self.returns) >= self.window and self.mean_return() >= value

    def note_solved(self, env_steps):
        # called after every update: "solved" at the first whose training mean reaches threshold
        if self.solved_at is None and self.mean_reached(self.threshold):
            self.solved_at = env_steps

    def truncate(self, env_steps):
        # forgets the episodes that ended after env_steps, and a "solved" noted after it
        del self.returns[bisect.bisect_right(self.end_steps, env_steps):]
        del self.end_steps[len(self.returns):]
        if self.solved_at is not None and self.solved_at > env_steps:
            self.solved_at = None


# ------------------------------------------------------------------------------------
# The update's helpers: the optimiser and the entropy bonus
# ------------------------------------------------------------------------------------

def make_optimizer(ac, config):
    # Adam. fused=True updates all parameters in one kernel; Adam's default step, one
    # parameter at a time, makes the whole update 1.06-1.28x slower.
    return optim.Adam(ac.parameters(), lr=config.learning_rate, eps=1e-5, fused=True)


class ActorScores:
    # `with ActorScores(ac.actor, states) as scores:` keeps, through a forward hook, the scores
    # the actor computes for exactly these states with gradients, so that scores.entropy()
    # reuses the forward pass compute_loss makes instead of running the actor again: a second
    # forward and backward pass through the actor makes the update 1.18-1.29x slower. If
    # compute_loss ran the actor on no such states (e.g. on a copy of them), entropy() runs it.
    def __init__(self, actor, states):
        self.actor, self.states, self.value = actor, states, None

    def __enter__(self):
        # only an nn.Module has hooks: for an actor that is some other callable, nothing is kept
        is_module = isinstance(self.actor, nn.Module)
        self.handle = self.actor.register_forward_hook(self._keep) if is_module else None
        return self

    def _keep(self, module, inputs, output):
        if inputs[0] is self.states and output.requires_grad:
            self.value = output

    def __exit__(self, *exc_info):
        if self.handle is not None:
            self.handle.remove()

    def entropy(self):
        # H(pi(.|s)) = -sum_a pi(a|s) log pi(a|s), averaged over the states (a scalar tensor)
        scores = self.value if self.value is not None else self.actor(self.states)  # (batch_size, num_actions)
        return torch.distributions.Categorical(logits=scores).entropy().mean()


# ------------------------------------------------------------------------------------
# The greedy policy
# ------------------------------------------------------------------------------------

def greedy_actions(ac, states):
    # the most likely action of the policy, shape (batch_size); no sampling
    with torch.no_grad():
        return ac.actor(states).argmax(dim=1)


def evaluate(ac, config, episodes=100, first_seed=None, act=greedy_actions):
    # Returns of `episodes` greedy episodes of config.env_id, each on its own fresh seed:
    # first_seed, first_seed + 1, ... (by default config.eval_seed, which no training
    # environment and no check uses). All episodes run side by side, so the policy is called
    # on a batch; act(ac, states) gives the actions, shape (batch_size).
    first_seed = config.eval_seed if first_seed is None else first_seed
    envs = [gym.make(config.env_id) for _ in range(episodes)]
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


# ------------------------------------------------------------------------------------
# How surely a policy lands: the share of its episodes that score >= 200
# ------------------------------------------------------------------------------------

def normal_quantile(confidence):
    # z of a one-sided bound at `confidence`, e.g. 2.326 at 0.99 (1.960 at 0.975: a two-sided 95%)
    return statistics.NormalDist().inv_cdf(confidence)


def wilson_interval(successes, n, z):
    # (low, high): the Wilson score interval of the share successes / n, each end a one-sided
    # bound at the confidence of z (normal_quantile); numbers or numpy arrays. Written out (4
    # lines) rather than taken from statsmodels or scipy: neither is among the kit's requirements.
    # Unlike the textbook p +- z sqrt(p (1 - p) / n) it stays within [0, 1], and 20 of 20 does not
    # make it shrink to nothing.
    p = np.asarray(successes, dtype=float) / n
    centre, spread = p + z * z / (2 * n), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n), (centre + spread) / (1 + z * z / n)


@dataclass
class LandingShare:
    # How many of a policy's greedy episodes land (return >= threshold), with a 95% Wilson interval
    wins: int
    episodes: int
    threshold: float
    low: float            # the share lies in [low, high] with 95% confidence
    high: float

    @classmethod
    def of(cls, returns, threshold, confidence=0.95):
        wins, episodes = int(np.sum(np.asarray(returns) >= threshold)), len(returns)
        z = normal_quantile((1 + confidence) / 2)  # two-sided
        low, high = wilson_interval(wins, episodes, z) if episodes else (0.0, 1.0)
        return cls(wins=wins, episodes=episodes, threshold=threshold, low=float(low), high=float(high))

    @property
    def share(self):
        return self.wins / self.episodes if self.episodes else float('nan')

    def __str__(self):
        # e.g. '91 of 100 episodes >= 200 (91%, 95% confidence interval 84-95%)'
        return (f'{self.wins} of {self.episodes} episodes >= {self.threshold:g} ({self.share:.0%}, 95% '
                f'confidence interval {100 * self.low:.0f}-{self.high:.0%})')


# ------------------------------------------------------------------------------------
# The landing checks: the stopping rule, beside training
# ------------------------------------------------------------------------------------

class LandingChecks:
    # The stopping rule of train(). A check point is the first update whose env steps reach a
    # new multiple of config.check_interval (block b = env_steps // check_interval) while the
    # training mean is >= config.check_from. There the GREEDY policy plays a check in stages
    # (config.check_stages, e.g. 20, 40, 60 and 100 episodes in all): after each stage it passes
    # if the mean return of its episodes is >= solve_threshold and, with CONFIDENCE, at least
    # config.check_share of them land (return >= solve_threshold: the lower Wilson bound of their
    # share is >= check_share); else it plays the next stage while at least GO_ON of them land
    # (and their mean is >= solve_threshold), or fails. Training stops at the first check that
    # passes. A bound on the mean alone is fooled by a policy that lands well most of the time but
    # now and then crashes: on the kit's tuning seeds such bounds stopped 5 to 10 runs of 30 with
    # fewer than 80% of the final evaluation's episodes >= 200; this rule stopped none.
    # Episode i of block b plays seed check_seed + b * check_stages[-1] + i: no seed twice, and
    # none of the final evaluation's (config.eval_seed, ...). The rule is `due`, `judge` and `play`.
    #
    # The checks play in a second process while training goes on: on 2 cores they then cost
    # training almost nothing, where inline they took 17% of its time. A check depends only on
    # the weights it is given and its block, so the checks and the stop are those of inline
    # checks: the agent of every check is kept until the check has failed, and when one passes,
    # after_update() goes back to that agent (the steps trained meanwhile are dropped). A check's
    # stages play in one request, so no decision depends on how fast the second process is. The
    # second process is a fork of this one, so it knows the agent's class even where a notebook
    # defined it. Elsewhere than on Linux, on one core, in a daemon process (a multiprocessing
    # pool) or with background=False (by default config.background_checks), the checks play
    # inline; if the second process dies or hangs, the checks it had are played inline.
    CONFIDENCE = 0.99  # of the lower bound of the share that lands: a check of several stages tests
                       # several times; at 95% one run of the 30 tuning seeds stopped with a share < 80%
    GO_ON = 0.85       # the share that lands for which a check plays on to its next stage
    TIMEOUT = 120.0    # seconds a check may play before the second process counts as hung
    FLOOR = -200.0     # the empty end of progress(): about what a random policy scores

    def __init__(self, ac, config, tracker, act=greedy_actions, background=None):
        self.ac, self.config, self.tracker, self.act = ac, config, tracker, act
        background = config.background_checks if background is None else background
        # fork is safe on Linux only (Windows has none; on macOS system libraries may break in
        # a forked child); and with a single core the second process would only compete
        self.in_background = (background and sys.platform.startswith('linux')
                              and len(os.sched_getaffinity(0)) >= 2)
        self.checks = []        # every LandingCheck so far, in order (up to the one that passed)
        self.landed_at = None   # env steps of the check that passed
        self.process = self.connection = None
        self.last_block = -1    # the block of the last update: a check point is the first update of a block
        self.pending = []       # the checks being played: (block, env steps, time sent), in order
        self.free_at = 0.0      # when the second process is done with the checks collected so far
        self.agents = {}        # env steps -> (the agent's weights, its epsilon) then, for every check
                                # in the background not failed
        self.done = []          # the LandingChecks played and not yet collected

    # --- the rule: when a check is due, and whether it passed ---------------------------

    def due(self, env_steps):
        # the block of env_steps if it is a check point, else None: the first update of a new
        # block (every update counts, checked or not) whose training mean reaches check_from
        block = env_steps // self.config.check_interval
        if block <= self.last_block:
            return None
        self.last_block = block
        return block if self.tracker.mean_reached(self.config.check_from) else None

    def first_seed(self, block):
        # episode i of the check at `block` plays seed first_seed(block) + i
        return self.config.check_seed + block * self.config.check_stages[-1]

    def share_bound(self, returns):
        # the lower bound, at CONFIDENCE, of the share of the policy's episodes that land
        wins = int(np.sum(np.asarray(returns) >= self.config.solve_threshold))
        return float(wilson_interval(wins, len(returns), normal_quantile(self.CONFIDENCE))[0])

    def judge(self, returns):
        # 'passed', 'play on' or 'failed', for the episodes a check played so far (a whole stage)
        config, n = self.config, len(returns)
        mean, wins = float(np.mean(returns)), int(np.sum(np.asarray(returns) >= config.solve_threshold))
        if mean >= config.solve_threshold and self.share_bound(returns) >= config.check_share:
            return 'passed'
        close = mean >= config.solve_threshold and wins >= self.GO_ON * n
        return 'play on' if close and n < config.check_stages[-1] else 'failed'

    def play(self, agent, env_steps, block):
        # the check of `agent` at `block`: its greedy policy, stage after stage, until judged
        start, first_seed, returns = time.perf_counter(), self.first_seed(block), []
        for n in self.config.check_stages:
            returns += evaluate(agent, self.config, episodes=n - len(returns), first_seed=first_seed + len(returns),
                                act=self.act).tolist()
            outcome = self.judge(returns)
            if outcome != 'play on':
                break
        seconds = time.perf_counter() - start
        return LandingCheck(env_steps=env_steps, first_seed=first_seed, returns=returns,
                            threshold=self.config.solve_threshold, passed=outcome == 'passed',
                            share_bound=self.share_bound(returns),
                            seconds=seconds, latency=seconds)

    def rule(self):
        # the rule in words, for a run's summary and --help
        c = self.config
        return (f'the greedy policy plays up to {c.check_stages[-1]} episodes on fresh seeds every '
                f'{c.check_interval:,} steps once the training mean reaches {c.check_from:g}, in stages of '
                f'{"/".join(map(str, c.check_stages))}; it lands when their mean is >= {c.solve_threshold:g} and, '
                f'with {self.CONFIDENCE:.0%} confidence, at least {c.check_share:.0%} of them score >= '
                f'{c.solve_threshold:g} (a stage plays on while {self.GO_ON:.0%} do); training stops there')

    def progress(self):
        # 0 to 1, for a progress bar: half for the last check's mean return (before any check, the
        # training mean) on the way from FLOOR to solve_threshold, half for the lower bound of the
        # share of its episodes that land against check_share; 1 once a check has passed
        if self.landed_at is not None:
            return 1.0
        threshold = self.config.solve_threshold
        score = self.checks[-1].mean if self.checks else self.tracker.mean_return()
        if math.isnan(score) or threshold <= self.FLOOR:
            return 0.0
        mean_part = min(1.0, max(0.0, (score - self.FLOOR) / (threshold - self.FLOOR)))
        if not self.checks:
            return mean_part / 2
        share_part = min(1.0, self.checks[-1].share_bound / self.config.check_share) if self.config.check_share else 1.0
        return (mean_part + share_part) / 2

    # --- after every update -------------------------------------------------------------

    def after_update(self, env_steps):
        # Starts a check if one is due and collects those that came back. Returns the env
        # steps training is at: after a check that passed, those of that check, with the agent
        # and the tracker back as they were then (so the run ends as with the check inline).
        block = self.due(env_steps)
        if block is not None:
            self.start(env_steps, block)
        for check in self.collect(wait=env_steps >= self.config.total_steps):
            self.checks.append(check)
            if check.passed:
                self.landed_at = check.env_steps
                break
        if self.landed_at is not None and self.landed_at < env_steps:
            self.go_back_to(self.landed_at)
            return self.landed_at
        return env_steps

    def start(self, env_steps, block):
        # the check of the agent as it is now, at `block`
        if not self.in_background:
            self.done.append(self.play(self.ac, env_steps, block))
            return
        self.agents[env_steps] = ({name: w.detach().clone() for name, w in self.ac.state_dict().items()},
                                  self.ac.epsilon)
        now = time.perf_counter()
        if not self.pending:
            self.free_at = now  # the second process is idle: this check starts now
        self.pending.append((block, env_steps, now, len(self.pending)))
        try:
            if self.process is None:
                self._start_process()
            actor = {name: w.detach().numpy().copy() for name, w in self.ac.actor.state_dict().items()}
            self.connection.send((block, env_steps, actor))
        except Exception:  # no second process here (a pool's daemon process may have none),
            self._give_up()    # or the weights would not go through: the same check, inline

    def collect(self, wait=False):
        # the checks played since the last call, in order; wait=True: every check started
        while self.pending and self.in_background:
            _, _, sent, queued = self.pending[0]
            # the oldest check started when the second process was done with the one before
            deadline = self.free_at + self.TIMEOUT
            try:
                if not self.connection.poll(max(0.0, deadline - time.perf_counter()) if wait else 0.0):
                    if time.perf_counter() < deadline:
                        break  # still playing
                    raise TimeoutError(f'a check took more than {self.TIMEOUT:g} s')
                check = self.connection.recv()
                self.free_at = time.perf_counter()
                check.queued, check.latency = queued, self.free_at - sent
                self.done.append(check)
                self.pending.pop(0)
            except (OSError, EOFError, TimeoutError):  # the second process died or hangs
                self._give_up()
        done, self.done = self.done, []
        for check in done:
            if not check.passed:
                self.agents.pop(check.env_steps, None)
        return done

    def go_back_to(self, env_steps):
        # makes the agent and the tracker again what they were when the check at env_steps started
        weights, self.ac.epsilon = self.agents[env_steps]
        self.ac.load_state_dict(weights)
        self.tracker.truncate(env_steps)

    def _start_process(self):
        context = multiprocessing.get_context('fork')
        connection, child = context.Pipe()
        process = context.Process(target=self._serve, args=(child,), daemon=True)
        try:
            process.start()  # refused in a daemon process, e.g. a multiprocessing pool's worker
        except BaseException:
            connection.close()
            raise
        finally:
            child.close()
        self.process, self.connection = process, connection

    def _serve(self, connection):
        # The second process: plays the checks it is sent, in order, each with all its stages.
        # Ctrl-C (or the notebook's stop button) reaches the whole process group: here it is
        # ignored, training handles it and ends this process. One torch thread, as PyTorch's
        # DataLoader workers do: a forked child must not reuse the parent's thread pool.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        torch.set_num_threads(1)
        while (request := connection.recv()) is not None:
            block, env_steps, actor_weights = request
            self.ac.actor.load_state_dict({name: torch.from_numpy(w) for name, w in actor_weights.items()})
            connection.send(self.play(self.ac, env_steps, block))

    def _give_up(self):
        # the checks from now on, and those the second process had, are played inline
        self.in_background = False
        self.close()
        agent = copy.deepcopy(self.ac)
        for block, env_steps, sent, queued in self.pending:
            agent.load_state_dict(self.agents[env_steps][0])
            check = self.play(agent, env_steps, block)
            check.queued, check.latency = queued, time.perf_counter() - sent
            self.done.append(check)
        self.pending = []

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


# ------------------------------------------------------------------------------------
# The verdict
# ------------------------------------------------------------------------------------

# Settings whose change says nothing about the code, and what a few symbols read as.
NOT_HYPERPARAMETERS = ('seed', 'total_steps', 'background_checks', 'torch_threads')
SYMBOLS = {'gamma': 'γ', 'lmbda': 'λ', 'epsilon': 'ε'}


def changed_settings(config):
    # ['your λ = 0 differs from the default 0.98', ...]: the fields of config that differ from
    # the defaults of its class (seed and budget aside: the verdict treats those itself)
    defaults = type(config)()
    changed = []
    for field in dataclasses.fields(config):
        yours, default = getattr(config, field.name), getattr(defaults, field.name)
        if field.name not in NOT_HYPERPARAMETERS and yours != default:
            name = SYMBOLS.get(field.name, field.name)
            changed.append(f'your {name} = {yours:g} differs from the default {default:g}'
                           if isinstance(yours, float) and isinstance(default, float)
                           else f'your {name} = {yours!r} differs from the default {default!r}')
    return changed


@dataclass
class LandingVerdict:
    # Whether a trained agent lands (its greedy policy averages >= solve_threshold on fresh
    # seeds), how surely (the share of its episodes that land), and if it does not land, the
    # likely causes, most likely first.
    lands: bool
    mean: float
    episodes: int
    causes: list
    share: LandingShare = None  # how many of the episodes landed, with a 95% confidence interval
    sure_share: float = 0.8     # below this share a policy that lands on average still crashes too often

    def __str__(self):
        played = f'the greedy policy averages {self.mean:.1f} over {self.episodes} fresh episodes'
        surely = f'; {self.share}' if self.share is not None else ''
        if self.lands:
            text = f'your agent lands: {played}{surely}'
            if self.share is not None and self.share.share < self.sure_share:
                text += (f'. But it crashes or hovers in {self.episodes - self.share.wins} of them, more than '
                         f'{1 - self.sure_share:.0%}: a borderline policy; another seed may land more surely')
            return text
        return (f'your agent did not land: {played}{surely}. Likely causes:\n'
                + '\n'.join(f'  - {cause}' for cause in self.causes))


def landing_verdict(result, eval_returns):
    # result: the TrainResult of train(); eval_returns: the returns of evaluate(result.ac, ...)
    config, mean = result.config, float(np.mean(eval_returns))
    share = LandingShare.of(eval_returns, config.solve_threshold)
    verdict = dict(mean=mean, episodes=len(eval_returns), share=share, sure_share=config.check_share)
    if mean >= config.solve_threshold:
        return LandingVerdict(lands=True, causes=[], **verdict)
    name, defaults, changed = type(config).__name__, type(config)(), changed_settings(config)
    another_seed = f'train again with another seed, e.g. {name}(seed={config.seed + 1})'
    best_training_mean = max((float(np.mean(result.episode_returns[max(0, i + 1 - config.solve_window):i + 1]))
                              for i in range(len(result.episode_returns))), default=float('nan'))
    if result.interrupted:
        cause = (f'training was interrupted after {result.env_steps:,} steps: run the training cell again and '
                 f'let it finish')
    elif result.env_steps < 100_000:
        cause = (f'training had only {result.env_steps:,} steps (total_steps = {config.total_steps:,}), and a '
                 f'landing takes 100k to 500k: train with the full budget, total_steps = '
                 f'{defaults.total_steps:,} (in the notebook: QUICK = False)')
    elif result.landed:
        cause = (f'a check passed at {result.landed_at:,} steps ({result.checks[-1].describe()}), but the policy '
                 f'is borderline: {another_seed}')
    elif result.checks:
        solved = (f'the sampled policy scored (training mean >= {config.solve_threshold:g} at '
                  f'{result.solved_at:,} steps), but ' if result.solved else '')
        cause = (f'{solved}the greedy policy never passed a check (best {max(c.mean for c in result.checks):.1f})'
                 f': it hovers or drifts instead of touching down; {another_seed}')
    elif best_training_mean < 0:
        cause = (f'the training return never rose above 0 (best mean of {config.solve_window} episodes: '
                 f'{best_training_mean:.1f}): ' +
                 ('with the default settings this would point to a bug in your code; with yours, train with '
                  'the defaults first' if changed else
                  'this points to a bug in compute_advantages or compute_loss that the tests did not catch, '
                  'e.g. a sign, a term mixed up between environments or episodes, or critic targets that carry '
                  'gradients. Run the tests again and reread your code'))
    else:
        cause = (f'the training return rose (best mean {best_training_mean:.1f}) but not to {config.check_from:g}, '
                 f'where the checks of the greedy policy start, within {result.env_steps:,} steps: {another_seed}'
                 + ('' if changed else '; if that fails too, look for a subtle bug in your code (the discount or '
                                       'lambda in the wrong place, a truncation treated as a termination)'))
    causes, cut_short = [cause], result.interrupted or result.env_steps < 100_000
    if changed:
        # a setting the student chose, not their code, is the likelier cause, unless the run was cut short
        settings = (f'{"; ".join(changed)}: the defaults land on nearly every seed, a changed setting may not '
                    f'(or not within the budget): train with {name}() to tell your code from your settings')
        causes.insert(1 if cut_short else 0, settings)
    elif not cut_short:
        causes.append('a correct implementation lands on nearly every seed with the default settings: if a '
                      'second seed does not land either, the cause is most likely in your code')
    return LandingVerdict(lands=False, causes=causes, **verdict)
