"""Where the trainer's time goes: the environments, the policy during rollouts, and the
learner, each measured on its own; and the cost of encoding one rendered frame.

    python benchmarks/profile_trainer.py [--rollouts 20] [--seed 0] [--total-steps N]

First, from one run of the whole trainer (ppo_reference.train, the default Config on --seed,
until it lands or --total-steps): the environments' own steps per second with random actions
(the limit of this loop on one core), the trainer's, their ratio, and where the trainer's
time goes: the environments' steps inside the rollouts, the policy's forward pass there, the
update (ppo_update), the landing checks' cost to training (after_update: sending weights,
collecting results; the checks play beside it), and the rest (storing the rollout, the
episode tracker, the schedules).

It also times the learner's two savings (rl_kit/training.py) against their alternatives,
interleaved in one process: the entropy bonus from the scores compute_loss computed
(ActorScores) against a second forward pass of the actor, and Adam's fused step against
its default one; and the saving the kit dropped: the entropy written out by hand against
torch.distributions.Categorical's, which the kit uses (the same result, bit for bit).

Run it on an otherwise idle machine: the figures are seconds, and a second process on a
2-core machine changes them.
"""

import argparse
import os
import sys
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import ppo_reference  # noqa: E402
import rl_gui  # noqa: E402
from ppo_reference import Config, PPO, collect_rollout, make_envs, ppo_update  # noqa: E402
from rl_kit.training import ActorScores, EpisodeTracker, make_optimizer  # noqa: E402


def timed(function, repeat):
    start = time.perf_counter()
    for _ in range(repeat):
        function()
    return (time.perf_counter() - start) / repeat


class NoScoresKept(ActorScores):
    # keeps nothing, so the entropy bonus runs the actor a second time
    def _keep(self, module, inputs, output):
        pass


class WrittenOutEntropy(ActorScores):
    # the entropy written out by hand: the operations of Categorical's entropy, without
    # building a distribution and validating its argument at every minibatch
    def entropy(self):
        scores = self.value if self.value is not None else self.actor(self.states)
        log_probs = scores - scores.logsumexp(dim=-1, keepdim=True)
        probs = torch.softmax(log_probs, dim=-1)
        log_probs = log_probs.clamp(min=torch.finfo(log_probs.dtype).min)
        return -(probs * log_probs).sum(dim=-1).mean()


class Timers:
    """Seconds spent in each timed part of one run; wrap(name, function) times every call."""

    def __init__(self):
        self.seconds = {}

    def wrap(self, name, function):
        self.seconds.setdefault(name, 0.0)

        def timed_call(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start
        return timed_call


def profile_run(config):
    """One run of ppo_reference.train(config) with its parts timed: (TrainResult, Timers)."""
    from rl_kit.training import LandingChecks
    timers, kit = Timers(), (ppo_reference.make_envs, ppo_reference.PPO, ppo_reference.ppo_update,
                             ppo_reference.LandingChecks)

    def make_timed_envs(env_id, num_envs):
        envs = kit[0](env_id, num_envs)
        envs.step = timers.wrap('environments', envs.step)
        return envs

    class TimedPPO(kit[1]):
        def select_actions(self, states):
            return timed_select(self, states)
    timed_select = timers.wrap('policy in the rollout', kit[1].select_actions)

    class TimedChecks(LandingChecks):
        after_update = timers.wrap('landing checks (their cost to training)', LandingChecks.after_update)

    ppo_reference.make_envs, ppo_reference.PPO, ppo_reference.LandingChecks = make_timed_envs, TimedPPO, TimedChecks
    ppo_reference.ppo_update = timers.wrap('update (ppo_update)', kit[2])
    try:
        result = ppo_reference.train(config)
    finally:
        ppo_reference.make_envs, ppo_reference.PPO, ppo_reference.ppo_update, ppo_reference.LandingChecks = kit
    return result, timers


def random_steps_per_second(config, steps=20_000):
    """The environments alone, stepped with random actions: N envs, as in a rollout."""
    envs = make_envs(config.env_id, config.num_envs)
    envs.reset(seed=0)
    rng = np.random.default_rng(0)
    calls = steps // config.num_envs
    seconds = timed(lambda: envs.step(rng.integers(0, 4, config.num_envs)), calls)
    envs.close()
    return config.num_envs / seconds


def report_run(config):
    limit = random_steps_per_second(config)
    result, timers = profile_run(config)
    trainer = result.env_steps / result.train_seconds
    print(f'one run of the trainer (seed {config.seed}, {result.status()} after {result.env_steps:,} env steps, '
          f'{len(result.checks)} checks {"beside training" if result.checks_in_background else "inline"}):')
    print(f'  environments alone, random actions:  {limit:8,.0f} steps/s  (the limit of this loop on one core)')
    print(f'  the whole trainer:                   {trainer:8,.0f} steps/s  ({trainer / limit:.2f}x the limit, '
          f'{result.train_seconds:.1f} s)')
    order = ('environments', 'policy in the rollout', 'update (ppo_update)', 'landing checks (their cost to training)')
    parts = {name: timers.seconds[name] for name in order}
    parts['the rest (rollout storage, tracker, schedules)'] = result.train_seconds - sum(parts.values())
    print(f'  where the trainer\'s {result.train_seconds:.1f} s go:')
    for name, seconds in parts.items():
        print(f'    {name:<46} {seconds:7.1f} s  {100 * seconds / result.train_seconds:5.1f}%')
    print(f'  (inside the rollouts the environments ran {result.env_steps / parts["environments"]:,.0f} steps/s: '
          f'a trained policy flies other states than random actions)')


def compare_learners(ac, config, rollout, rounds):
    """Seconds per ppo_update of the kit's learner and of each alternative, interleaved."""
    variants = {  # name: (ActorScores, Adam's options), each differing from the kit in one
        'kit (scores reused, fused Adam)': (ActorScores, {'fused': True}),
        'second actor pass for the entropy': (NoScoresKept, {'fused': True}),
        "Adam's default step": (ActorScores, {}),
        'entropy written out (not kept)': (WrittenOutEntropy, {'fused': True}),
    }
    optimizers = {name: torch.optim.Adam(ac.parameters(), lr=config.learning_rate, eps=1e-5, **options)
                  for name, (_, options) in variants.items()}
    seconds = {name: [] for name in variants}
    generator = torch.Generator().manual_seed(0)
    try:
        for _ in range(rounds):
            for name, (scores_class, _) in variants.items():
                ppo_reference.ActorScores = scores_class  # the name ppo_update calls
                seconds[name].append(timed(lambda: ppo_update(ac, optimizers[name], rollout, config, generator), 1))
    finally:
        ppo_reference.ActorScores = ActorScores
    return {name: float(np.median(values)) for name, values in seconds.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--rollouts', type=int, default=20, help='rollouts to time (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0, help='the seed of the profiled run (default: %(default)s)')
    parser.add_argument('--total-steps', type=int, default=Config.total_steps,
                        help='cut the profiled run at this many env steps (default: until it lands)')
    args = parser.parse_args(argv)
    report_run(Config(seed=args.seed, total_steps=args.total_steps))
    config = Config()
    torch.set_num_threads(config.torch_threads)
    torch.manual_seed(0)
    envs = make_envs(config.env_id, config.num_envs)
    ac = PPO(8, 4, config.gamma, config.lmbda, config.epsilon, config.num_steps)
    optimizer = make_optimizer(ac, config)
    observations, _ = envs.reset(seed=0)
    batch = config.batch_size

    # 1. the environments alone, with random actions
    rng = np.random.default_rng(0)
    env_seconds = timed(lambda: envs.step(rng.integers(0, 4, config.num_envs)), batch // config.num_envs * args.rollouts)
    env_seconds *= batch // config.num_envs

    # 2. a whole rollout: environments + policy + storage
    state = {'states': torch.from_numpy(observations), 'steps': 0}
    tracker = EpisodeTracker(config.num_envs, config.solve_window, config.solve_threshold)
    rollouts = []

    def rollout():
        result, state['states'], state['steps'] = collect_rollout(envs, ac, state['states'], config.num_steps,
                                                                  tracker, state['steps'])
        rollouts.append(result)
    rollout_seconds = timed(rollout, args.rollouts)

    # 3. the learner on one rollout: old log-probs, GAE, K epochs of minibatch steps
    generator = torch.Generator().manual_seed(0)
    compared = compare_learners(ac, config, rollouts[0], args.rollouts)
    learner_seconds = timed(lambda: ppo_update(ac, optimizer, rollouts.pop(), config, generator), args.rollouts)

    # 4. one GAE call and one forward pass of the policy for N states
    states = torch.randn(config.num_envs, 8)
    policy_seconds = timed(lambda: ac.select_actions(states), 2000)
    data = [torch.randn(batch, 8), torch.randn(batch), torch.randn(batch, 8), torch.rand(batch) < 0.01,
            torch.zeros(batch, dtype=torch.bool)]
    gae_seconds = timed(lambda: ac.compute_advantages(*data), 200)

    # 5. rendering: encode one 600x400 frame with a caption
    import gymnasium as gym
    env = gym.make(config.env_id, render_mode='rgb_array')
    env.reset(seed=0)
    frame = env.render()
    font = rl_gui._font(16)
    encode_seconds = timed(lambda: rl_gui.encode_frame(frame, 'sum of rewards: -123.45', font=font), 300)

    per_rollout = rollout_seconds + learner_seconds
    print(f'batch of {batch} transitions ({config.num_envs} envs x {config.num_steps} steps), '
          f'{config.update_epochs} epochs of minibatches of {config.minibatch_size}, torch threads {config.torch_threads}')
    print(f'environments alone (random actions): {batch / env_seconds:8,.0f} steps/s  '
          f'({1000 * env_seconds:6.1f} ms per batch)')
    print(f'rollout (envs + policy + storage):   {batch / rollout_seconds:8,.0f} steps/s  '
          f'({1000 * rollout_seconds:6.1f} ms per batch; policy {1e6 * policy_seconds:.0f} us per step of N envs)')
    print(f'learner (log-probs, GAE, update):    {batch / learner_seconds:8,.0f} steps/s  '
          f'({1000 * learner_seconds:6.1f} ms per batch; GAE {1000 * gae_seconds:.2f} ms)')
    print(f'whole iteration:                     {batch / per_rollout:8,.0f} steps/s  '
          f'(rollout {100 * rollout_seconds / per_rollout:.0f}%, learner {100 * learner_seconds / per_rollout:.0f}%)')
    kit = compared['kit (scores reused, fused Adam)']
    print(f'learner, median of {args.rollouts} interleaved updates of one rollout:')
    for name, seconds in compared.items():
        print(f'  {name:<36} {1000 * seconds:6.1f} ms per batch ({seconds / kit:.2f}x the kit)')
    print(f'rl_gui: encoding one 600x400 frame with a caption: {1000 * encode_seconds:.2f} ms')


if __name__ == '__main__':
    main()
