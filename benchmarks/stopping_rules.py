"""Which stopping rule: replays the traces of `sweep.py --trace` under many rules.

    python benchmarks/stopping_rules.py benchmarks/results/traces_default.jsonl [--name NAME] [--resample 200]

The traces (sweep.Trace): at every check point of a run (the first update at or past each
multiple of 8,192 env steps, once the training mean of the last 100 episodes has reached
50) the greedy policy played K = 100 check episodes on the seeds of that point's block,
1_000_000 + (env_steps // 8192) * 100 + i, and the 100 final-evaluation episodes (seeds
10_000..10_099). Checks do not
change training, so one traced run per seed shows exactly where any rule below stops
(a rule that plays n episodes at a point plays the first n of its block) and how the final
evaluation judges the policy it stops with. A rule checks at the points whose training
mean is >= its gate, and stops at the first check it passes. A rule not stopped when its
trace ended (the trace goes on until every rule of RULES has stopped, or to 600k steps)
counts as not landed.

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
"""

import argparse
import json
import math
import random
import statistics
from dataclasses import dataclass

import numpy as np

LANDS = 200.0        # an episode (or a mean) of at least this lands
FALSE_MEAN = 200.0   # a stop is a false landing if its final evaluation mean is below this ...
FALSE_SHARE = 0.80   # ... or its share of episodes >= 200 is below this
MARGIN_SHARE = 0.85  # the margin wanted on the tuning seeds
Z95, Z975, Z99 = 1.6449, 1.9600, 2.3263


def wilson_lower(successes, n, z):
    """Wilson score lower bound of a binomial proportion."""
    if n == 0:
        return 0.0
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


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


@dataclass(frozen=True)
class Rule:
    """Check at the points whose training mean is >= gate. At a point, play stages[0]
    episodes; the check passes when the episodes played so far
    - average >= mean_at_least,
    - and, if z_mean: mean - z_mean * s / sqrt(n) >= 200 (s: their standard deviation),
    - and, if share: the Wilson lower bound (z_share) of their share >= 200 is >= share.
    If it fails and there is a next stage, it plays on to the next stage's number of
    episodes if their mean is >= go_on ("close"), else the point fails."""
    name: str
    gate: float = 50.0
    stages: tuple = (20,)
    mean_at_least: float = 200.0
    z_mean: float = 0.0
    share: float = 0.0
    z_share: float = Z95
    go_on: float = math.inf

    def passes(self, returns):
        n, mean = len(returns), float(np.mean(returns))
        if mean < self.mean_at_least:
            return False
        if self.z_mean and mean - self.z_mean * float(np.std(returns, ddof=1)) / math.sqrt(n) < LANDS:
            return False
        if self.share and wilson_lower(int((returns >= LANDS).sum()), n, self.z_share) < self.share:
            return False
        return True

    def check(self, returns):
        """(passed, episodes played) at one point; returns: the point's K check episodes."""
        for stage, n in enumerate(self.stages):
            if n > len(returns):
                raise ValueError(f'{self.name} plays {n} episodes, the trace has {len(returns)}')
            played = returns[:n]
            if self.passes(played):
                return True, n
            if stage + 1 == len(self.stages) or float(np.mean(played)) < self.go_on:
                return False, n
        raise AssertionError('unreachable')


def first_stop(rule, points, order=None):
    """The index of the point where the rule stops, or None; order: a permutation of each
    point's check episodes (for the resampled replays)."""
    stop, _ = replay(rule, points, order)
    return stop


def replay(rule, points, order=None):
    """(index of the stopping point or None, check episodes played up to it or to the end)."""
    played = 0
    for index, (steps, training_mean, checks, final) in enumerate(points):
        if training_mean is None or training_mean < rule.gate:
            continue
        returns = np.asarray(checks) if order is None else np.asarray(checks)[order[index]]
        passed, n = rule.check(returns)
        played += n
        if passed:
            return index, played
    return None, played


def judge(final):
    """(mean, share >= 200) of a final evaluation."""
    final = np.asarray(final)
    return float(final.mean()), float((final >= LANDS).mean())


def is_false(final):
    mean, share = judge(final)
    return mean < FALSE_MEAN or share < FALSE_SHARE


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
)


def summarise(rule, runs, resample=0, rng=None):
    stops, false_mean, false_share, thin, played = [], [], [], [], 0
    for run in runs:
        stop, n = replay(rule, run['points'])
        played += n
        if stop is None:
            continue
        steps, _, _, final = run['points'][stop]
        mean, share = judge(final)
        stops.append(steps)
        if mean < FALSE_MEAN:
            false_mean.append((run['seed'], steps, round(mean, 1), share))
        if share < FALSE_SHARE:
            false_share.append((run['seed'], steps, round(mean, 1), share))
        if share < MARGIN_SHARE:
            thin.append((run['seed'], steps, round(mean, 1), share))
    false = {seed for seed, *_ in false_mean + false_share}
    rate = None
    if resample:
        per_seed = []
        for run in runs:
            falses = 0
            for _ in range(resample):
                order = [rng.sample(range(len(point[2])), len(point[2])) for point in run['points']]
                stop = first_stop(rule, run['points'], order)
                falses += stop is not None and is_false(run['points'][stop][3])
            per_seed.append(falses / resample)
        rate = (statistics.mean(per_seed), statistics.stdev(per_seed) / math.sqrt(len(per_seed)))
    return {'rule': rule, 'stops': sorted(stops), 'false_mean': false_mean, 'false_share': false_share,
            'false': sorted(false), 'thin': thin, 'played': played,
            'upper': clopper_pearson_upper(len(false), len(stops)), 'resampled': rate}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('jsonl', help='lines written by sweep.py --trace')
    parser.add_argument('--name', help='only the runs of this setting')
    parser.add_argument('--resample', type=int, default=0, metavar='R',
                        help='also replay each run R times with the check episodes in random orders')
    parser.add_argument('--rules', help='only the rules whose name contains this')
    parser.add_argument('--details', action='store_true', help='list the false and thin stops of every rule')
    args = parser.parse_args(argv)
    with open(args.jsonl) as file:
        runs = [line for line in map(json.loads, file) if 'points' in line and args.name in (None, line['name'])]
    runs.sort(key=lambda run: run['seed'])
    ends = {run['trace_settings']['end'] for run in runs}
    budget = [run['seed'] for run in runs if run['trace_settings']['end'] == 'budget']
    print(f'{len(runs)} traced runs, seeds {[run["seed"] for run in runs]}; traces ended by {sorted(ends)}'
          f'{f" (at the budget: seeds {budget})" if budget else ""}\n')
    rng = random.Random(0)
    header = (f'{"rule":<44} {"stopped":>7}  {"steps: worst":>12} {"median":>8} {"best":>8}  {"FL mean":>7} '
              f'{"FL share":>8} {"<85%":>4}  {"episodes":>8}  {"FL 95%":>6}')
    print(header + ('  resampled FL' if args.resample else ''))
    details = []
    for rule in RULES:
        if args.rules and args.rules not in rule.name:
            continue
        s = summarise(rule, runs, args.resample, rng)
        steps = s['stops']
        where = (f'{steps[-1]:>12,} {statistics.median(steps):>8,.0f} {steps[0]:>8,}' if steps
                 else f'{"-":>12} {"-":>8} {"-":>8}')
        line = (f'{rule.name:<44} {len(steps):>3}/{len(runs):<3}  {where}  {len(s["false_mean"]):>7} '
                f'{len(s["false_share"]):>8} {len(s["thin"]):>4}  {s["played"]:>8,}  {s["upper"]:>6.1%}')
        if s['resampled']:
            line += f'  {s["resampled"][0]:6.1%} +- {s["resampled"][1]:.1%}'
        print(line)
        if s['false'] or (args.details and s['thin']):
            details.append(f'{rule.name}: false (seed, steps, mean, share) {s["false_mean"] + s["false_share"]}; '
                           f'< 85% {s["thin"]}')
    if details:
        print('\n' + '\n'.join(details))


if __name__ == '__main__':
    main()
