"""The harness and the exercise's tests: the protocol, the typed report, the cases as data,
observe/judge on untrusted data, the generated expected data, and that no solution is inside."""

import ast
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import build  # tools/, on the path via conftest
import make_expected
from rl_kit import harness as rl_harness
import rl_tests
from ppo_reference import PPO
from instructor import ppo_mistakes
from rl_kit.harness import Kind
from rl_kit.mistakes import base

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# every module a student receives (release/), as the build finds them by following the notebook's imports
RELEASE = {path[len(build.RELEASE) + 1:]: text for path, text in build.targets().items()
           if path.startswith(build.RELEASE + '/')}
# (rl_gui.py shows the GAE explorer's horizon 1 / (1 - γλ): tests/notebooks checks it with a list of its own)
STUDENT_MODULES = sorted(name for name in RELEASE if name.endswith('.py') and name != 'rl_gui.py')
NUMBER_OF_CASES = len(rl_tests.make_cases())


def protocol_example():
    yield 'first section'
    yield True, 'never shown'
    yield None
    yield False, 'the second case is wrong'
    ok = yield from rl_harness.check_torch_tensor(torch.zeros(3), 'x', shape=(3,), dtype=torch.float32)
    yield ok, 'check_torch_tensor returned False'
    yield None
    yield 'second section'
    yield (yield from rl_harness.check_torch_tensor(torch.zeros(2, 1), 'y', shape=(2,))) is False, 'expected False'
    yield None


def test_protocol_sections_cases_and_counts():
    report = rl_harness.collect(protocol_example())
    assert not report
    assert [(case.section, case.number, case.passed, case.checks) for case in report.cases] == [
        ('first section', 1, True, 1), ('first section', 2, False, 3), ('second section', 1, False, 2)]
    assert report.cases[1].failures == [rl_harness.Failure(Kind.CHECK, 'the second case is wrong')]
    assert report.cases[2].failures[0].message == ('y has shape (2, 1), expected (2,) (same number of elements: '
                                                   'reshape or squeeze it)')
    assert report.score == pytest.approx(1 / 3) and (report.cases_passed, report.total) == (1, 3)


def test_run_tests_shows_the_report_and_returns_nothing(capsys):
    # returns None: a notebook cell does not echo the report object under the report
    assert rl_tests.run_tests(rl_tests.test_ppo(PPO)) is None
    out = capsys.readouterr().out
    assert out.startswith(f'All {NUMBER_OF_CASES} cases pass. Well done!')
    assert "compute_advantages(): the course's cases" in out and '✓ case 1 (4 environments × 1 step)' in out
    assert 'checks' not in out  # counts of cases, never of checks


def test_an_exception_escaping_the_tests_is_reported_not_raised():
    def broken():
        yield 'section'
        yield True, 'fine'
        raise KeyError('boom')
    report = rl_harness.collect(broken())
    assert not report and report.stopped.kind == Kind.STOPPED
    assert report.stopped.message.startswith("the tests stopped early: KeyError: 'boom' (in broken, line")
    assert '✗ stopped' not in report.to_text() and 'the tests stopped early' in report.to_text()
    assert report.total == 2 and report.score == 0.5  # the stop counts as a failed case


def test_an_empty_test_is_not_a_pass():
    def nothing():
        return
        yield
    report = rl_harness.collect(nothing())
    assert not report and report.stopped.message == 'no checks were run'


def test_html_and_markdown_are_escaped_and_coloured():
    mistake = rl_harness.Mistake('m', 'a <title>', 'a fix & more')
    case = rl_harness.CaseResult('a <b> section', failures=[rl_harness.Failure(Kind.WRONG_VALUE, 'x < y')],
                                 mistakes=[mistake], notes=['a note'])
    report = rl_harness.Report([case])
    page = report.to_html()
    assert 'a &lt;b&gt; section' in page and 'x &lt; y' in page and 'a fix &amp; more' in page
    assert 'color:#cf222e' in page
    assert report.to_markdown().startswith('**0 of 1 cases pass; likely mistakes: a <title>.**')
    assert '### a <b> section' in report.to_markdown()


@pytest.mark.parametrize('value,kwargs,message', [
    (torch.zeros(3), dict(shape=(3,), dtype=torch.float32), None),
    ([1.0], dict(), 'x must be a torch.Tensor, got list'),
    (torch.zeros(3, dtype=torch.float64), dict(dtype=torch.float32), 'x has dtype torch.float64, expected torch.float32'),
    (torch.tensor([1.0, float('inf')]), dict(), 'x contains NaN or infinity: [1, inf]'),
    (torch.zeros(()), dict(requires_grad=True), 'x does not require gradients'),
])
def test_check_torch_tensor(value, kwargs, message):
    checks = list(rl_harness.check_torch_tensor(value, 'x', **kwargs))
    assert len(checks) == 1
    passed, text = checks[0]
    assert passed == (message is None)
    if message:
        assert text.startswith(message)


def test_numbers_are_shown_with_four_significant_digits():
    class Off(PPO):
        def compute_loss(self, *args):
            actor_loss, critic_loss = super().compute_loss(*args)
            return actor_loss + 0.123456789, critic_loss
    text = rl_harness.collect(rl_tests.test_ppo(Off, groups=('loss_course',))).to_text()
    assert 'actor_loss is incorrect: got -0.1479, expected -0.2713' in text, text
    assert '×' not in text  # a shift of one number is no factor worth naming


# ------------------------------------------------------------------ check_ready, assert_group

def test_check_ready_names_what_is_missing_by_kind(capsys):
    class NotStarted(PPO):
        def compute_loss(self, *args):
            raise NotImplementedError()
    with pytest.raises(rl_tests.NotReadyError, match=r'^compute_loss\(\) not implemented yet'):
        rl_tests.check_ready(NotStarted)

    class Crashes(PPO):
        def compute_advantages(self, *args):
            raise RuntimeError('NotImplementedError() is not implemented yet')  # text alone decides nothing
    with pytest.raises(rl_tests.NotReadyError, match='your PPO code crashes'):
        rl_tests.check_ready(Crashes)
    assert rl_tests.check_ready(PPO) is None
    assert 'ready to train' in capsys.readouterr().out


def test_assert_group_raises_only_for_failing_groups(capsys):
    class WrongLoss(PPO):
        def compute_loss(self, *args):
            actor_loss, critic_loss = super().compute_loss(*args)
            return actor_loss, 2 * critic_loss
    for group in ('gae_course', 'gae'):
        rl_tests.assert_group(WrongLoss, group)
    for group in ('loss_course', 'loss'):
        with pytest.raises(AssertionError, match='cases pass'):
            rl_tests.assert_group(WrongLoss, group)
    with pytest.raises(ValueError, match="group must be one of"):
        rl_tests.assert_group(PPO, 'everything')


# ------------------------------------------------------------------ cases and observations as data

def test_cases_round_trip_through_json_exactly():
    for case in rl_tests.make_cases() + rl_tests.make_cases(seed=12345):
        again = rl_tests.Case.from_data(json.loads(json.dumps(case.to_data())))
        assert again.to_data() == case.to_data()
        assert all(torch.equal(a, b) for a, b in zip(again.tensors(), case.tensors()))


def test_fresh_cases_keep_the_structure_and_change_the_numbers():
    fixed, fresh = rl_tests.make_cases(), rl_tests.make_cases(seed=7)
    assert [(c.id, c.group, c.function, c.num_steps) for c in fixed] == \
           [(c.id, c.group, c.function, c.num_steps) for c in fresh]
    for a, b in zip(fixed, fresh):
        assert {name: x.shape for name, x in a.inputs.items()} == {name: x.shape for name, x in b.inputs.items()}
        assert not np.array_equal(a.inputs['states'], b.inputs['states'])
    assert rl_tests.make_cases(seed=7)[10].to_data() == fresh[10].to_data()  # a seed gives the same cases


@pytest.mark.parametrize('garbage', [
    None, [], {'case_id': 3}, {'case_id': 'x', 'outputs': 'no'},
    {'case_id': 'x', 'failure': None, 'outputs': [{'name': 'a', 'type': 'Tensor', 'shape': [2], 'values': [1.0]}],
     'gradients': {}, 'gradient_errors': {}, 'inputs_changed': False},
    {'case_id': 'x', 'failure': None, 'outputs': [{'name': 'a', 'type': 'Tensor', 'shape': [10**6],
                                                  'values': [0.0] * 10}], 'gradients': {}, 'gradient_errors': {},
     'inputs_changed': False},
    {'case_id': 'x', 'failure': {'kind': 'PASSED', 'message': '', 'function': None}, 'outputs': [],
     'gradients': {}, 'gradient_errors': {}, 'inputs_changed': False},
    {'case_id': 'x', 'failure': None, 'outputs': [], 'gradients': {'actor_loss': ['1']}, 'gradient_errors': {},
     'inputs_changed': False},
])
def test_observations_from_untrusted_data_are_validated(garbage):
    with pytest.raises(ValueError):
        rl_tests.Observation.from_data(garbage)


def test_observation_round_trip_and_judging_is_the_same():
    case = rl_tests.make_cases(groups=('gae',))[3]
    observed = rl_tests.observe(PPO, case)
    again = rl_tests.Observation.from_data(json.loads(json.dumps(observed.to_data())))
    assert rl_tests.judge(case, again, rl_tests.stored()['expected'][case.id]).passed
    assert rl_tests.judge(case, observed, observed).passed  # judged against an Observation too


# ------------------------------------------------------------------ the generated data

def test_expected_data_is_up_to_date():
    # drift: rl_kit/expected.json is what tools/make_expected.py generates from the reference now
    with open(os.path.join(ROOT, 'rl_kit', 'expected.json'), encoding='utf-8') as file:
        assert file.read() == make_expected.expected_json(), 'run python tools/build.py'


def test_every_named_mistake_has_stored_outputs():
    stored = {mistake for case in rl_tests.stored()['mistake_outputs'].values() for mistake in case}
    assert {mistake for mistake in stored if '+' not in mistake} == set(ppo_mistakes.MISTAKE_IDS)  # each variant
    assert {base(part) for mistake in stored for part in mistake.split('+')} == set(rl_tests.MISTAKES)


# ------------------------------------------------------------------ no solution inside

@pytest.mark.parametrize('module', STUDENT_MODULES)
def test_student_modules_import_no_solution(module):
    with open(os.path.join(ROOT, module), encoding='utf-8') as file:
        tree = ast.parse(file.read())
    imported = {alias.name.split('.')[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split('.')[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not imported & build.INSTRUCTOR_MODULES, imported


def test_the_student_modules_work_without_the_reference(tmp_path):
    # as on a student's machine: only what the hand-out holds
    for name, text in RELEASE.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding='utf-8')
    code = ("import rl_tests\nfrom rl_kit import harness as rl_harness\n"
            "class P(rl_tests.torch.nn.Module):\n"
            "    def __init__(self, *a):\n        raise NotImplementedError()\n"
            "    def compute_advantages(self, *a):\n        raise NotImplementedError()\n"
            "    def compute_loss(self, *a):\n        raise NotImplementedError()\n"
            "r = rl_harness.collect(rl_tests.test_ppo(P))\nprint(r.total, r.cases_passed)")
    result = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(NUMBER_OF_CASES), '0']


def code_of(path):
    # the source without its docstrings and comments (which may describe formulas)
    with open(path, encoding='utf-8') as file:
        tree = ast.parse(file.read())
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Module)) and ast.get_docstring(node):
            node.body = node.body[1:] or [ast.Pass()]
    return ast.unparse(tree)


@pytest.mark.parametrize('module', STUDENT_MODULES)
def test_student_modules_compute_no_gae_and_no_clipped_loss(module):
    code = code_of(os.path.join(ROOT, module))
    # the pieces any GAE or clipped loss needs: the decay gamma * lambda, clipping of the
    # ratio, the minimum of the two terms, the ratio itself
    for piece in ('lmbda *', '* lmbda', 'gamma * self.lmbda', 'clamp(', '.clip(', 'torch.min(', 'minimum(',
                  '.exp()', 'torch.exp(', 'np.exp('):
        assert piece not in code, piece


def test_no_known_mistake_hides_below_rounding_in_the_kits_own_cases():
    # live critic, LunarLander-scale rewards, ratios away from the clip edges: every mistake
    # changes some output of the kit's own cases by far more than the tolerance (rtol 1e-4)
    stored = rl_tests.stored()
    largest = {}
    for case_id, mistakes in stored['mistake_outputs'].items():
        if case_id.startswith(('gae_course', 'loss_course')):
            continue
        for mistake, outputs in mistakes.items():
            change = max(np.abs(np.array(values) - np.array(stored['expected'][case_id][name])).max()
                         for name, values in outputs.items())
            largest[mistake] = max(largest.get(mistake, 0.0), change)
    assert set(ppo_mistakes.MISTAKE_IDS) <= set(largest)
    singles = {m: largest[m] for m in ppo_mistakes.MISTAKE_IDS}
    assert all(change > 1e-2 for change in singles.values()), {m: c for m, c in singles.items() if c <= 1e-2}


def test_an_exception_whose_message_itself_fails_is_one_line():
    class Unprintable(Exception):
        def __str__(self):
            raise RuntimeError('no')

    class Raises(PPO):
        def compute_advantages(self, *args):
            raise Unprintable()

    report = rl_harness.collect(rl_tests.test_ppo(Raises))
    messages = [failure.message for failure in report.failures(Kind.RAISED)]
    assert messages and all('raised Unprintable: (its message could not be shown)' in m for m in messages)
    assert all('\n' not in m for m in messages)
