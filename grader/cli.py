"""Batch grading of submitted notebooks (instructor side).

    python grade.py SUBMISSIONS_DIR --out OUT_DIR [--timeout 60] [--memory-mb 2048]
                    [--hidden hidden_cases.py] [--jobs 2] [--isolation auto|bwrap|none]
                    [--feedback verdict|located|named|fix]

Every *.ipynb (any case) in SUBMISSIONS_DIR is graded on its own:
  1. Its code cells are read as Jupyter runs them, and only the code that defines things
     is kept: imports, functions, classes, aliases and constant expressions (see
     grader/notebooks.py). Training, rendering and any other top-level statement is not run.
  2. That code runs in a sandboxed child process (grader/child.py, grader/sandbox.py):
     with bubblewrap, it sees only the Python environment and the student-side modules,
     has no network, its own processes, /tmp and user, and memory, process, file-size and
     time caps. It receives the inputs of the cases and sends back only what the
     submission's compute_advantages() and compute_loss() returned (plain data, size-bounded).
  3. This process judges: the cases are drawn afresh from a secret seed on every run
     (the course's and the kit's case structures with new numbers, plus the --hidden
     cases), the expected values come from ppo_reference.py, and known mistakes are named
     by running instructor/ppo_mistakes.py's wrong variants on the same inputs. Nothing the
     submission's process says about itself counts, other than its outputs.
Writes OUT_DIR/gradebook.csv (one row per submission, written atomically by this process
only) and OUT_DIR/feedback/<submission>.md (the report the student would see), which gives
away as much as --feedback says: verdict (which cases pass), located (where, and what kind of
difference), named (the mistake), fix (its fix too; the default).

Statuses: ok, timeout, error, no PPO class, not a notebook. `passed` and `failed` count
test cases; `score` is the percentage of cases passed; `isolated` says whether the
submission ran under bubblewrap (yes) or as a plain process (no: bubblewrap is missing or
cannot run here; grade.py says so at the start).
"""

import argparse
import collections
import os
import sys
import time

from grader import sandbox
from grader.batch import ISOLATION_CHOICES, grade_folder
from grader.feedback import ERRORS
from grader.judge import load_hidden_cases
from rl_kit.levels import LEVELS as FEEDBACK_LEVELS


def summary(rows):
    statuses = collections.Counter(row['status'] for row in rows)
    graded = [row for row in rows if row['status'] == 'ok']
    lines = [f'{len(rows)} submissions: ' + ', '.join(f'{count} {status}' for status, count in statuses.most_common())]
    if rows:
        lines.append(f'mean score {sum(float(row["score"]) for row in rows) / len(rows):.1f}% over all submissions'
                     + (f', {sum(row["score"] for row in graded) / len(graded):.1f}% over the {len(graded)} graded'
                        if graded else ''))
    mistakes = collections.Counter(row['first_mistake'] for row in graded if row['first_mistake'])
    if mistakes:
        lines.append('most common mistakes: ' + '; '.join(f'{title} ({count})' for title, count in mistakes.most_common(5)))
    isolated = collections.Counter(row['isolated'] for row in rows)
    if isolated.get('no'):
        lines.append(f'{isolated["no"]} submissions ran without isolation (isolated=no)')
    return '\n'.join(lines)


def main(argv=None):
    title = __doc__.split('\n\n')[0].rstrip('.')
    parser = argparse.ArgumentParser(description=f'{title}: notebooks in, gradebook out.')
    parser.add_argument('submissions', help='folder with the submitted .ipynb files')
    parser.add_argument('--out', required=True, help='folder for gradebook.csv and feedback/')
    parser.add_argument('--timeout', type=float, default=60.0, help='seconds per submission (default: %(default)s)')
    parser.add_argument('--memory-mb', type=int, default=2048,
                        help='memory cap per submission: its address space, including the ~0.7 GB of libraries '
                             '(torch) imported before it runs (default: %(default)s)')
    parser.add_argument('--hidden', help='a Python file defining hidden_cases(rng), a list of extra rl_tests.Case')
    parser.add_argument('--jobs', type=int, default=2, help='submissions graded at once (default: %(default)s)')
    parser.add_argument('--isolation', choices=ISOLATION_CHOICES, default='auto',
                        help='bwrap: require bubblewrap; none: plain processes; auto (default): bubblewrap if it '
                             'works here, else plain processes with a warning')
    parser.add_argument('--feedback', choices=FEEDBACK_LEVELS, default='fix',
                        help='how much the feedback files give away: verdict (which cases pass), located (where, and '
                             'what kind of difference), named (the mistake), fix (its fix too; default)')
    args = parser.parse_args(argv)
    if not os.path.isdir(args.submissions):
        parser.error(f'not a folder: {args.submissions}')
    if args.timeout <= 0 or args.memory_mb <= 0 or args.jobs <= 0:
        parser.error('--timeout, --memory-mb and --jobs must be positive')
    hidden = os.path.abspath(args.hidden) if args.hidden else None
    if hidden is not None:
        try:
            import numpy as np
            load_hidden_cases(hidden, np.random.default_rng(0))
        except Exception as exc:  # noqa: BLE001 - any mistake in the instructor's file, said before grading
            parser.error(f'the hidden cases cannot be used: {type(exc).__name__}: {exc}')

    def progress(done, total, row):
        print(f'[{done}/{total}] {row["submission"]}: {row["status"]}'
              + (f', {row["score"]:g}%' if row['status'] == 'ok' else f' ({row["detail"][:100]})'), flush=True)

    start = time.perf_counter()
    try:
        rows = grade_folder(args.submissions, args.out, args.timeout, args.memory_mb, hidden, args.jobs, progress,
                            args.isolation, feedback=args.feedback)
    except sandbox.SandboxError as exc:
        parser.exit(1, f'grade.py: {exc}\n')
    print(summary(rows))
    print(f'gradebook: {os.path.join(args.out, "gradebook.csv")} ({time.perf_counter() - start:.0f} s)')
    return 0

