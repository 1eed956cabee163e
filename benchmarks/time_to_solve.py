"""Time to land LunarLander-v3: the reference trainer on several seeds, optionally beside
Stable-Baselines3's PPO with rl-zoo's hyperparameters, on the same seeds and stopping rule.

    python benchmarks/time_to_solve.py                    # the held-out seeds 200-229, the kit's trainer
    python benchmarks/time_to_solve.py --seeds 200-204 --peer sb3   # and SB3 (benchmarks/requirements.txt)
    python benchmarks/time_to_solve.py --seeds 200-204 --peer sb3 --peer-max-ratio 15   # is SB3 >= 15x slower?
    # or SB3 alone first (e.g. in the background), then ours beside its results:
    python benchmarks/time_to_solve.py --seeds 200-204 --peer sb3 --peer-only --peer-max-seconds 1350 --out DIR
    python benchmarks/time_to_solve.py --seeds 200-204 --peer sb3 --peer-results DIR/time_to_solve.json
    # (DIR/runs.jsonl instead keeps the seeds done if the peer's run was stopped); or the kit's
    # held-out runs that ran beside it, side by side, without running anything:
    python benchmarks/time_to_solve.py --seeds 200-204 --peer sb3 --peer-results DIR/runs.jsonl \
        --ours-results HELDOUT/runs.jsonl --out DIR

The stopping rule (rl_kit.training.LandingChecks, the default Config's), for both trainers:
once the mean return of the last 100 training episodes reaches 50, the greedy policy plays
a check at every block of 8,192 steps, in stages of 20/40/60/100 episodes, until one shows a
mean >= 200 and, with 99% confidence, at least 80% of its episodes >= 200 ("landed at");
"solved at" is where that training mean reached 200, if it did. Then the greedy policy is
evaluated on the same 100 other fresh seeds for both trainers: its mean and the share of
episodes >= 200 (with a 95% Wilson interval). SB3 takes about an hour a seed on a slow 2-core machine:
--peer-max-ratio K stops it at K times the kit's wall-clock on the same seed, which shows
a ratio of at least K. With --jobs 1 (the default) runs are
sequential, so that each is timed with nothing else of ours running, and the kit's checks
run beside its training on the second core (rl_kit.training.LandingChecks); with --jobs 2
two seeds run at once, each on one core, and the kit's checks run inline (a pool's worker
cannot start a second process). SB3's checks always run inline: the headline ratio counts
SB3's seconds without them. Each row records the 1-minute load average when the run started:
seconds are comparable only under similar load; env steps are deterministic per seed.
Prints a table and the distribution over seeds (worst, median, best), and writes JSON (and
a PNG of the learning curves) to --out.
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

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import ppo_reference  # noqa: E402
import rl_gui  # noqa: E402
from rl_kit.training import EpisodeTracker, LandingChecks, LandingShare, evaluate  # noqa: E402

# rl-zoo's hyperparameters for LunarLander-v3 (hyperparams/ppo.yml)
SB3_HYPERPARAMETERS = dict(n_steps=1024, batch_size=64, n_epochs=4, gamma=0.999, gae_lambda=0.98, ent_coef=0.01)
SB3_NUM_ENVS = 16


def load_average():
    return round(os.getloadavg()[0], 2)


def checks_record(checks):
    # every check: [env steps, episodes played, episodes >= 200, mean, seconds playing, seconds from its
    # check point until training had its result, checks ahead of it in the second process]
    return [[check.env_steps, len(check.returns), check.wins, round(check.mean, 2), round(check.seconds, 2),
             round(check.latency, 2), check.queued] for check in checks]


def evaluation_record(returns):
    share = LandingShare.of(returns, 200.0)
    return {'eval_mean': float(returns.mean()), 'eval_std': float(returns.std()), 'eval_share': share.share,
            'eval_share_95ci': [share.low, share.high]}


def run_ours(seed, budget):
    load = load_average()
    config = ppo_reference.Config(seed=seed, total_steps=budget)
    result = ppo_reference.train(config)
    returns = evaluate(result.ac, config, episodes=100)
    return {'landed': result.landed, 'solved_at': result.solved_at, 'landed_at': result.landed_at,
            'env_steps': result.env_steps, 'seconds': result.train_seconds, 'check_seconds': result.check_seconds,
            'checks_in_background': result.checks_in_background, 'checks': checks_record(result.checks),
            **evaluation_record(returns), 'load': [load, load_average()],
            'episode_returns': result.episode_returns, 'episode_end_steps': result.episode_end_steps}


def run_sb3(seed, budget, max_seconds=None):
    """SB3's PPO to the same stopping rule as ours: once the mean of the last 100 training
    episodes reaches check_from (50), the greedy policy plays the same checks (the kit's
    LandingChecks, inline) every check_interval steps, at the end of a rollout, until one
    passes. With max_seconds, the run also stops when its wall-clock passes it ("cut"): it
    then shows only that SB3 needs longer than that, a lower bound of its time."""
    from stable_baselines3 import PPO as SB3PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    config = ppo_reference.Config(seed=seed, total_steps=budget)

    def act(model, states):
        return torch.as_tensor(model.predict(states.numpy(), deterministic=True)[0])

    class StopWhenLanded(BaseCallback):
        def __init__(self):
            super().__init__()
            self.tracker = EpisodeTracker(SB3_NUM_ENVS, config.solve_window, config.solve_threshold)
            self.checks = None  # LandingChecks of the model, once learn() has set it
            self.cut = False

        def _on_step(self):
            for info in self.locals['infos']:
                if 'episode' in info:
                    self.tracker.returns.append(float(info['episode']['r']))
                    self.tracker.end_steps.append(self.num_timesteps)
            # SB3 has no update boundary here: "solved" is noted at the step the training mean reached it
            self.tracker.note_solved(self.num_timesteps)
            if max_seconds is not None and time.perf_counter() - start > max_seconds:
                self.cut = True
            return (self.checks is None or self.checks.landed_at is None) and not self.cut

        def _on_rollout_start(self):
            # after an update, before the next rollout: the policy checked is the one that is kept
            if self.checks is None:
                self.checks = LandingChecks(self.model, config, self.tracker, act=act, background=False)
            self.checks.after_update(self.num_timesteps)

    load = load_average()
    torch.set_num_threads(1)
    envs = make_vec_env(config.env_id, n_envs=SB3_NUM_ENVS, seed=seed)
    model = SB3PPO('MlpPolicy', envs, seed=seed, device='cpu', verbose=0, **SB3_HYPERPARAMETERS)
    callback = StopWhenLanded()
    start = time.perf_counter()
    model.learn(total_timesteps=budget, callback=callback)
    seconds = time.perf_counter() - start
    returns = evaluate(model, config, episodes=100, act=act)
    checks = callback.checks.checks if callback.checks is not None else []
    landed_at = callback.checks.landed_at if callback.checks is not None else None
    return {'landed': landed_at is not None, 'solved_at': callback.tracker.solved_at,
            'landed_at': landed_at, 'env_steps': int(model.num_timesteps), 'seconds': seconds,
            'check_seconds': sum(check.seconds for check in checks), 'cut': callback.cut, 'max_seconds': max_seconds,
            'checks': checks_record(checks), **evaluation_record(returns), 'load': [load, load_average()],
            'episode_returns': callback.tracker.returns, 'episode_end_steps': callback.tracker.end_steps}


def run_seed(job):
    """The trainers of `job` on one seed, one after the other; prints their rows."""
    seed, budget, trainers, peer_budget, peer_max_ratio, peer_max_seconds = job
    entry = {'seed': seed}
    for name in trainers:
        if name == 'ours':
            entry[name] = run_ours(seed, budget)
        else:
            max_seconds = peer_max_ratio * entry['ours']['seconds'] if peer_max_ratio and 'ours' in entry else None
            if peer_max_seconds is not None:
                max_seconds = peer_max_seconds if max_seconds is None else min(max_seconds, peer_max_seconds)
            entry[name] = run_sb3(seed, peer_budget, max_seconds)
        print(row(name, seed, entry[name]), flush=True)
    return entry


def add_ratios(entry):
    # A cut SB3 run (see run_sb3) gives a lower bound: SB3 needs at least this ratio.
    # SB3's checks run inline, the kit's beside training (when it runs solo): the headline
    # ratio ('seconds') counts SB3 without its checks, as if they had cost it nothing, so
    # that it does not credit the kit with SB3's checks; 'seconds_with_checks' counts them.
    sb3, ours, cut = entry['sb3'], entry['ours'], entry['sb3'].get('cut', False)
    entry['sb3_over_ours'] = {'seconds': (sb3['seconds'] - sb3['check_seconds']) / ours['seconds'],
                              'seconds_with_checks': sb3['seconds'] / ours['seconds'],
                              'env_steps': sb3['env_steps'] / ours['env_steps'],
                              'lower_bound': cut}
    ratio, at_least = entry['sb3_over_ours'], 'at least ' if cut else ''
    print(f'{"ratio":<6} {entry["seed"]:>4}  SB3 / ours: {at_least}{ratio["seconds"]:.1f}x the wall-clock '
          f'without SB3\'s checks ({ratio["seconds_with_checks"]:.1f}x with them), {at_least}'
          f'{ratio["env_steps"]:.1f}x the env steps' + (' (SB3 cut at its time limit, not landed)' if cut else ''),
          flush=True)


def distribution(values):
    """(worst, median, best) of steps or seconds: the worst is the largest."""
    values = sorted(values)
    return {'worst': values[-1], 'median': statistics.median(values), 'best': values[0]}


def seeds_from(text):
    seeds = []
    for part in text.split(','):
        first, _, last = part.partition('-')
        seeds += list(range(int(first), int(last or first) + 1))
    return seeds


def row(name, seed, run):
    def at(steps):
        return f'{steps:>10,}' if steps is not None else f'{"never":>10}'
    landed = 'yes' if run['landed'] else 'cut' if run.get('cut') else 'NO'
    low, high = run['eval_share_95ci']
    checks = run['checks']
    return (f'{name:<6} {seed:>4}  {landed:<6} {at(run["solved_at"])}  '
            f'{at(run["landed_at"])}  {run["seconds"]:>8.1f}  {run["env_steps"] / run["seconds"]:>8,.0f}  '
            f'{run["eval_mean"]:>7.1f} ± {run["eval_std"]:<5.1f} {run["eval_share"]:>5.0%} [{low:.0%}-{high:.0%}]  '
            f'{len(checks):>3} {sum(c[1] for c in checks):>5} {max((c[5] for c in checks), default=0):>6.1f} '
            f'{max((c[6] for c in checks), default=0):>3}  {run["load"][0]:>5.1f}')


HEADER = (f'{"who":<6} {"seed":>4}  {"landed":<6} {"solved at":>10}  {"landed at":>10}  {"seconds":>8}  '
          f'{"steps/s":>8}  eval (greedy, 100) >= 200 [95% CI]  checks episodes behind queue  load\n'
          f'{"":<80}(behind: the most seconds from a check point to its result; queue: the most checks waiting)')


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


def summarize(runs):
    landed = [run for run in runs if run['landed']]
    summary = {'runs': len(runs), 'landed': len(landed),
               'eval_at_least_200': sum(run['eval_mean'] >= 200 for run in runs),
               'landed_with_share_below_80': sum(run['landed'] and run['eval_share'] < 0.8 for run in runs),
               'eval_share': distribution([-run['eval_share'] for run in runs]),
               'env_steps': distribution([run['env_steps'] for run in runs]),
               'seconds': distribution([run['seconds'] for run in runs]),
               'eval_mean': distribution([-run['eval_mean'] for run in runs])}
    for key in ('eval_mean', 'eval_share'):  # worst = lowest
        summary[key] = {name: -value for name, value in summary[key].items()}
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seeds', default='200-229', help='e.g. 200-229 or 0,3,7 (default: %(default)s, the '
                        'held-out seeds: the hyperparameters were tuned on 0-29)')
    parser.add_argument('--total-steps', type=int, default=ppo_reference.Config.total_steps,
                        help="the kit's step budget (default: %(default)s)")
    parser.add_argument('--peer', choices=['sb3'], help='also run this trainer on the same seeds')
    parser.add_argument('--peer-only', action='store_true', help='run only the peer (e.g. in the background)')
    parser.add_argument('--peer-results', metavar='JSON',
                        help="take the peer's runs from this time_to_solve.json (or runs.jsonl, which keeps the "
                             "seeds done of a run that was stopped) of a --peer-only run")
    parser.add_argument('--ours-results', metavar='JSON',
                        help="take the kit's runs from this time_to_solve.json or runs.jsonl instead of running "
                             "them (e.g. the held-out runs that ran beside a --peer-only run)")
    parser.add_argument('--peer-steps', type=int, default=3_000_000, help="the peer's step budget")
    parser.add_argument('--peer-max-ratio', type=float, metavar='K',
                        help="stop the peer once its wall-clock passes K times the kit's on the same seed: "
                             "a cut run shows the ratio is at least K, in K times the kit's time instead of "
                             "SB3's full time (about an hour a seed on a slow machine)")
    parser.add_argument('--peer-max-seconds', type=float, metavar='S',
                        help='stop the peer once its wall-clock passes S seconds (also with --peer-only: beside '
                             "the kit's run of T seconds on the same seed, a cut run shows a ratio of at least "
                             '(S - its checks) / T)')
    parser.add_argument('--jobs', type=int, default=1, help='seeds run at once (default: %(default)s)')
    parser.add_argument('--out', default=os.path.join(ROOT, 'benchmarks', 'results'),
                        help='folder for time_to_solve.json and learning_curves.png')
    args = parser.parse_args(argv)
    if (args.peer_only or args.peer_results) and not args.peer:
        parser.error('--peer-only and --peer-results need --peer')
    if args.ours_results and not args.peer_results:
        parser.error('--ours-results puts recorded runs side by side: it needs --peer-results too')
    if args.peer == 'sb3' and not args.peer_results:
        try:
            import stable_baselines3  # noqa: F401
        except ImportError:
            parser.error('--peer sb3 needs stable-baselines3: pip install -r benchmarks/requirements.txt')
    def recorded(path, name):
        # {seed: run} of trainer `name` from a time_to_solve.json or a runs.jsonl
        with open(path) as file:
            entries = ([json.loads(line) for line in file if line.strip()] if path.endswith('.jsonl')
                       else json.load(file)['results'])
        return {entry['seed']: entry[name] for entry in entries if name in entry}
    peer_runs = recorded(args.peer_results, args.peer) if args.peer_results else {}
    ours_runs = recorded(args.ours_results, 'ours') if args.ours_results else {}
    os.makedirs(args.out, exist_ok=True)

    trainers = ([] if args.peer_only or args.ours_results else ['ours']) + (
        [args.peer] if args.peer and not args.peer_results else [])
    if args.peer_max_ratio and 'ours' not in trainers:
        parser.error("--peer-max-ratio needs the kit's run on the same seed (not --peer-only)")
    print(HEADER)
    jobs = [(seed, args.total_steps, trainers, args.peer_steps, args.peer_max_ratio, args.peer_max_seconds)
            for seed in seeds_from(args.seeds)]
    results = [{'seed': seed, 'ours': ours_runs[seed]} for seed in seeds_from(args.seeds) if seed in ours_runs]
    if args.ours_results:
        jobs = []  # nothing to run: ours from --ours-results, the peer from --peer-results
        for entry in results:
            print(row('ours', entry['seed'], entry['ours']) + '  (from --ours-results)')
    # each seed's entry is also appended to runs.jsonl as soon as it is done, so that a long
    # benchmark that is stopped keeps what it has measured
    with open(os.path.join(args.out, 'runs.jsonl'), 'a') as runs_file:
        def keep(entry):
            results.append(entry)
            runs_file.write(json.dumps(entry) + '\n')
            runs_file.flush()
        if args.jobs == 1:
            for job in jobs:
                keep(run_seed(job))
        else:
            with multiprocessing.get_context('spawn').Pool(args.jobs) as pool:
                for entry in pool.imap_unordered(run_seed, jobs):
                    keep(entry)
    results.sort(key=lambda entry: entry['seed'])
    for entry in results:
        if entry['seed'] in peer_runs:
            entry[args.peer] = peer_runs[entry['seed']]
            print(row(args.peer, entry['seed'], entry[args.peer]) + '  (from --peer-results)')
        if 'ours' in entry and 'sb3' in entry:
            add_ratios(entry)

    summary = {}
    for name in ('ours', 'sb3'):
        runs = [entry[name] for entry in results if name in entry]
        if runs:
            summary[name] = s = summarize(runs)
            print(f'\n{name}: {s["landed"]}/{s["runs"]} landed (stopping rule), greedy evaluation >= 200 in '
                  f'{s["eval_at_least_200"]}/{s["runs"]}, landed with < 80% of its episodes >= 200: '
                  f'{s["landed_with_share_below_80"]}; share >= 200 worst {s["eval_share"]["worst"]:.0%}, median '
                  f'{s["eval_share"]["median"]:.0%}, best {s["eval_share"]["best"]:.0%}; env steps worst '
                  f'{s["env_steps"]["worst"]:,.0f}, median '
                  f'{s["env_steps"]["median"]:,.0f}, best {s["env_steps"]["best"]:,.0f}; seconds worst '
                  f'{s["seconds"]["worst"]:.1f}, median {s["seconds"]["median"]:.1f}, best {s["seconds"]["best"]:.1f}')
    ratios = [entry['sb3_over_ours'] for entry in results if 'sb3_over_ours' in entry]
    if ratios:
        # for a ratio the worst is the smallest; a cut SB3 run counts with its lower bound, so
        # each figure is at least what it says
        summary['sb3_over_ours'] = s = {key: {k: -v for k, v in distribution([-r[key] for r in ratios]).items()}
                                        for key in ('seconds', 'seconds_with_checks', 'env_steps')}
        s['lower_bounds'] = sum(r.get('lower_bound', False) for r in ratios)
        cut = f' ({s["lower_bounds"]} of them SB3 runs cut unlanded: at least)' if s['lower_bounds'] else ''
        print(f'SB3 / ours over {len(ratios)} seeds{cut}: wall-clock (SB3 without its checks) worst '
              f'{s["seconds"]["worst"]:.1f}x, median {s["seconds"]["median"]:.1f}x, best {s["seconds"]["best"]:.1f}x; '
              f'with its checks median {s["seconds_with_checks"]["median"]:.1f}x; env steps median '
              f'{s["env_steps"]["median"]:.1f}x')

    machine = {'python': platform.python_version(), 'torch': torch.__version__, 'cpus': os.cpu_count(),
               'processor': platform.processor() or platform.machine(), 'jobs': args.jobs}
    with open(os.path.join(args.out, 'time_to_solve.json'), 'w') as file:
        json.dump({'machine': machine, 'hyperparameters': dataclasses.asdict(ppo_reference.Config()),
                   'summary': summary, 'peer_results': args.peer_results,
                   'sb3_hyperparameters': dict(SB3_HYPERPARAMETERS, n_envs=SB3_NUM_ENVS) if args.peer else None,
                   'results': results}, file)
    plot(results, os.path.join(args.out, 'learning_curves.png'))
    print(f'wrote {os.path.join(args.out, "time_to_solve.json")} and learning_curves.png')


if __name__ == '__main__':
    main()
