"""The grading harness itself: the generator protocol, the report, and that it holds no solution."""

import ast
import os
import subprocess
import sys

import pytest
import torch

import make_expected
import rl_tests
from ppo_reference import PPO

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def protocol_example():
    yield 'first section'
    yield True, 'never shown'
    yield None
    yield False, 'the second case is wrong'
    ok = yield from rl_tests.check_torch_tensor(torch.zeros(3), 'x', shape=(3,), dtype=torch.float32)
    yield ok, 'check_torch_tensor returned False'
    yield None
    yield 'second section'
    yield (yield from rl_tests.check_torch_tensor(torch.zeros(2, 1), 'y', shape=(2,))) is False, 'expected False'
    yield None


def test_protocol_sections_cases_and_counts():
    report = rl_tests.collect(protocol_example())
    assert not report
    assert (report.passed, report.failed) == (4, 2)
    assert [(case.section, case.number, case.passed) for case in report.cases] == [
        ('first section', 1, True), ('first section', 2, False), ('second section', 1, False)]
    assert report.cases[1].failures == ['the second case is wrong']
    assert report.cases[2].failures == ['y has shape (2, 1), expected (2,) (same number of elements: reshape or squeeze it)']
    assert report.score == pytest.approx(1 / 3)


def test_run_tests_prints_plain_text_outside_a_kernel(capsys):
    report = rl_tests.run_tests(rl_tests.test_ppo(PPO))
    out = capsys.readouterr().out
    assert report and report.failed == 0 and report.passed > 50
    assert "compute_advantages(): the course's cases" in out and '✓ case 1' in out
    assert 'All 14 cases passed' in out
    assert repr(report).startswith('TestReport(passed=')


def test_an_exception_escaping_the_tests_is_reported_not_raised():
    def broken():
        yield 'section'
        yield True, 'fine'
        raise KeyError('boom')
    report = rl_tests.collect(broken())
    assert not report and report.passed == 1
    assert report.stopped.startswith("the tests stopped early: KeyError: 'boom' (in broken, line")
    assert '✗ stopped: the tests stopped early' in report.to_text()
    assert len(report.cases) == 2 and report.score == 0.5  # the stop counts as a failed case


def test_an_empty_test_is_not_a_pass():
    def nothing():
        return
        yield
    report = rl_tests.collect(nothing())
    assert not report and report.stopped == 'no checks were run'


def test_html_report_is_coloured_and_escaped():
    def tests():
        yield 'a <b> section'
        yield False, 'x < y'
        yield rl_tests.Hint('title', 'a hint & more')
        yield None
    report = rl_tests.collect(tests())
    page = report.to_html()
    assert 'a &lt;b&gt; section' in page and 'x &lt; y' in page and 'a hint &amp; more' in page
    assert 'color:#cf222e' in page
    markdown = report.to_markdown()
    assert '### a <b> section' in markdown and '- ✗ case 1: x < y' in markdown


@pytest.mark.parametrize('value,kwargs,message', [
    (torch.zeros(3), dict(shape=(3,), dtype=torch.float32), None),
    ([1.0], dict(), 'x must be a torch.Tensor, got list'),
    (torch.zeros(3, dtype=torch.float64), dict(dtype=torch.float32), 'x has dtype torch.float64, expected torch.float32'),
    (torch.tensor([1.0, float('inf')]), dict(), 'x contains NaN or infinity: [1, inf]'),
    (torch.zeros(()), dict(requires_grad=True), 'x does not require gradients'),
])
def test_check_torch_tensor(value, kwargs, message):
    checks = list(rl_tests.check_torch_tensor(value, 'x', **kwargs))
    assert len(checks) == 1
    passed, text = checks[0]
    assert passed == (message is None)
    if message:
        assert text.startswith(message)


def test_check_ready_names_what_is_missing():
    class NotStarted(PPO):
        def compute_loss(self, *args):
            raise NotImplementedError()
    with pytest.raises(rl_tests.NotReadyError, match=r'^compute_loss\(\) not implemented yet'):
        rl_tests.check_ready(NotStarted)
    assert rl_tests.check_ready(PPO)


def test_expected_values_are_up_to_date():
    # drift: the literals in rl_tests.py are what tests/make_expected.py computes now
    with open(os.path.join(ROOT, 'rl_tests.py'), encoding='utf-8') as file:
        source = file.read()
    begin, end = make_expected.current_block(source)
    assert source[begin:end] == make_expected.render(make_expected.expected_values())


def test_every_named_mistake_has_an_explanation_and_stored_outputs():
    stored = {mistake for case in rl_tests.EXPECTED.values() for mistake in case['mistakes']}
    assert stored == set(rl_tests.MISTAKES)


# ---------------------------------------------------------------------- no solution inside

def test_rl_tests_imports_no_solution():
    with open(os.path.join(ROOT, 'rl_tests.py'), encoding='utf-8') as file:
        tree = ast.parse(file.read())
    imported = {alias.name.split('.')[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split('.')[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {'html', 'linecache', 'math', 'os', 'sys', 'traceback', 'dataclasses', 'numpy', 'torch',
                        'IPython', 'rl_gui'}, imported
    # and it works where the reference does not exist, as on a student's machine
    code = ("import sys; sys.modules['ppo_reference'] = None; sys.path.insert(0, '.'); import rl_tests; "
            "print(len(rl_tests.EXPECTED))")
    result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def code_of(tree):
    # the source of the harness without its docstrings and comments (which may describe formulas)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Module)) and ast.get_docstring(node):
            node.body = node.body[1:] or [ast.Pass()]
    return ast.unparse(tree)


def test_rl_tests_computes_no_gae_and_no_clipped_loss():
    with open(os.path.join(ROOT, 'rl_tests.py'), encoding='utf-8') as file:
        code = code_of(ast.parse(file.read()))
    # the pieces any GAE or clipped loss needs: the decay gamma * lambda, clipping of the
    # ratio, the minimum of the two terms, the ratio itself
    for piece in ("lmbda'] *", "* case['lmbda']", 'lmbda *', '* lmbda', 'clamp(', '.clip(', 'torch.min(',
                  'minimum(', '.exp()', 'torch.exp('):
        assert piece not in code, piece
