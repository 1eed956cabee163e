"""Batch grading of submitted notebooks (instructor side).

    python grade.py SUBMISSIONS_DIR --out OUT_DIR [--timeout 60] [--cell-timeout 10] [--memory-mb 2048]
                    [--hidden hidden_cases.py] [--jobs 2] [--isolation auto|bwrap|none]
                    [--shard K/N] [--roster ROSTER.csv [--assignment NAME]] [--feedback verdict|located|named|fix]
    python grade.py merge --out OUT_DIR SHARD_OUT_DIR... [--roster ROSTER.csv [--assignment NAME]]

Every *.ipynb (any case) in SUBMISSIONS_DIR is graded on its own:
  1. Its bytes go, unread, to a sandboxed child process (grader/child.py, grader/sandbox.py):
     with bubblewrap, it sees only the Python environment and the student-side modules,
     has no network, its own processes, /tmp and user, and memory, process, file-size and
     time caps. There the notebook is read and its code cells run top to bottom in an
     IPython shell, as Jupyter runs them, with NBGRADER_EXECUTION=autograde (the kit's own
     training, evaluation and rendering cells skip, as under nbgrader); a cell that raises
     is noted and the next one runs, a cell over --cell-timeout is interrupted and noted.
     The child then sends back only what the PPO class the run left returned for the
     cases' inputs (plain data, size-bounded).
  2. This process judges: the cases are drawn afresh from a secret seed on every run
     (the course's and the kit's case structures with new numbers, plus the --hidden
     cases), the expected values come from ppo_reference.py, and known mistakes are named
     by running instructor/ppo_mistakes.py's wrong variants on the same inputs, with the
     checks and tolerances of the student's own report. Nothing the submission's process
     says can raise its score above what its outputs earn.
Writes OUT_DIR/gradebook.csv (one row per submission, written atomically by this process
only) and OUT_DIR/feedback/<submission>.md (the report the student would see), which gives
away as much as --feedback says: verdict (which cases pass), located (where, and what kind of
difference), named (the mistake), fix (its fix too; the default). Also OUT_DIR/class_report.html
(what the class did: grader/report.py), OUT_DIR/batch.json (the run's record: grader/shards.py,
which --shard and merge use) and, with --roster, OUT_DIR/lms_grades.csv and
OUT_DIR/lms_unmatched.csv (grader/lms.py). Every text a submission controls is made inert
first (grader/feedback.py). grader/README.md says more.

Statuses: ok, timeout, error, no PPO class, not a notebook. `passed` and `failed` count
test cases; `score` is the percentage of cases passed; `isolated` says whether the
submission ran under bubblewrap (yes) or as a plain process (no: bubblewrap is missing or
cannot run here; grade.py says so at the start).
"""

import argparse
import collections
import csv
import os
import sys
import time

from grader import lms, sandbox, shards
from grader.batch import CELL_TIMEOUT, ISOLATION_CHOICES, grade_folder
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
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ['merge']:
        return merge_main(argv[1:])
    title = __doc__.split('\n\n')[0].rstrip('.')
    parser = argparse.ArgumentParser(description=f'{title}: notebooks in, gradebook out. '
                                                 '`grade.py merge --help`: joining the outputs of --shard runs.')
    parser.add_argument('submissions', help='folder with the submitted .ipynb files (a folder named merge: ./merge)')
    parser.add_argument('--out', required=True, help='folder for gradebook.csv, feedback/ and class_report.html')
    parser.add_argument('--timeout', type=float, default=60.0, help='seconds per submission (default: %(default)s)')
    parser.add_argument('--cell-timeout', type=float, default=CELL_TIMEOUT,
                        help='seconds one cell of a notebook may run before it is interrupted (default: %(default)s)')
    parser.add_argument('--memory-mb', type=int, default=2048,
                        help='memory cap per submission: its address space, including the ~0.7 GB of libraries '
                             '(torch) imported before it runs (default: %(default)s)')
    parser.add_argument('--hidden', help='a Python file defining hidden_cases(rng), a list of extra rl_tests.Case')
    parser.add_argument('--jobs', type=int, default=2, help='submissions graded at once (default: %(default)s)')
    parser.add_argument('--isolation', choices=ISOLATION_CHOICES, default='auto',
                        help='bwrap: require bubblewrap; none: plain processes; auto (default): bubblewrap if it '
                             'works here, else plain processes with a warning')
    parser.add_argument('--shard', metavar='K/N', help='grade only the K-th of N shares of the folder (K = 1..N), '
                                                       'e.g. one per machine; join them with `grade.py merge`')
    add_roster_arguments(parser)
    parser.add_argument('--feedback', choices=FEEDBACK_LEVELS, default='fix',
                        help='how much the feedback files give away: verdict (which cases pass), located (where, and '
                             'what kind of difference), named (the mistake), fix (its fix too; default)')
    args = parser.parse_args(argv)
    if not os.path.isdir(args.submissions):
        parser.error(f'not a folder: {args.submissions}')
    if args.timeout <= 0 or args.cell_timeout <= 0 or args.memory_mb <= 0 or args.jobs <= 0:
        parser.error('--timeout, --cell-timeout, --memory-mb and --jobs must be positive')
    try:
        shard = shards.parse_shard(args.shard) if args.shard is not None else None
        roster = read_roster(parser, args)
    except (shards.ShardError, lms.RosterError) as exc:
        parser.error(str(exc))
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
                            args.isolation, cell_timeout=args.cell_timeout, shard=shard, roster=roster,
                            feedback=args.feedback)
    except sandbox.SandboxError as exc:
        parser.exit(1, f'grade.py: {exc}\n')
    print(summary(rows))
    print(f'gradebook: {os.path.join(args.out, "gradebook.csv")} ({time.perf_counter() - start:.0f} s); class report: '
          f'{os.path.join(args.out, shards.REPORT)}')
    if shard is not None and shard[1] > 1:
        print(f'shard {shard[0]}/{shard[1]}: join the {shard[1]} shards with: python grade.py merge --out OUT '
              + ' '.join(f'SHARD_{k}' for k in range(1, min(shard[1], 3) + 1)) + (' ...' if shard[1] > 3 else '')
              + (' --roster ROSTER.csv' if roster else ''))
    elif roster is not None:
        print(roster_summary(args.out))
    return 0


def add_roster_arguments(parser):
    parser.add_argument('--roster', metavar='ROSTER.csv',
                        help='students (id, name, and e-mail or file name): writes lms_grades.csv for Canvas or '
                             'Moodle, and lms_unmatched.csv (see grader/lms.py for the columns and the matching)')
    parser.add_argument('--assignment', default=lms.DEFAULT_ASSIGNMENT,
                        help='the LMS column of the grades (default: %(default)s); in Canvas, the assignment\'s '
                             'column name as its gradebook export writes it, e.g. "PPO LunarLander (12345)"')


def read_roster(parser, args):
    if args.roster is None:
        if args.assignment != lms.DEFAULT_ASSIGNMENT:
            parser.error('--assignment names the LMS column of --roster: give --roster ROSTER.csv too')
        return None
    return lms.read_roster(args.roster, args.assignment)


def roster_summary(out):
    with open(os.path.join(out, lms.UNMATCHED), encoding='utf-8', newline='') as file:
        problems = collections.Counter(row['problem'] for row in csv.DictReader(file))
    return (f'LMS grades: {os.path.join(out, lms.GRADES)}'
            + (' (' + ', '.join(f'{count} {problem}' for problem, count in problems.most_common())
               + f': see {os.path.join(out, lms.UNMATCHED)})' if problems else ' (every submission matched a student, '
                                                                               'every student has a submission)'))


def merge_main(argv):
    parser = argparse.ArgumentParser(prog='grade.py merge',
                                     description='Joins the output folders of `grade.py SUBMISSIONS --out SHARD_OUT '
                                                 '--shard K/N`, K = 1..N, into one gradebook, class report and LMS '
                                                 'file.')
    parser.add_argument('shards', nargs='+', metavar='SHARD_OUT', help='the output folder of each shard')
    parser.add_argument('--out', required=True, help='folder for the merged gradebook.csv, feedback/, '
                                                     'class_report.html and batch.json')
    add_roster_arguments(parser)
    args = parser.parse_args(argv)
    try:
        roster = read_roster(parser, args)
        rows = shards.merge(args.out, args.shards, roster)
    except (shards.ShardError, lms.RosterError) as exc:
        parser.exit(2, f'grade.py merge: error: {exc}\n')
    print(f'merged {len(args.shards)} shards')
    print(summary(rows))
    print(f'gradebook: {os.path.join(args.out, "gradebook.csv")}; '
          f'class report: {os.path.join(args.out, shards.REPORT)}')
    if roster is not None:
        print(roster_summary(args.out))
    return 0
