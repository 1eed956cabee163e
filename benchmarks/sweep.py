"""A hyperparameter sweep of the reference trainer: every setting of a grid on every seed,
two runs at a time (this machine has 2 cores), one JSON line per run.

    python benchmarks/sweep.py grid.json --seeds 0-4 --out benchmarks/results/sweep_landing.jsonl
    # the traces of issue 20 (benchmarks/stopping_rules.py replays them):
    python benchmarks/sweep.py benchmarks/results/traces_default_grid.json --seeds 0-29 --trace \
        --out benchmarks/results/traces_default.jsonl
    python benchmarks/sweep.py GRID --seeds 0-29 --trace --until RULE --out ...  # until RULE has stopped

Tune on seeds 0-29 only: seeds 100-119 were the held-out seeds of earlier rounds, and
200-229 are kept fresh for the held-out report of issue 20 (benchmarks/time_to_solve.py).

grid.json maps a name to Config overrides, e.g.
    {"lr2e-3": {"learning_rate": 2e-3}, "ent0": {"entropy_coef": 0.0}, "norm": {"variant": "obs_norm"}}
("variant": a trainer variant of benchmarks/variants.py, e.g. observation normalisation).
Each line: name, seed, landed (the stopping rule's greedy check passed), eval_ok (the final
greedy evaluation on 100 fresh seeds averages >= 200), share (of those 100 episodes >= 200),
the env steps at which the training mean reached 200 (solved_at) and the check passed
(landed_at), env steps and seconds in all, seconds spent in checks, the check episodes in
all, every check's [episodes, episodes >= 200, mean], the last 100 training episodes' mean,
the final evaluation (mean, std), and the 1-minute load average before and after. Env
steps, checks and evaluations are deterministic per seed; seconds are not comparable
across lines, since two runs share the machine (and other work may run on it too).

With --trace, a line is instead: name, seed, config (the overrides), trace_settings (the
layout below, the budget, which rules the trace waited for, and why it ended: "rules" or
"budget"), steps, secs, train_secs, load, and points, one per check point:
[env steps, training mean of the last 100 episodes, [K check returns], [100 final-evaluation
returns]], every number rounded down to 0.1 (see Trace). The check point layout, which a
trainer can use as it is:
- a check point is the first update whose env steps reach a new multiple of check_interval
  (8,192), from the first one whose training mean is >= the gate (TRACE_FROM = 50, the
  lowest gate studied; a rule with gate g checks at the points whose training mean is >= g);
- at the point of block b = env_steps // check_interval the check episodes i = 0, 1, ...
  are played on seeds 1_000_000 + b * 100 + i (K = 100 a block): a rule that plays n <= 100
  episodes there plays the first n, whatever it played before.
"""


import argparse
import contextlib
import dataclasses
import json
import math
import multiprocessing
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import ppo_reference  # noqa: E402
import stopping_rules  # noqa: E402
import variants  # noqa: E402
from rl_kit.training import LandingShare, evaluate  # noqa: E402
from time_to_solve import seeds_from  # noqa: E402


TRACE_FROM = 50.0          # --trace: from the first check point where the training mean of the last 100 episodes
                           # reaches this (the lowest gate studied) ...
TRACE_EPISODES = 100       # ... K greedy check episodes at every check point ...
TRACE_BUDGET = 600_000     # ... until every rule of stopping_rules.RULES has stopped, or this many env steps
CHECK_BLOCK_FIRST_SEED = 1_000_000  # the check point at env steps s plays seeds first_seed(s) + 0 .. K - 1


def round_down(x):
    """x to 0.1 below: a return >= 200 stays >= 200 (and one < 200 stays < 200); a mean of
    rounded returns is at most 0.1 below the true one."""
    return math.floor(x * 10) / 10


def check_points(config, env_steps, last_block):
    """The check point schedule (for phase 2's trainer too): a check point is the first update
    whose env steps reach a new multiple of check_interval, block = env_steps // check_interval.
    It does not depend on any earlier check, so rules with different gates check at the same
    points. With the default batch of 2,048 steps every point is an exact multiple of 8,192."""
    block = env_steps // config.check_interval
    return block if block > last_block else None


def check_first_seed(block, episodes=TRACE_EPISODES):
    """The check point of block b plays its episodes i = 0, 1, ... on seeds 1_000_000 + b * K + i:
    a rule that plays n <= K episodes there plays exactly the first n of them."""
    return CHECK_BLOCK_FIRST_SEED + block * episodes


class TraceDone(KeyboardInterrupt):
    """Raised by Trace to end train() (which keeps what it has, as after Ctrl-C)."""


class Trace:
    """A callback recording the greedy policy at every check point of a run, so that one run
    per seed shows where any stopping rule of benchmarks/stopping_rules.py (gate, number of
    episodes, margin, confidence bound, sequential) would have stopped, and how the final
    evaluation judges the policy it stopped with. Checks do not change training: they use
    their own environments and no random numbers of the trainer (the run itself is given no
    checks of its own, check_from = inf, so it trains on past today's stop).

    A point is [env steps, training mean, check returns, final evaluation returns]:
    - the training mean of the last 100 episodes (None before 100 have ended), and every
      return, rounded down to 0.1;
    - the returns of TRACE_EPISODES greedy episodes on seeds check_first_seed(block) + i;
    - the returns of the 100 final-evaluation episodes (rl_kit.training.evaluate, seeds
      10_000..10_099), as a stop at this point would be judged.
    Points start at the first check point whose training mean is >= TRACE_FROM (the training
    mean may fall below it later: the points go on). The trace ends after the point at which
    the last rule of stopping_rules.RULES stops, or at TRACE_BUDGET env steps."""

    def __init__(self, config, rules, until=()):
        self.config, self.rules, self.until = config, rules, until
        self.points, self.block, self.end = [], -1, 'budget'

    def __call__(self, stats):
        block = check_points(self.config, stats.env_steps, self.block)
        if block is None:
            return
        self.block = block
        window = stats.episode_returns[-self.config.solve_window:]
        reached = len(window) >= self.config.solve_window and float(np.mean(window)) >= TRACE_FROM
        if not (self.points or reached):
            return
        mean = round_down(float(np.mean(window))) if len(window) >= self.config.solve_window else None
        checks = evaluate(stats.ac, self.config, episodes=TRACE_EPISODES, first_seed=check_first_seed(block))
        final = evaluate(stats.ac, self.config, episodes=100)
        self.points.append([stats.env_steps, mean, [round_down(r) for r in checks],
                            [round_down(r) for r in final]])
        if all(stopping_rules.first_stop(rule, self.points) is not None for rule in self.rules):
            self.end = 'rules'
            raise TraceDone
        if stats.env_steps >= TRACE_BUDGET:
            raise TraceDone

    def settings(self):
        return {'from': TRACE_FROM, 'interval': self.config.check_interval, 'episodes': TRACE_EPISODES,
                'check_seeds': f'{CHECK_BLOCK_FIRST_SEED} + (env_steps // interval) * episodes + i',
                'final': 'seeds 10000..10099 at every point',
                'rounding': 'down to 0.1', 'budget': TRACE_BUDGET, 'until': (f'the rules named {list(self.until)}' if self.until
                                                                else 'all of stopping_rules.RULES'),
                'rules': len(self.rules), 'end': self.end}


def run(job):
    name, overrides, seed, trace = job  # trace: None, or the `until` of run_trace
    if trace is not None:
        return run_trace(name, overrides, seed, trace)
    load = os.getloadavg()[0]
    overrides = dict(overrides)
    name_of_variant = overrides.pop('variant', None)  # benchmarks/variants.py
    config = ppo_reference.Config(seed=seed, **overrides)
    with variants.variant(name_of_variant, config) if name_of_variant else contextlib.nullcontext() as callback:
        result = ppo_reference.train(config, callback=callback)
    returns = evaluate(result.ac, config, episodes=100)  # always: a run that did not land is judged too
    share = LandingShare.of(returns, 200.0)
    last = result.episode_returns[-100:]
    return {'name': name, 'seed': seed, 'landed': result.landed, 'eval_ok': bool(returns.mean() >= 200),
            'share': share.share, 'solved_at': result.solved_at, 'landed_at': result.landed_at,
            'steps': result.env_steps, 'secs': round(result.train_seconds, 1),
            'check_secs': round(result.check_seconds, 1), 'check_episodes': sum(len(c.returns) for c in result.checks),
            'checks': [[len(check.returns), check.wins, round(check.mean, 1)] for check in result.checks],
            'last': round(sum(last) / max(1, len(last)), 1),
            'ev': [round(float(returns.mean()), 1), round(float(returns.std()), 1)],
            'load': [round(load, 2), round(os.getloadavg()[0], 2)]}


def run_trace(name, overrides, seed, until):
    """One traced run: the trainer with no checks of its own (check_from = inf: it trains on,
    exactly as it would have, past any stop) and a Trace as its callback, until the rules of
    stopping_rules.RULES whose name contains one of `until` (a tuple; empty: all) have stopped."""
    load, start = os.getloadavg()[0], time.perf_counter()
    config = ppo_reference.Config(seed=seed, **overrides)
    rules = [rule for rule in stopping_rules.RULES if not until or any(part in rule.name for part in until)]
    trace = Trace(config, rules, until)
    traced = dataclasses.replace(config, check_from=math.inf, total_steps=TRACE_BUDGET, background_checks=False)
    result = ppo_reference.train(traced, callback=trace)
    return {'name': name, 'seed': seed, 'config': overrides, 'trace_settings': trace.settings(),
            'steps': result.env_steps, 'secs': round(time.perf_counter() - start, 1),
            'train_secs': round(result.train_seconds, 1),
            'load': [round(load, 2), round(os.getloadavg()[0], 2)], 'points': trace.points}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('grid', help='JSON file: {name: {Config field: value}}')
    parser.add_argument('--seeds', default='0-4')
    parser.add_argument('--out', required=True, help='JSON lines file to append to')
    parser.add_argument('--processes', type=int, default=2)
    parser.add_argument('--trace', action='store_true', help='record the greedy policy along each run (slower)')
    parser.add_argument('--until', nargs='+', default=[], metavar='RULE',
                        help='--trace: until the rules of stopping_rules.RULES with these names have stopped '
                             '(default: all of them)')
    args = parser.parse_args(argv)
    with open(args.grid) as file:
        grid = json.load(file)
    trace = tuple(args.until) if args.trace else None
    for part in args.until:
        if not any(part in rule.name for rule in stopping_rules.RULES):
            parser.error(f'--until {part!r}: no rule of stopping_rules.RULES has that in its name')
    jobs = [(name, overrides, seed, trace) for name, overrides in grid.items() for seed in seeds_from(args.seeds)]
    with multiprocessing.get_context('fork').Pool(args.processes) as pool, open(args.out, 'a') as out:
        for line in pool.imap_unordered(run, jobs):
            shown = {key: value for key, value in line.items() if key != 'points'}
            if 'points' in line:
                shown['points'] = len(line['points'])
            print(json.dumps(shown), flush=True)
            out.write(json.dumps(line) + '\n')
            out.flush()


if __name__ == '__main__':
    main()
