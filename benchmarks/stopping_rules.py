"""Which stopping rule: replays the traces of `sweep.py --trace` under other rules.

    python benchmarks/stopping_rules.py benchmarks/results/sweep_landing.jsonl [--name NAME]

A traced run checked its greedy policy (20 episodes on fresh seeds) every 8,192 steps once
its training mean reached 50, and ran the final 100-episode evaluation whenever a check
reached 170. Checks do not change training, so one traced run per seed shows where any
rule "start checking once the training mean reaches GATE, stop at the first check that
averages >= 200 + MARGIN" would have stopped it, and whether the final evaluation would
have passed the policy it stopped with. Prints, per rule: runs stopped, the env steps at
the stop (worst, median, best), and the stops whose final evaluation is below 200 (false
alarms). A rule's stop is only known within the trace: runs the trace ended before the
rule stopped count as not stopped.
"""

import argparse
import json
import statistics

GATES = (50, 100, 150, 200)
MARGINS = (0, 10, 20, 30)


def replay(trace, gate, margin):
    """(env steps, final evaluation) at the rule's stop, or None if the trace never stops."""
    for steps, training_mean, check_mean, final in trace:
        if training_mean >= gate and check_mean >= 200 + margin:
            return steps, final
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('jsonl', help='lines written by sweep.py --trace')
    parser.add_argument('--name', help='only the runs of this setting')
    args = parser.parse_args(argv)
    with open(args.jsonl) as file:
        runs = [line for line in map(json.loads, file) if 'trace' in line and args.name in (None, line['name'])]
    print(f'{len(runs)} traced runs (seeds {sorted(run["seed"] for run in runs)})\n')
    print(f'{"gate":>5} {"margin":>6}  {"stopped":>7}  {"steps: worst":>12} {"median":>9} {"best":>9}  false alarms')
    for gate in GATES:
        for margin in MARGINS:
            stops = [stop for stop in (replay(run['trace'], gate, margin) for run in runs) if stop is not None]
            steps = sorted(stop[0] for stop in stops)
            alarms = [final for _, final in stops if final is not None and final < 200]
            if steps:
                print(f'{gate:>5} {margin:>6}  {len(stops):>3}/{len(runs):<3}  {steps[-1]:>12,} '
                      f'{statistics.median(steps):>9,.0f} {steps[0]:>9,}  {len(alarms)} {alarms}')
            else:
                print(f'{gate:>5} {margin:>6}  {0:>3}/{len(runs):<3}')


if __name__ == '__main__':
    main()
