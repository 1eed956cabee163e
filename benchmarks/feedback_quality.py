"""How well the feedback explains real third-party code it was never built around.

    python benchmarks/feedback_quality.py             # the development half (tests/feedback/third_party/dev)
    python benchmarks/feedback_quality.py --heldout   # the held-out half: run once, at the end, and report
    python benchmarks/feedback_quality.py --half heldout2   # the second held-out set (after the red-team fixes)
    python benchmarks/feedback_quality.py --seed 7    # also the grader's way: fresh cases of a secret seed

Each file of the corpus (see tests/feedback/third_party/README.md) is real GAE / PPO-loss code
adapted to the exercise's API with its conventions and bugs kept, and says which functions are
correct (CORRECT) and which bugs it has, each with the mistake ids that put it into words
(BUGS). For each file this prints: is every verdict right (a function's cases all pass exactly
when it is correct)?, how many of its bugs the report puts into words, which mistakes it names
that the file does not make, whether any line contradicts another, and how long test_ppo took;
then the totals. The goals (issue 17): every verdict right, >= 80% of the bugs put into words,
no wrong mistake named, no contradiction, test_ppo under 3 s.
"""

import argparse
import glob
import importlib.util
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT]

import torch  # noqa: E402

import rl_tests  # noqa: E402
from instructor.feedback_checks import contradictions  # noqa: E402
from rl_kit import harness  # noqa: E402
from rl_kit.mistakes import MISTAKES  # noqa: E402

CORPUS = os.path.join(ROOT, 'tests', 'feedback', 'third_party')
FUNCTIONS = {'compute_advantages': ('gae_course', 'gae'), 'compute_loss': ('loss_course', 'loss')}


def load(path):
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def corpus(half):
    return sorted(glob.glob(os.path.join(CORPUS, half, '*.py')))


def student_report(cls):
    """(Report, cases, seconds) as a student's test_ppo() makes it."""
    start = time.perf_counter()
    report = harness.collect(rl_tests.test_ppo(cls))
    return report, rl_tests.make_cases(), time.perf_counter() - start


class GraderCases:
    """The grader's way for one secret seed: fresh cases, expected values and mistakes' outputs live."""

    def __init__(self, seed):
        from grader.judge import Judge
        self.judge = Judge(seed)
        self.judge.start_background()
        self.judge.stop_background()
        for case in self.judge.cases:
            self.judge.mistakes(case)

    def report(self, cls):
        # as data, the way the sandboxed child sends it
        observations = json.loads(json.dumps([rl_tests.observe(cls, case).to_data() for case in self.judge.cases]))
        return self.judge.judge(observations), self.judge.cases


def score(module, report, cases):
    """{verdict, words, wrong, contradictions}: what the report got right about a file."""
    passed = {function: all(result.passed for result, case in zip(report.cases, cases) if case.group in groups)
              for function, groups in FUNCTIONS.items()}
    correct = {function: module.CORRECT.get(function, True) for function in FUNCTIONS}
    named = {m.id for result in report.cases for m in result.mistakes}
    named |= {part for result in report.cases for m in result.mistakes for part in m.parts}
    bugs = {bug: bool(set(ids) & named) for bug, ids in module.BUGS.items()}
    allowed = {i for ids in module.BUGS.values() for i in ids}
    allowed |= {part for i in allowed if i in MISTAKES for part in MISTAKES[i].parts}  # a bug made of parts makes each
    return {'verdict': passed == correct, 'verdicts': (passed, correct), 'bugs': bugs,
            'wrong': sorted(named - allowed - {'+'}), 'contradictions': contradictions(report, cases)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--heldout', action='store_true', help='the held-out half (run it once, at the end)')
    parser.add_argument('--half', choices=('dev', 'heldout', 'heldout2'),
                        help='a half by name: heldout2 is the second held-out set, written after the red-team fixes')
    parser.add_argument('--seed', type=int, help='also judge as the grader does, on the fresh cases of this seed')
    parser.add_argument('--verbose', action='store_true', help='print each report')
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    half = args.half or ('heldout' if args.heldout else 'dev')
    grader = GraderCases(args.seed) if args.seed is not None else None
    totals = {'files': 0, 'verdicts': 0, 'bugs': 0, 'words': 0, 'wrong': 0, 'contradictions': 0}
    seconds = []
    print(f'{half}: {len(corpus(half))} files; per file: verdict right? | bugs put into words | wrong mistakes named '
          f'| contradictions | test_ppo seconds')
    for path in corpus(half):
        module = load(path)
        runs = [('student', *student_report(module.Implementation))]
        if grader is not None:
            runs.append(('grader', *grader.report(module.Implementation), None))
        for kind, report, cases, took in runs:
            result = score(module, report, cases)
            if took is not None:
                seconds.append(took)
            words = sum(result['bugs'].values())
            totals['files'] += 1
            totals['verdicts'] += result['verdict']
            totals['bugs'] += len(result['bugs'])
            totals['words'] += words
            totals['wrong'] += bool(result['wrong'])
            totals['contradictions'] += bool(result['contradictions'])
            name = os.path.basename(path)[:-3] + ('' if kind == 'student' else f' (grader, seed {args.seed})')
            print(f'{name:32s} verdict {"right" if result["verdict"] else "WRONG " + str(result["verdicts"])} | '
                  f'{words}/{len(result["bugs"])} bugs in words | '
                  f'wrong named: {", ".join(result["wrong"]) or "none"} | '
                  f'contradictions: {len(result["contradictions"])}' + (f' | {took:.2f} s' if took else ''))
            for bug, said in result['bugs'].items():
                if not said:
                    print(f'    not put into words: {bug}')
            for line in result['contradictions']:
                print(f'    contradiction: {line}')
            if args.verbose:
                print(report.to_text())
    n = totals['files']
    print(f'\ntotals ({half}{", student and grader" if grader else ""}): verdicts right {totals["verdicts"]}/{n}; '
          f'bugs put into words {totals["words"]}/{totals["bugs"]} '
          f'({100 * totals["words"] / max(totals["bugs"], 1):.0f}%); files with a wrong mistake named '
          f'{totals["wrong"]}/{n}; files with a contradiction {totals["contradictions"]}/{n}')
    if seconds:
        print(f'test_ppo seconds over {len(seconds)} files: worst {max(seconds):.2f}, median '
              f'{statistics.median(seconds):.2f}, best {min(seconds):.2f}')


if __name__ == '__main__':
    main()
