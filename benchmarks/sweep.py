"""A hyperparameter sweep of the reference trainer: every setting of a grid on every seed,
two runs at a time (this machine has 2 cores), one JSON line per run.

    python benchmarks/sweep.py grid.json --seeds 0-4 --out benchmarks/results/sweep_landing.jsonl
    python benchmarks/sweep.py grid.json --seeds 2-3 --trace --out ...   # and the greedy policy along each run

Tune on seeds 0-19 only: seeds 100-119 are held out for benchmarks/time_to_solve.py.

grid.json maps a name to Config overrides, e.g.
    {"lr2e-3": {"learning_rate": 2e-3}, "ent0": {"entropy_coef": 0.0}}
Each line: name, seed, landed (the stopping rule's greedy check passed), eval_ok (the final
greedy evaluation on 100 fresh seeds averages >= 200), the env steps at which the training
mean reached 200 (solved_at) and the check passed (landed_at), env steps and seconds in
all, seconds spent in checks, every check's mean, the last 100 training episodes' mean,
the final evaluation (mean, std), and the 1-minute load average before and after. Env
steps, checks and evaluations are deterministic per seed; seconds are not comparable
across lines, since two runs share the machine (and other work may run on it too).
With --trace, a line also has the greedy policy along the run (see Trace), which
benchmarks/stopping_rules.py replays under other stopping rules.
"""

import argparse
import json
import multiprocessing
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import ppo_reference  # noqa: E402
from rl_kit.training import LandingChecks, evaluate  # noqa: E402
from time_to_solve import seeds_from  # noqa: E402


TRACE_FROM = 50.0         # --trace: check the greedy policy once the training mean reaches this ...
TRACE_INTERVAL = 8192     # ... every this many env steps ...
TRACE_EVALUATE = 170.0    # ... and also run the final 100-episode evaluation when a check reaches this
TRACE_CHECK_NUMBER = 500  # trace checks use the seeds of check number 500, 501, ... (the run's own use 0, 1, ...)


class Trace:
    """A callback recording the greedy policy all along a run, so that one run per seed
    shows where any other stopping rule (gate, margin) would have stopped, and how the
    final evaluation would have judged the policy there. Checks do not change training:
    they use their own environments and no random numbers of the trainer."""

    def __init__(self, config):
        self.config, self.points = config, []
        self.checks = LandingChecks(None, config, tracker=None, background=False)  # plays checks, inline

    def __call__(self, stats):
        last = self.points[-1][0] if self.points else -TRACE_INTERVAL
        if stats.mean_return >= TRACE_FROM and stats.env_steps - last >= TRACE_INTERVAL:
            check = self.checks.play(stats.ac, stats.env_steps, TRACE_CHECK_NUMBER + len(self.points))
            final = (round(float(evaluate(stats.ac, self.config, episodes=100).mean()), 1)
                     if check.mean >= TRACE_EVALUATE else None)
            self.points.append((stats.env_steps, round(stats.mean_return, 1), round(check.mean, 1), final))


def run(job):
    name, overrides, seed, trace = job
    load = os.getloadavg()[0]
    config = ppo_reference.Config(seed=seed, **overrides)
    callback = Trace(config) if trace else None
    result = ppo_reference.train(config, callback=callback)
    returns = evaluate(result.ac, config, episodes=100)  # always: a run that did not land is judged too
    last = result.episode_returns[-100:]
    line = {'name': name, 'seed': seed, 'landed': result.landed, 'eval_ok': bool(returns.mean() >= 200),
            'solved_at': result.solved_at, 'landed_at': result.landed_at, 'steps': result.env_steps,
            'secs': round(result.train_seconds, 1), 'check_secs': round(result.check_seconds, 1),
            'checks': [round(check.mean, 1) for check in result.checks],
            'last': round(sum(last) / max(1, len(last)), 1),
            'ev': [round(float(returns.mean()), 1), round(float(returns.std()), 1)],
            'load': [round(load, 2), round(os.getloadavg()[0], 2)]}
    if trace:
        line['trace'] = callback.points  # [env steps, training mean, check mean, final evaluation or None]
    return line


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('grid', help='JSON file: {name: {Config field: value}}')
    parser.add_argument('--seeds', default='0-4')
    parser.add_argument('--out', required=True, help='JSON lines file to append to')
    parser.add_argument('--processes', type=int, default=2)
    parser.add_argument('--trace', action='store_true', help='record the greedy policy along each run (slower)')
    args = parser.parse_args(argv)
    with open(args.grid) as file:
        grid = json.load(file)
    jobs = [(name, overrides, seed, args.trace) for name, overrides in grid.items() for seed in seeds_from(args.seeds)]
    with multiprocessing.get_context('fork').Pool(args.processes) as pool, open(args.out, 'a') as out:
        for line in pool.imap_unordered(run, jobs):
            print(json.dumps(line), flush=True)
            out.write(json.dumps(line) + '\n')
            out.flush()


if __name__ == '__main__':
    main()
