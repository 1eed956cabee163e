"""Throughput of the batch grader: submissions per minute, with and without isolation, and
side by side with another version of the grader.

    python benchmarks/grade_throughput.py [--submissions 100] [--jobs 2] [--repeat 1]
                                          [--isolation bwrap none] [--timeouts 0]
                                          [--compare /tmp/grader-before]

Generates a folder of submissions (a mix of correct, wrong, not started and broken
notebooks made from this kit's completed and student notebooks), grades it with
grader.batch.grade_folder for each isolation mode, and prints the wall-clock time,
submissions per minute and the time to the first graded row (the fixed cost: the cases'
expected values and the templates' imports), and what merging the run's output again
costs (grade.py merge: the gradebook, the feedback files and the class report). Every
grading runs in a fresh process (as grade.py does), whose imports are not timed.

--compare KIT: another checkout of the kit (e.g. `git worktree add /tmp/grader-before
<commit>`), whose grader grades the same folder in the same run, alternating with this
one (this, other, this, other ...), so that both see the same load; the ratio of their
times is printed per pair and as a median. It also measures `python -c "import torch"`,
the cost a fresh interpreter per submission would pay, which the pre-imported templates
avoid. Figures only: nothing here asserts a speed. Each run uses a fresh secret seed, as
grade.py does.
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
sys.path[:0] = [ROOT, os.path.join(ROOT, 'tools')]

import build  # noqa: E402 - tools/build.py: the student notebook, as release/ holds it

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

# runs in a fresh interpreter, in the folder of the kit whose grader it times
WORKER = '''
import json, sys, time
sys.path.insert(0, '.')
from grader import batch
folder, out, isolation, jobs, timeout = sys.argv[1:6]
first = []
start = time.perf_counter()
def progress(done, total, row):
    if not first and row['status'] != 'not a notebook':
        first.append(time.perf_counter() - start)
rows = batch.grade_folder(folder, out, timeout=float(timeout), jobs=int(jobs), progress=progress,
                          isolation=isolation, log=lambda message: None)
seconds = time.perf_counter() - start
statuses = {}
for row in rows:
    statuses[row['status']] = statuses.get(row['status'], 0) + 1
merge_seconds = None
try:  # what `grade.py merge` costs for this batch (one shard of one), where the kit has it
    from grader import shards
except ImportError:
    pass
else:
    merging = time.perf_counter()
    shards.merge(out + '/merged', [out])
    merge_seconds = time.perf_counter() - merging
print(json.dumps({'seconds': seconds, 'first': first[0] if first else None, 'statuses': statuses,
                  'merge_seconds': merge_seconds}))
'''


def make_submissions(folder, count, timeouts):
    """Writes `count` notebooks into folder; returns {kind: number}."""
    completed = nbformat.read(os.path.join(ROOT, build.COMPLETED), as_version=4)
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


def grade_once(kit, folder, isolation, jobs, timeout):
    """(seconds, seconds to the first graded row, {status: count}, seconds of merging its output or
    None) of one grading by the kit's grader."""
    with tempfile.TemporaryDirectory() as out:
        completed = subprocess.run([sys.executable, '-c', WORKER, folder, out, isolation, str(jobs), str(timeout)],
                                   cwd=kit, capture_output=True, text=True, check=True)
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    return result['seconds'], result['first'] or float('nan'), result['statuses'], result.get('merge_seconds')


def load():
    return os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')


def spread(values):
    return f'best {min(values):.1f}, median {statistics.median(values):.1f}, worst {max(values):.1f}'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--submissions', type=int, default=100)
    parser.add_argument('--jobs', type=int, default=2)
    parser.add_argument('--repeat', type=int, default=1, help='runs per isolation mode (and per grader)')
    parser.add_argument('--isolation', nargs='+', default=['bwrap', 'none'], choices=['bwrap', 'none'])
    parser.add_argument('--timeouts', type=int, default=0, help='how many submissions loop forever')
    parser.add_argument('--timeout', type=float, default=60.0, help='seconds per submission')
    parser.add_argument('--compare', metavar='KIT', help='another checkout of the kit, timed alternately with this one')
    args = parser.parse_args(argv)
    if args.compare and not os.path.isfile(os.path.join(args.compare, 'grader', 'batch.py')):
        parser.error(f'--compare: {args.compare} holds no grader/batch.py')

    imports = torch_import_seconds()
    print(f'python -c "import torch": median {statistics.median(imports):.2f} s '
          f'(best {min(imports):.2f}, worst {max(imports):.2f}); a fresh interpreter per submission would pay it '
          f'{args.submissions} times: ~{args.submissions * statistics.median(imports) / args.jobs:.0f} s with '
          f'{args.jobs} jobs, before any grading')
    graders = {'this': ROOT} | ({'compared': os.path.abspath(args.compare)} if args.compare else {})
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        kinds = make_submissions(folder, args.submissions, args.timeouts)
        print(f'{args.submissions} submissions: ' + ', '.join(f'{n} {kind}' for kind, n in kinds.items())
              + f'; --jobs {args.jobs}; {os.cpu_count()} CPUs; graders: '
              + ', '.join(f'{name} = {path}' for name, path in graders.items()))
        for run in range(args.repeat):
            for isolation in args.isolation:
                for name, kit in graders.items():
                    before = load()
                    seconds, first, statuses, merge_seconds = grade_once(kit, folder, isolation, args.jobs,
                                                                         args.timeout)
                    results.setdefault((name, isolation), []).append(seconds)
                    print(f'  run {run + 1}, {name}, isolation={isolation}: {seconds:.1f} s, '
                          f'{60 * args.submissions / seconds:.0f} submissions/minute, first graded row after '
                          f'{first:.1f} s; load {before:.1f} -> {load():.1f}; ' + json.dumps(statuses)
                          + (f'; merging its output again (grade.py merge): {merge_seconds:.1f} s'
                             if merge_seconds is not None else ''), flush=True)
    for (name, isolation), times in results.items():
        print(f'{name}, isolation={isolation}: {spread(times)} s over {len(times)} run(s); '
              f'median {60 * args.submissions / statistics.median(times):.0f} submissions/minute')
    for name in graders:
        if (name, 'bwrap') in results and (name, 'none') in results:
            ratios = [b / n for b, n in zip(results[name, 'bwrap'], results[name, 'none'])]
            print(f'{name}: cost of isolation, bwrap / none wall time = {statistics.median(ratios):.2f} '
                  f'(per run: {", ".join(f"{r:.2f}" for r in ratios)})')
    if args.compare:
        for isolation in args.isolation:
            ratios = [a / b for a, b in zip(results['this', isolation], results['compared', isolation])]
            print(f'isolation={isolation}: this / compared wall time = {statistics.median(ratios):.2f} '
                  f'(per pair: {", ".join(f"{r:.2f}" for r in ratios)})')


if __name__ == '__main__':
    main()
