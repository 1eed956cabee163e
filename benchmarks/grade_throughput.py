"""Throughput of the batch grader: submissions per minute, with and without isolation.

    python benchmarks/grade_throughput.py [--submissions 100] [--jobs 2] [--repeat 1]
                                          [--isolation bwrap none] [--timeouts 0]

Generates a folder of submissions (a mix of correct, wrong, not started and broken
notebooks made from the completed notebook), grades it with grade.grade_folder for each
isolation mode, and prints the wall-clock time, submissions per minute and the time to
the first graded row (the fixed cost: the cases' expected values and the templates'
imports), and what merging the run's output again costs (grade.py merge: the gradebook,
the feedback files and the class report). It also measures `python -c "import torch"`,
the cost a fresh interpreter per submission would pay, which the pre-imported templates
avoid. Figures only: nothing here asserts a speed. Each run uses a fresh secret seed, as grade.py does.
"""

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import nbformat

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from grader import batch as grade  # noqa: E402
from grader import shards  # noqa: E402

GAE_LINE = '            next_advantage = deltas[:, t] + gamma * lmbda * episode_continues[:, t] * next_advantage\n'
LOSS_LINE = '        actor_loss = -torch.min(l1, l2).mean()\n'
N_LINE = '        N = num_states // T\n'
# (kind, old text of the PPO cell, new text): the wrong and broken variants
VARIANTS = [
    ('wrong', GAE_LINE, GAE_LINE.replace('gamma * lmbda', 'gamma')),
    ('wrong', LOSS_LINE, LOSS_LINE.replace('torch.min', 'torch.max')),
    ('wrong', N_LINE, '        N, T = 1, num_states\n'),
    ('wrong', GAE_LINE, GAE_LINE.replace(' * episode_continues[:, t]', '')),
    ('broken', 'class PPO(nn.Module):\n', 'class PPO(nn.Module):\n    scale = 1 / 0\n'),
    ('broken', LOSS_LINE, '        import os; os._exit(7)\n'),
    ('broken', N_LINE, '        N = num_states // T * SCALE\n'),
]
# of every 20 submissions: 10 correct, 5 wrong, 3 not started, 2 broken
PATTERN = ['correct'] * 10 + ['wrong'] * 5 + ['not started'] * 3 + ['broken'] * 2


def make_submissions(folder, count, timeouts):
    """Writes `count` notebooks into folder; returns {kind: number}."""
    completed = nbformat.read(os.path.join(ROOT, 'ppo_lunarlander.ipynb'), as_version=4)
    sys.path.insert(0, os.path.join(ROOT, 'tools'))
    import build  # the hand-out notebook is a build output (release/), made here as tools/build.py makes it
    student = build.targets()[f'{build.RELEASE}/{build.STUDENT}']
    wrong = [v for v in VARIANTS if v[0] == 'wrong']
    broken = [v for v in VARIANTS if v[0] == 'broken']
    kinds = {}
    for index in range(count):
        kind = 'timeout' if index < timeouts else PATTERN[index % len(PATTERN)]
        if kind == 'not started':
            text = student
        else:
            notebook = copy.deepcopy(completed)
            cell = next(c for c in notebook.cells if c.cell_type == 'code' and c.source.startswith('class PPO'))
            if kind == 'timeout':
                cell.source = cell.source.replace(N_LINE, '        while True:\n            pass\n')
            elif kind in ('wrong', 'broken'):
                variants = wrong if kind == 'wrong' else broken
                _, old, new = variants[index % len(variants)]
                cell.source = cell.source.replace(old, new)
            text = nbformat.writes(notebook)
        with open(os.path.join(folder, f'student_{index:03d}.ipynb'), 'w', encoding='utf-8') as file:
            file.write(text)
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def torch_import_seconds(repeat=3):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, '-c', 'import torch'], check=True)
        times.append(time.perf_counter() - start)
    return times


def grade_once(folder, isolation, jobs, timeout):
    first = []
    start = time.perf_counter()

    def progress(done, total, row):
        if not first and row['status'] != 'not a notebook':
            first.append(time.perf_counter() - start)

    with tempfile.TemporaryDirectory() as out:
        rows = grade.grade_folder(folder, out, timeout=timeout, jobs=jobs, progress=progress, isolation=isolation,
                                  log=lambda message: None)
        seconds = time.perf_counter() - start
        merging = time.perf_counter()  # what `grade.py merge` costs for this batch (one shard of one)
        shards.merge(os.path.join(out, 'merged'), [out])
        merge_seconds = time.perf_counter() - merging
    statuses = {}
    for row in rows:
        statuses[row['status']] = statuses.get(row['status'], 0) + 1
    return seconds, first[0] if first else float('nan'), statuses, merge_seconds


def load():
    return os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--submissions', type=int, default=100)
    parser.add_argument('--jobs', type=int, default=2)
    parser.add_argument('--repeat', type=int, default=1, help='runs per isolation mode')
    parser.add_argument('--isolation', nargs='+', default=['bwrap', 'none'], choices=['bwrap', 'none'])
    parser.add_argument('--timeouts', type=int, default=0, help='how many submissions loop forever')
    parser.add_argument('--timeout', type=float, default=60.0, help='seconds per submission')
    args = parser.parse_args(argv)

    imports = torch_import_seconds()
    print(f'python -c "import torch": median {statistics.median(imports):.2f} s '
          f'(best {min(imports):.2f}, worst {max(imports):.2f}); a fresh interpreter per submission would pay it '
          f'{args.submissions} times: ~{args.submissions * statistics.median(imports) / args.jobs:.0f} s with '
          f'{args.jobs} jobs, before any grading')
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        kinds = make_submissions(folder, args.submissions, args.timeouts)
        print(f'{args.submissions} submissions: ' + ', '.join(f'{n} {kind}' for kind, n in kinds.items())
              + f'; --jobs {args.jobs}; {os.cpu_count()} CPUs')
        for run in range(args.repeat):
            for isolation in args.isolation:
                before = load()
                seconds, first, statuses, merge_seconds = grade_once(folder, isolation, args.jobs, args.timeout)
                results.setdefault(isolation, []).append(seconds)
                print(f'  run {run + 1}, isolation={isolation}: {seconds:.1f} s, '
                      f'{60 * args.submissions / seconds:.0f} submissions/minute, first graded row after '
                      f'{first:.1f} s; load {before:.1f} -> {load():.1f}; '
                      + json.dumps(statuses) + f'; merging its output again (grade.py merge): {merge_seconds:.1f} s')
    for isolation, times in results.items():
        print(f'isolation={isolation}: best {min(times):.1f} s, median {statistics.median(times):.1f} s, '
              f'worst {max(times):.1f} s over {len(times)} run(s); '
              f'median {60 * args.submissions / statistics.median(times):.0f} submissions/minute')
    if 'bwrap' in results and 'none' in results:
        ratios = [b / n for b, n in zip(results['bwrap'], results['none'])]
        print(f'cost of isolation: bwrap / none wall time = {statistics.median(ratios):.2f} '
              f'(per run: {", ".join(f"{r:.2f}" for r in ratios)})')


if __name__ == '__main__':
    main()
