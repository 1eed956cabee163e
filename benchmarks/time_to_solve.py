"""Time to solve LunarLander-v3: the reference trainer on several seeds, optionally beside
Stable-Baselines3's PPO with rl-zoo's hyperparameters, on the same seeds and criterion.

    python benchmarks/time_to_solve.py                    # seeds 0-4, the kit's trainer
    python benchmarks/time_to_solve.py --peer sb3         # and SB3 (pip install -r benchmarks/requirements.txt)

Solved: the mean return of the last 100 training episodes reaches 200. Then the greedy
policy is evaluated on the same 100 fresh seeds for both. With --jobs 1 (the default)
runs are sequential, so that each is timed on an otherwise idle machine; with --jobs 2
two seeds run at once, each running the kit's trainer and then the peer, so that both
are timed under the same load. Compare the ratios of one run rather than seconds across
machines. Prints a table and writes JSON (and a PNG of the learning curves) to --out.
"""

import argparse
import dataclasses
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import ppo_reference  # noqa: E402
import rl_gui  # noqa: E402

# rl-zoo's hyperparameters for LunarLander-v3 (hyperparams/ppo.yml)
SB3_HYPERPARAMETERS = dict(n_steps=1024, batch_size=64, n_epochs=4, gamma=0.999, gae_lambda=0.98, ent_coef=0.01)
SB3_NUM_ENVS = 16


def run_ours(seed, budget):
    config = ppo_reference.Config(seed=seed, total_steps=budget)
    result = ppo_reference.train(config)
    returns = ppo_reference.evaluate(result.ac, episodes=100)
    return {'solved': result.solved, 'env_steps': result.env_steps, 'seconds': result.train_seconds,
            'eval_mean': float(returns.mean()), 'eval_std': float(returns.std()),
            'episode_returns': result.episode_returns, 'episode_end_steps': result.episode_end_steps}


def run_sb3(seed, budget):
    from stable_baselines3 import PPO as SB3PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    class StopWhenSolved(BaseCallback):
        def __init__(self):
            super().__init__()
            self.returns, self.end_steps, self.solved = [], [], False

        def _on_step(self):
            for info in self.locals['infos']:
                if 'episode' in info:
                    self.returns.append(float(info['episode']['r']))
                    self.end_steps.append(self.num_timesteps)
            self.solved = len(self.returns) >= 100 and np.mean(self.returns[-100:]) >= 200
            return not self.solved

    torch.set_num_threads(1)
    envs = make_vec_env('LunarLander-v3', n_envs=SB3_NUM_ENVS, seed=seed)
    model = SB3PPO('MlpPolicy', envs, seed=seed, device='cpu', verbose=0, **SB3_HYPERPARAMETERS)
    callback = StopWhenSolved()
    start = time.perf_counter()
    model.learn(total_timesteps=budget, callback=callback)
    seconds = time.perf_counter() - start

    def act(model, states):
        return torch.as_tensor(model.predict(states.numpy(), deterministic=True)[0])
    returns = ppo_reference.evaluate(model, episodes=100, act=act)
    return {'solved': bool(callback.solved), 'env_steps': int(model.num_timesteps), 'seconds': seconds,
            'eval_mean': float(returns.mean()), 'eval_std': float(returns.std()),
            'episode_returns': callback.returns, 'episode_end_steps': callback.end_steps}


def run_seed(job):
    """The kit's trainer, then the peer if any, on one seed; prints their rows."""
    seed, budget, peer, peer_budget = job
    entry = {'seed': seed, 'ours': run_ours(seed, budget)}
    print(row('ours', seed, entry['ours']), flush=True)
    if peer == 'sb3':
        entry['sb3'] = run_sb3(seed, peer_budget)
        print(row('sb3', seed, entry['sb3']), flush=True)
        entry['sb3_over_ours'] = {
            'seconds': entry['sb3']['seconds'] / entry['ours']['seconds'],
            'env_steps': entry['sb3']['env_steps'] / entry['ours']['env_steps']}
        print(f'{"ratio":<6} {seed:>4}  SB3 / ours: {entry["sb3_over_ours"]["seconds"]:.1f}x the wall-clock, '
              f'{entry["sb3_over_ours"]["env_steps"]:.1f}x the env steps', flush=True)
    return entry


def seeds_from(text):
    seeds = []
    for part in text.split(','):
        first, _, last = part.partition('-')
        seeds += list(range(int(first), int(last or first) + 1))
    return seeds


def row(name, seed, run):
    return (f'{name:<6} {seed:>4}  {"yes" if run["solved"] else "NO":<6} {run["env_steps"]:>10,}  '
            f'{run["seconds"]:>8.1f}  {run["env_steps"] / run["seconds"]:>8,.0f}  '
            f'{run["eval_mean"]:>7.1f} ± {run["eval_std"]:<5.1f}')


def plot(results, path):
    from matplotlib.figure import Figure
    trainers = [name for name in ('ours', 'sb3') if any(name in r for r in results)]
    figure = Figure(figsize=(6 * len(trainers), 3.4), dpi=100, layout='constrained')
    for index, name in enumerate(trainers):
        ax = figure.add_subplot(1, len(trainers), index + 1)
        for r in results:
            if name in r:
                run = r[name]
                ax.plot(run['episode_end_steps'], rl_gui.moving_average(run['episode_returns'], 100),
                        label=f'seed {r["seed"]}')
        ax.axhline(200, color='grey', linestyle='--', linewidth=1)
        ax.set(title={'ours': 'this kit (ppo_reference.py)', 'sb3': 'SB3 PPO, rl-zoo hyperparameters'}[name],
               xlabel='environment steps', ylabel='mean return of the last 100 episodes', ylim=(-300, 300))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc='lower right')
    figure.savefig(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seeds', default='0-4', help='e.g. 0-4 or 0,3,7 (default: %(default)s)')
    parser.add_argument('--total-steps', type=int, default=ppo_reference.Config.total_steps,
                        help="the kit's step budget (default: %(default)s)")
    parser.add_argument('--peer', choices=['sb3'], help='also run this trainer on the same seeds')
    parser.add_argument('--peer-steps', type=int, default=3_000_000, help="the peer's step budget")
    parser.add_argument('--jobs', type=int, default=1, help='seeds run at once (default: %(default)s)')
    parser.add_argument('--out', default=os.path.join(ROOT, 'benchmarks', 'results'),
                        help='folder for time_to_solve.json and learning_curves.png')
    args = parser.parse_args(argv)
    if args.peer == 'sb3':
        try:
            import stable_baselines3  # noqa: F401
        except ImportError:
            parser.error('--peer sb3 needs stable-baselines3: pip install -r benchmarks/requirements.txt')
    os.makedirs(args.out, exist_ok=True)

    print(f'{"who":<6} {"seed":>4}  {"solved":<6} {"env steps":>10}  {"seconds":>8}  {"steps/s":>8}  eval (greedy, 100)')
    jobs = [(seed, args.total_steps, args.peer, args.peer_steps) for seed in seeds_from(args.seeds)]
    if args.jobs == 1:
        results = [run_seed(job) for job in jobs]
    else:
        with multiprocessing.get_context('spawn').Pool(args.jobs) as pool:
            results = sorted(pool.imap_unordered(run_seed, jobs), key=lambda entry: entry['seed'])

    ours = [r['ours'] for r in results]
    summary = {'solved': sum(run['solved'] for run in ours), 'runs': len(ours),
               'median_seconds': statistics.median(run['seconds'] for run in ours),
               'median_env_steps': statistics.median(run['env_steps'] for run in ours),
               'eval_at_least_200': sum(run['eval_mean'] >= 200 for run in ours)}
    print(f'\nours: {summary["solved"]}/{summary["runs"]} solved, median {summary["median_seconds"]:.1f} s and '
          f'{summary["median_env_steps"]:,.0f} env steps to solve, greedy evaluation >= 200 in '
          f'{summary["eval_at_least_200"]}/{summary["runs"]}')
    if args.peer:
        ratios = [r['sb3_over_ours'] for r in results]
        summary['median_sb3_over_ours'] = {key: statistics.median(r[key] for r in ratios) for key in ratios[0]}
        print(f'SB3 / ours, median over seeds: {summary["median_sb3_over_ours"]["seconds"]:.1f}x the wall-clock, '
              f'{summary["median_sb3_over_ours"]["env_steps"]:.1f}x the env steps')

    machine = {'python': platform.python_version(), 'torch': torch.__version__, 'cpus': os.cpu_count(),
               'processor': platform.processor() or platform.machine(), 'jobs': args.jobs}
    with open(os.path.join(args.out, 'time_to_solve.json'), 'w') as file:
        json.dump({'machine': machine, 'hyperparameters': dataclasses.asdict(ppo_reference.Config()), 'summary': summary,
                   'sb3_hyperparameters': dict(SB3_HYPERPARAMETERS, n_envs=SB3_NUM_ENVS) if args.peer else None,
                   'results': results}, file)
    plot(results, os.path.join(args.out, 'learning_curves.png'))
    print(f'wrote {os.path.join(args.out, "time_to_solve.json")} and learning_curves.png')


if __name__ == '__main__':
    main()
