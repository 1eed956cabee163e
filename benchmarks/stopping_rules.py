"""Which stopping rule: replays the traces of `sweep.py --trace` under many rules.

    # the traces (two runs at a time; about an hour on a loaded 2-core machine):
    python benchmarks/sweep.py benchmarks/results/traces_default_grid.json --seeds 0-29 --trace \
        --out benchmarks/results/traces_default.jsonl
    # the table of rules, the false landings and the choice (benchmarks/results/stopping_rules_default.txt):
    python benchmarks/stopping_rules.py benchmarks/results/traces_default.jsonl --resample 200
    # options: --name NAME (one setting of a grid), --seeds 0-29, --rules TEXT (rules whose name has it)
    # the trainer's own rule (rl_kit.training.LandingChecks) stops where the replay of the trace says:
    python benchmarks/stopping_rules.py benchmarks/results/traces_default.jsonl --confirm 0,1

The traces (sweep.Trace): at every check point of a run (the first update at or past each
multiple of 8,192 env steps, from the first one whose training mean of the last 100
episodes is >= 50) the greedy policy played K = 100 check episodes on the seeds of that
point's block, 1_000_000 + (env_steps // 8192) * 100 + i, and the 100 final-evaluation
episodes (seeds 10_000..10_099). Checks do not change training, so one traced run per seed
shows exactly where any rule below stops (a rule that plays n episodes at a point plays
the first n of its block) and how the final evaluation judges the policy it stops with. A
rule checks at the points whose training mean is >= its gate, and stops at the first
check it passes. A trace went on until every rule of RULES as they were when it ran had
stopped (the line's trace_settings say how many), or to 600k env steps; a rule not stopped
within a trace counts as not landed there (the real trainer would go on to its 1M budget).

A false landing is a stop whose final evaluation averages < 200 (FL mean) or has < 80% of
its 100 episodes >= 200 (FL share); the margin column counts stops with < 85%.

Per rule, the table shows: runs stopped; the env steps at the stop (worst, median, best
over the runs that stopped); the false landings (listed by seed below the table); the
check episodes played in all runs up to the stop (or the trace's end); and the estimated
false-landing rate:
- "FL 95%": the exact (Clopper-Pearson) 95% upper bound of the false-landing rate from the
  traced runs alone (0 of 30 is <= 9.5%);
- with --resample R: each run replayed R times with each point's K check episodes in a
  random order (the same policies, other check seeds: n of the K stand for n fresh seeds),
  the false-landing rate over seeds and replays, +- its standard error over seeds. This
  sees the near-misses that 30 runs rarely show, but for n close to K the replays overlap
  (n = K does not vary at all), so it underestimates the spread of rules playing many.

The choice (printed last, from the measurements): of the rules that stop every traced run,
with no false landing and no stop whose final share is < 85% (a margin: the held-out seeds
will be harder than the tuning set), the lowest median env steps, then the fewest check
episodes. benchmarks/results/traces_default.md discusses the result.
"""


import argparse
import json
import math
import statistics
import sys
from dataclasses import dataclass

import numpy as np

from time_to_solve import seeds_from  # (which puts the kit's root on sys.path)
from rl_kit.training import wilson_interval

LANDS = 200.0        # an episode (or a mean) of at least this lands
FALSE_MEAN = 200.0   # a stop is a false landing if its final evaluation mean is below this ...
FALSE_SHARE = 0.80   # ... or its share of episodes >= 200 is below this
MARGIN_SHARE = 0.85  # the margin wanted on the tuning seeds
Z95, Z975, Z99 = 1.6449, 1.9600, 2.3263


def wilson_lower(successes, n, z):
    """Wilson score lower bound of a binomial proportion (successes: a number or an array)."""
    return wilson_interval(successes, n, z)[0]


def binomial_cdf(k, n, p):
    return sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k + 1))


def clopper_pearson_upper(k, n, confidence=0.95):
    """Exact one-sided upper bound of a rate from k events in n trials."""
    if n == 0 or k >= n:
        return 1.0
    low, high = k / n, 1.0
    for _ in range(60):  # bisection: the p where P(X <= k | p) = 1 - confidence
        middle = (low + high) / 2
        low, high = (middle, high) if binomial_cdf(k, n, middle) > 1 - confidence else (low, middle)
    return high


class Prefixes:
    """The running sums of each point's check episodes, in the trace's order or in R other
    orders: sums[r, p, n - 1] is the sum of the first n episodes of point p in order r (and
    squares, wins: of their squares, of those >= 200)."""

    def __init__(self, points, orders=None):
        checks = np.array([point[2] for point in points], dtype=float)[None]  # (1, P, K)
        if orders is not None:                                                 # (R, P, K)
            checks = np.take_along_axis(np.broadcast_to(checks, orders.shape), orders, axis=2)
        self.sums, self.squares = np.cumsum(checks, axis=2), np.cumsum(checks * checks, axis=2)
        self.wins = np.cumsum(checks >= LANDS, axis=2)
        self.training_means = np.array([np.nan if point[1] is None else point[1] for point in points])


@dataclass(frozen=True)
class Rule:
    """Check at the points whose training mean is >= gate. At a point, play stages[0]
    episodes; the check passes when the episodes played so far
    - average >= mean_at_least,
    - and, if z_mean: mean - z_mean * s / sqrt(n) >= 200 (s: their standard deviation),
    - and, if share: the Wilson lower bound (z_share) of their share >= 200 is >= share.
    If it fails and there is a next stage, it plays on to the next stage's number of
    episodes if it is close: their mean is >= go_on and their share >= 200 is >=
    go_on_share; else the point fails."""
    name: str
    gate: float = 50.0
    stages: tuple = (20,)
    mean_at_least: float = 200.0
    z_mean: float = 0.0
    share: float = 0.0
    z_share: float = Z95
    go_on: float = math.inf
    go_on_share: float = 0.0

    def checks(self, prefixes):
        """(passed, episodes played): arrays (R, P), at every point in every order."""
        shape = prefixes.sums.shape[:2]
        passed, played, playing = np.zeros(shape, bool), np.zeros(shape, int), np.ones(shape, bool)
        for stage, n in enumerate(self.stages):
            if n > prefixes.sums.shape[2]:
                raise ValueError(f'{self.name} plays {n} episodes, the trace has {prefixes.sums.shape[2]}')
            mean = prefixes.sums[..., n - 1] / n
            ok = mean >= self.mean_at_least
            if self.z_mean:
                variance = np.maximum(prefixes.squares[..., n - 1] - n * mean * mean, 0) / (n - 1)
                ok &= mean - self.z_mean * np.sqrt(variance / n) >= LANDS
            if self.share:
                ok &= wilson_lower(prefixes.wins[..., n - 1], n, self.z_share) >= self.share
            played = np.where(playing, n, played)
            passed |= playing & ok
            close = (mean >= self.go_on) & (prefixes.wins[..., n - 1] >= self.go_on_share * n)
            playing &= ~ok & close & (stage + 1 < len(self.stages))
        gated = prefixes.training_means >= self.gate  # NaN (fewer than 100 episodes) is not
        return passed & gated, played * gated

    def replay(self, prefixes):
        """(the index of the stopping point, or -1; the check episodes played up to it, or
        to the trace's end): arrays (R,)."""
        passed, played = self.checks(prefixes)
        stopped = passed.any(axis=1)
        stop = np.where(stopped, passed.argmax(axis=1), -1)
        total = np.cumsum(played, axis=1)
        return stop, np.where(stopped, total[np.arange(len(stop)), stop], total[:, -1])


def first_stop(rule, points):
    """The index of the point where the rule stops in the trace's order, or None."""
    stop = int(rule.replay(Prefixes(points))[0][0])
    return None if stop < 0 else stop


def judge(final):
    """(mean, share >= 200) of a final evaluation."""
    final = np.asarray(final)
    return float(final.mean()), float((final >= LANDS).mean())


def sequential(name, z, stages=(20, 40, 60, 100), go_on=190.0, **criteria):
    return Rule(name, stages=stages, z_mean=z, go_on=go_on, **criteria)


RULES = (
    # today's rule and other gates and margins, on the mean of n episodes
    *(Rule(f'mean{n}>={200 + margin} gate{gate}', gate=gate, stages=(n,), mean_at_least=200 + margin)
      for gate in (50, 100) for n in (20, 40) for margin in (0, 10, 20, 30, 40, 50)),
    # the lower confidence bound of the mean
    *(Rule(f'LCB{z:g} mean{n}', stages=(n,), z_mean=z) for n in (20, 40, 60, 100) for z in (1.0, Z95, Z99)),
    # the Wilson lower bound of the share of episodes >= 200 (and a mean >= 200), alone ...
    *(Rule(f'share{n} W{z:g}>={p:g}', stages=(n,), share=p, z_share=z)
      for n in (40, 60, 100) for p in (0.7, 0.75, 0.8, 0.85) for z in (Z95,)),
    # ... and with the mean's bound
    *(Rule(f'LCB{zm:g} mean{n} + share W>={p:g}', stages=(n,), z_mean=zm, share=p)
      for n in (40, 60, 100) for zm in (1.0, Z95, Z99) for p in (0.7, 0.75, 0.8, 0.85)),
    # sequential: 20 episodes, and while the mean is close (>= go_on) but the test fails, more
    *(sequential(f'seq{"/".join(map(str, stages))} LCB{z:g} go>={go_on:g}', z, stages, go_on)
      for stages in ((20, 40, 60, 100), (20, 60, 100), (20, 60)) for z in (Z95, Z99) for go_on in (180.0, 200.0)),
    *(sequential(f'seq{"/".join(map(str, stages))} LCB{z:g} go>={go_on:g} +W>={p:g}', z, stages, go_on, share=p)
      for stages in ((20, 40, 60, 100), (20, 60, 100)) for z in (Z95, Z99) for go_on in (180.0, 200.0)
      for p in (0.7, 0.8)),
    # sequential on the share alone (and a mean >= 200): play on while the share is >= go
    *(Rule(f'seq{"/".join(map(str, stages))} W{z:g}>={p:g} go share>={go:g}', stages=stages, share=p, z_share=z,
           go_on=LANDS, go_on_share=go)
      for stages in ((20, 40, 60), (20, 40, 60, 100), (20, 60), (20, 60, 100)) for z in (Z95, Z99)
      for p in (0.75, 0.8) for go in (0.75, 0.85)),
)


def summarise(rule, runs, prepared):
    """The rule's stops in the traces' order, and in the shuffled orders if prepared has them."""
    stops, false_mean, false_share, thin, played, per_seed = [], [], [], [], 0, []
    for run, (prefixes, shuffled, judged) in zip(runs, prepared):
        stop, n = rule.replay(prefixes)
        stop, played = int(stop[0]), played + int(n[0])
        if shuffled is not None:
            stops_r, _ = rule.replay(shuffled)
            per_seed.append(float(np.mean([s >= 0 and judged[s][2] for s in stops_r])))
        if stop < 0:
            continue
        mean, share, _ = judged[stop]
        case = (run['seed'], run['points'][stop][0], round(mean, 1), share)
        stops.append(case[1])
        if mean < FALSE_MEAN:
            false_mean.append(case)
        if share < FALSE_SHARE:
            false_share.append(case)
        if share < MARGIN_SHARE:
            thin.append(case)
    false = {case[0]: case for case in false_mean + false_share}
    rate = (statistics.mean(per_seed), statistics.stdev(per_seed) / math.sqrt(len(per_seed))) if per_seed else None
    return {'rule': rule, 'stops': sorted(stops), 'false_mean': false_mean, 'false_share': false_share,
            'false': sorted(false.values()), 'thin': thin, 'played': played,
            'upper': clopper_pearson_upper(len(false), len(stops)), 'resampled': rate}


def prepare(run, resample, rng):
    """(Prefixes in the trace's order, in `resample` shuffled orders or None, and per point
    (final mean, final share, false landing))."""
    points = run['points']
    shuffled = None
    if resample:
        orders = np.argsort(rng.random((resample, len(points), len(points[0][2]))), axis=2)
        shuffled = Prefixes(points, orders)
    judged = []
    for point in points:
        mean, share = judge(point[3])
        judged.append((mean, share, mean < FALSE_MEAN or share < FALSE_SHARE))
    return Prefixes(points), shuffled, judged


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('jsonl', help='lines written by sweep.py --trace')
    parser.add_argument('--name', help='only the runs of this setting')
    parser.add_argument('--resample', type=int, default=0, metavar='R',
                        help='also replay each run R times with the check episodes in random orders')
    parser.add_argument('--seeds', help='only these seeds, e.g. 0-29')
    parser.add_argument('--rules', help='only the rules whose name contains this')
    parser.add_argument('--details', action='store_true', help='list the false and thin stops of every rule')
    parser.add_argument('--confirm', metavar='SEEDS',
                        help="train these traced seeds with the trainer's own rule and compare its stop and checks "
                             "with the replay of their traces under CHOSEN (e.g. 0,1)")
    args = parser.parse_args(argv)
    with open(args.jsonl) as file:
        runs = [line for line in map(json.loads, file) if 'points' in line and args.name in (None, line['name'])]
    if args.seeds:
        runs = [run for run in runs if run['seed'] in seeds_from(args.seeds)]
    runs.sort(key=lambda run: run['seed'])
    if args.confirm:
        return confirm([run for run in runs if run['seed'] in seeds_from(args.confirm)])
    ends = {run['trace_settings']['end'] for run in runs}
    budget = [run['seed'] for run in runs if run['trace_settings']['end'] == 'budget']
    print(f'{len(runs)} traced runs, seeds {[run["seed"] for run in runs]}; traces ended by {sorted(ends)}'
          f'{f" (at the budget: seeds {budget})" if budget else ""}\n')
    rng = np.random.default_rng(0)
    prepared = [prepare(run, args.resample, rng) for run in runs]
    header = (f'{"rule":<44} {"stopped":>7}  {"steps: worst":>12} {"median":>8} {"best":>8}  {"FL mean":>7} '
              f'{"FL share":>8} {"<85%":>4}  {"episodes":>8}  {"FL 95%":>6}')
    print(header + ('  resampled FL' if args.resample else ''))
    details, summaries = [], []
    for rule in RULES:
        if args.rules and args.rules not in rule.name:
            continue
        s = summarise(rule, runs, prepared)
        summaries.append(s)
        steps = s['stops']
        where = (f'{steps[-1]:>12,} {statistics.median(steps):>8,.0f} {steps[0]:>8,}' if steps
                 else f'{"-":>12} {"-":>8} {"-":>8}')
        line = (f'{rule.name:<44} {len(steps):>3}/{len(runs):<3}  {where}  {len(s["false_mean"]):>7} '
                f'{len(s["false_share"]):>8} {len(s["thin"]):>4}  {s["played"]:>8,}  {s["upper"]:>6.1%}')
        if s['resampled']:
            line += f'  {s["resampled"][0]:6.1%} +- {s["resampled"][1]:.1%}'
        print(line)
        if s['false'] or (args.details and s['thin']):
            details.append(f'{rule.name}: false (seed, steps, mean, share) {s["false"]}; '
                           f'< 85% {s["thin"]}')
    if details:
        print('\n' + '\n'.join(details))
    choose(summaries, len(runs))


def choose(summaries, runs):
    """Prints the rule the measurements choose: of those that stop every traced run, with no
    false landing and no stop whose final share is < 85%, the lowest median env steps at the
    stop, then the fewest check episodes."""
    fit = [s for s in summaries if len(s['stops']) == runs and not s['false'] and not s['thin']]
    fit.sort(key=lambda s: (statistics.median(s['stops']), s['played']))
    print(f'\n{len(fit)} rules stop all {runs} runs with no false landing and no final share < {MARGIN_SHARE:.0%}; '
          f'the cheapest (median steps, then episodes):')
    for s in fit[:8]:
        rate = f', resampled FL {s["resampled"][0]:.1%} +- {s["resampled"][1]:.1%}' if s['resampled'] else ''
        print(f'  {s["rule"].name}: median {statistics.median(s["stops"]):,.0f}, worst {s["stops"][-1]:,}, '
              f'{s["played"]:,} episodes{rate}')


CHOSEN = 'seq20/40/60/100 W2.3263>=0.8 go share>=0.85'  # the rule of rl_kit.training.LandingChecks


def confirm(runs):
    """Trains each traced run's seed and setting with the trainer's own stopping rule (the
    default Config's, checks beside training) and compares with the replay of its trace under
    CHOSEN: the env steps of every check and of the stop, and every check's returns (rounded
    down to 0.1 as in the trace). Prints one line per check and per run; returns 1 on a mismatch."""
    import dataclasses
    import ppo_reference
    from sweep import round_down
    rule = next(rule for rule in RULES if rule.name == CHOSEN)
    mismatches = 0
    for run in runs:
        config = ppo_reference.Config(seed=run['seed'], **run['config'])
        assert (config.check_from, config.check_stages) == (rule.gate, rule.stages), 'the trainer has another rule'
        result = ppo_reference.train(dataclasses.replace(config, total_steps=run['trace_settings']['budget']))
        passed, played = rule.checks(Prefixes(run['points']))
        replayed = []  # (env steps, episodes, their returns, passed) of every check up to the stop
        for point, n, stops in zip(run['points'], played[0], passed[0]):
            if n:
                replayed.append((point[0], int(n), point[2][:n], bool(stops)))
                if stops:
                    break
        expected_stop = replayed[-1][0] if replayed and replayed[-1][3] else None
        trained = [(check.env_steps, len(check.returns), [round_down(r) for r in check.returns], check.passed)
                   for check in result.checks]
        for ours, theirs in zip(trained, replayed):
            same = ours == theirs
            mismatches += not same
            print(f'seed {run["seed"]} check at {ours[0]:>7,}: {ours[1]:>3} episodes, passed {ours[3]!s:<5} '
                  f'| replay {theirs[0]:>7,}: {theirs[1]:>3} episodes, passed {theirs[3]!s:<5} '
                  f'{"same returns" if ours[2] == theirs[2] else "OTHER RETURNS"}')
        same = len(trained) == len(replayed) and result.landed_at == expected_stop
        mismatches += not same
        print(f'seed {run["seed"]}: trainer {result.status()} at {result.env_steps:,} after {len(trained)} checks, '
              f'replay stops at {expected_stop or 0:,} after {len(replayed)}: {"the same" if same else "DIFFERENT"} '
              f'({result.train_seconds:.0f} s, checks {"beside training" if result.checks_in_background else "inline"})',
              flush=True)
    print(f'{len(runs)} runs, {mismatches} mismatches')
    return 1 if mismatches else 0


if __name__ == '__main__':
    sys.exit(main())
