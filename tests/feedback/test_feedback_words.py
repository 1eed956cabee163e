"""What the feedback says: the probes' sentences, the levels (verdict, located, named, fix),
the folded Hint and Fix of the HTML report, wrong calls of test_ppo, the wording of each case's
shape, and the verdicts on real third-party code (tests/feedback/third_party/dev)."""

import functools
import glob
import importlib.util
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

import build  # tools/, on the path via conftest
import rl_tests
from grader.batch import Graded
from grader.feedback import feedback_text
from instructor import ppo_mistakes
from ppo_reference import PPO
from rl_kit import harness
from rl_kit.harness import Kind

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEV = sorted(glob.glob(os.path.join(ROOT, 'tests', 'feedback', 'third_party', 'dev', '*.py')))


@functools.lru_cache(maxsize=None)
def report_of(*mistakes):
    return harness.collect(rl_tests.test_ppo(ppo_mistakes.mutant(*mistakes)))


def probe_text(report, case_id):
    """Everything said under one case of a report (its failures, notes, names and readings)."""
    index = [case.id for case in rl_tests.make_cases()].index(case_id)
    case = report.cases[index]
    return ' '.join([f.message for f in case.failures] + case.notes + [m.title for m in case.mistakes]
                    + [d for ds in case.details.values() for d in ds] + case.observed)


# ------------------------------------------------------------------ the probes' sentences

@pytest.mark.parametrize('mistakes,case_id,sentence', [
    (('no_lambda',), 'gae_probe_decay', 'your backward sum decays by γ = 0.84 per step; GAE decays by γλ = 0.588'),
    (('no_gamma_in_sum',), 'gae_probe_decay', 'your backward sum decays by λ = 0.7 per step; GAE decays by γλ = 0.588'),
    (('decay',), 'gae_probe_decay', 'your backward sum decays by 0.4939 per step; GAE decays by γλ = 0.588'),
    (('normalized_in_gae:ddof0',), 'gae_probe_decay', 'the population standard deviation (ddof=0'),
    (('normalized_in_gae',), 'gae_probe_decay', 'the sample standard deviation (ddof=1'),
    (('target_returns',), 'gae_probe_decay', 'your critic_targets decay by γ = 0.84 per step'),
    (('truncation_as_termination',), 'gae_probe_ends', 'your δ_t adds nothing to r - v(s_t); it should add γ v(s_{t+1})'),
    (('truncation_bootstraps_current',), 'gae_probe_ends', 'adds γ v(s_t), the value of the state before the time limit'),
    (('truncation_bootstraps_current:no_gamma',), 'gae_probe_ends', 'adds v(s_t), without γ'),
    (('truncation_bootstraps_next_row',), 'gae_probe_ends', "adds γ v of the next row's state"),
    (('truncation_zeroed',), 'gae_probe_ends', 'sets the advantage of a truncated step to 0'),
    (('bootstraps_terminal',), 'gae_probe_ends', 'at the termination (environment 0, step 0)'),
    (('no_segment_bootstrap',), 'gae_probe_ends', 'at the segment end (environment 4, step 1)'),
    (('no_gamma_in_delta',), 'gae_probe_ends', 'adds v(s_{t+1}) without γ'),
    (('across_envs',), 'gae_probe_restarts', 'runs across the boundary between environments'),
    (('carries_over_terminations',), 'gae_probe_restarts', 'the termination (environment 0, step 0) gets an advantage'),
    (('ignores_truncations',), 'gae_probe_restarts', 'the truncation (environment 1, step 0) gets an advantage'),
    (('max_not_min',), 'loss_probe_flat_pos', 'your objective is 1.5 × a (r itself: the unclipped term)'),
    (('clip_bounds',), 'loss_probe_flat_neg', 'your objective is 0.8333 × a'),
    (('dual_clip',), 'loss_probe_far_neg', 'your objective is 3 × a (the bound c = 3 of a dual clip'),
    (('ratio_without_exp',), 'loss_probe_inside', 'log r: the ratio without exp()'),
    (('actor_extra_term',), 'loss_probe_zero', 'with an advantage of 0 your actor loss is'),
    (('actor_factor',), 'loss_probe_inside', 'your actor loss is 0.5 × the clipped objective'),
    (('normalized_advantages',), 'loss_probe_inside', 'on a batch of one transition your actor loss is NaN'),
    (('normalized_advantages:ddof0',), 'loss_probe_inside', 'your actor loss is 0 on every batch of one transition'),
    (('critic_factor',), 'loss_probe_flat_pos', 'your critic loss is 0.25 × (v_target - v(s_t))^2'),
    (('critic_half',), 'loss_probe_flat_pos', 'your critic loss is 0.5 × (v_target - v(s_t))^2'),
    (('critic_capped',), 'loss_probe_far_neg', 'your critic loss stops at 10'),
    (('critic_clipped',), 'loss_probe_steep_pos', 'clipped around the old value critic_targets - advantages (within ±0.2)'),
    (('critic_huber',), 'loss_probe_flat_pos', 'the smooth-L1 (Huber) loss'),
])
def test_a_probe_puts_the_behaviour_into_one_sentence(mistakes, case_id, sentence):
    text = probe_text(report_of(*mistakes), case_id)
    assert sentence in text, text


def test_a_behaviour_no_mutant_makes_is_still_put_into_words():
    # a decay of 0.5 per step (written by hand, not in the catalogue): the probe reads the number
    class HalfDecay(PPO):
        def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
            advantages, targets = super().compute_advantages(states, rewards, next_states, terminations, truncations)
            with torch.no_grad():
                values = self.compute_values(states)
                deltas = rewards + self.gamma * self.compute_values(next_states) * (~terminations) - values
            out = torch.zeros_like(deltas)
            running = 0.0
            for k in reversed(range(len(deltas))):
                ends = bool(terminations[k] or (truncations is not None and truncations[k]))
                running = deltas[k] + (0.0 if ends or k % self.num_steps == self.num_steps - 1 else 0.5 * running)
                out[k] = running
            return out, out + values
    report = harness.collect(rl_tests.test_ppo(HalfDecay))
    assert 'your backward sum decays by 0.5 per step; GAE decays by γλ = 0.588' in probe_text(report, 'gae_probe_decay')
    assert [m.id for m in report.mistakes] == ['decay']


# ------------------------------------------------------------------ wording fits the case

def test_cases_are_worded_by_their_shape():
    report = report_of('wrong_sign')
    texts = {case.id: probe_text(report, case.id) for case in rl_tests.make_cases()}
    # the course's cases are N environments of one step: environments, never steps or segments
    course = texts['gae_course_1']
    assert 'environment' in course and not re.search(r'\bstep \d', course) and 'segment' not in course
    assert report.cases[0].title == '4 environments × 1 step'
    # one environment: steps, never environments
    one = probe_text(report_of('no_lambda'), 'gae_probe_decay')
    assert 'step 3' in one and 'environment' not in one


def test_the_targets_note_only_where_it_agrees():
    # SpinningUpStyle-like: right advantages, rewards-to-go as targets -> no "only through the advantages"
    report = report_of('target_returns')
    assert 'only through the advantages' not in report.to_text()
    assert [m.id for m in report.mistakes] == ['target_returns']
    # a mistake of the advantages: critic_targets follow them, said once per case and nothing of their own named
    report = report_of('no_lambda')
    assert 'only through the advantages' in report.to_text() and [m.id for m in report.mistakes] == ['no_lambda']


def test_a_partial_match_says_what_it_does_not_explain():
    class LambdaAndNoisyTargets(ppo_mistakes.mutant('no_lambda')):
        def compute_advantages(self, *args):
            advantages, targets = super().compute_advantages(*args)
            return advantages, targets + 0.37 * torch.arange(len(targets)) ** 2 / len(targets)
    case = next(c for c in harness.collect(rl_tests.test_ppo(LambdaAndNoisyTargets)).cases if c.partial)
    assert case.partial.startswith('λ is missing: this explains advantages, not critic_targets, which is wrong')


def test_a_single_bug_keeps_the_report_short():
    report = report_of('no_lambda')
    lines = report.to_text().split('\n')
    assert lines[0] == report.summary_line()
    failing = sum(not case.passed for case in report.cases)
    below = [line for line in lines if line.startswith(('    ', '      '))]
    assert len(below) <= 3 * failing, report.to_text()   # each failing case: its line and at most 3 more
    assert report.to_text().count('Fix:') == 1          # the fix once, where the mistake is first named


# ------------------------------------------------------------------ levels and the HTML report

def test_levels_give_away_step_by_step():
    report = report_of('max_not_min')
    verdict, located, named, fixed = (report.to_text(level) for level in harness.LEVELS)
    title, fix = rl_tests.MISTAKES['max_not_min'].title, rl_tests.MISTAKES['max_not_min'].fix
    assert verdict.split('\n')[0] == f'{report.cases_passed} of {report.total} cases pass.'
    assert 'expected' not in verdict and title not in verdict
    assert 'got -0.4498, expected -0.2713' in located and title not in located
    assert 'compute_loss()' in located.split('\n')[0]
    assert title in named and fix not in named and 'Fix:' not in named
    assert fix in fixed and fixed == report.to_text()
    for render in (report.to_text, report.to_markdown, report.to_html):
        with pytest.raises(ValueError, match="level must be one of 'verdict', 'located', 'named', 'fix'"):
            render('hints')


def test_the_html_report_folds_the_name_and_the_fix():
    report = report_of('max_not_min')
    page = report.to_html('fix')
    title = rl_tests.MISTAKES['max_not_min'].title
    hints = re.findall(r'<details[^>]*><summary[^>]*>Hint</summary>(.*?)</details>', page)
    fixes = re.findall(r'<details[^>]*><summary[^>]*>Fix</summary>(.*?)</details>', page)
    assert hints and fixes
    outside = re.sub(r'<details.*?</details>', '', page)
    assert title not in outside and 'torch.min' not in outside   # only inside what a student opens
    assert any(title in hint for hint in hints) and any('torch.min' in fix for fix in fixes)
    assert '<details' not in report.to_html('located') and 'Fix</summary>' not in report.to_html('named')


def test_the_grader_writes_feedback_at_the_level_asked():
    report = report_of('no_lambda')
    row = {'submission': 'alice', 'status': 'ok', 'score': 50.0, 'passed': 1, 'failed': 1}
    graded = Graded(row, [], report)
    title = rl_tests.MISTAKES['no_lambda'].title
    assert title not in feedback_text(graded, 'located') and 'expected' in feedback_text(graded, 'located')
    assert title in feedback_text(graded, 'named') and 'Fix:' not in feedback_text(graded, 'named')
    assert 'Fix:' in feedback_text(graded) == feedback_text(graded, 'fix')


def test_the_build_sets_the_hand_outs_level(tmp_path):
    files = build.targets('named')
    settings = json.loads(files[f'{build.RELEASE}/rl_kit/settings.json'])
    assert settings['feedback'] == 'named' and json.loads(build.targets()[f'{build.RELEASE}/rl_kit/settings.json'])[
        'feedback'] == 'fix'
    with pytest.raises(build.BuildError, match='--feedback must be one of verdict, located, named, fix'):
        build.settings_json('all')
    # a student's notebook folder with the release: the report gives the name, not the fix
    for path, text in files.items():
        if path.startswith(build.RELEASE + '/') and path.endswith(('.py', '.json')):
            (tmp_path / path[len(build.RELEASE) + 1:]).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path[len(build.RELEASE) + 1:]).write_text(text, encoding='utf-8')
    code = ('import rl_tests, torch\n'
            'class PPO(torch.nn.Module):\n'
            '    def compute_advantages(self, *a):\n        raise NotImplementedError()\n'
            '    def compute_loss(self, *a):\n        raise NotImplementedError()\n'
            'print(rl_tests.feedback_level())')
    result = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == 'named', result.stderr


# ------------------------------------------------------------------ wrong calls

@pytest.mark.parametrize('thing,words', [
    (PPO(5, 3, 0.9, 0.9, 0.2, 1), 'got an instance of PPO (an object made with PPO(...)): call rl_tests.test_ppo(PPO)'),
    (None, 'got None: run the cell that defines class PPO, then call rl_tests.test_ppo(PPO)'),
    ('PPO', "got the string 'PPO': call rl_tests.test_ppo(PPO), without quotes"),
    (3, 'got an int: call rl_tests.test_ppo(PPO)'),
    (torch.nn.Module, 'the class Module has neither'),
])
def test_a_wrong_call_is_said_in_one_line(thing, words):
    report = harness.collect(rl_tests.test_ppo(thing))
    assert report.stopped.kind == Kind.WRONG_CALL and report.total == 0
    assert words in report.summary_line() and report.to_text().count('\n') == 0
    with pytest.raises(rl_tests.NotReadyError, match=re.escape(words.replace('test_ppo', 'check_ready'))):
        rl_tests.check_ready(thing)
    with pytest.raises(AssertionError, match='assert_group'):
        rl_tests.assert_group(thing, 'gae')


# ------------------------------------------------------------------ real code: the verdicts

def load(path):
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('path', DEV, ids=lambda path: os.path.basename(path)[:-3])
def test_third_party_code_gets_the_right_verdicts(path):
    # each function's cases all pass exactly when the code computes the exercise's formula
    module = load(path)
    report = harness.collect(rl_tests.test_ppo(module.Implementation))
    cases = rl_tests.make_cases()
    for function, groups in (('compute_advantages', ('gae_course', 'gae')), ('compute_loss', ('loss_course', 'loss'))):
        passed = all(result.passed for result, case in zip(report.cases, cases) if case.group in groups)
        assert passed == module.CORRECT.get(function, True), (function, report.summary_line())


def test_a_factor_or_a_shift_is_said_only_where_it_holds_for_every_value():
    from rl_kit import judging
    case = next(c for c in rl_tests.make_cases() if c.id == 'gae_no_ends')
    want = np.linspace(-5.0, 40.0, 16)
    scaled = 0.5 * want
    assert judging._difference_notes(case, 'advantages', scaled, want)[0].startswith('every value is 0.5 × the expected')
    almost = scaled.copy()
    almost[3] += 0.01   # one value off: no factor holds for all of them
    notes = judging._difference_notes(case, 'advantages', almost, want)
    assert not any('×' in note or 'same amount' in note for note in notes), notes
    shifted = want + 2.0
    assert judging._difference_notes(case, 'advantages', shifted, want)[0].startswith(
        'every value is off by the same amount (2)')


def test_a_groups_part_of_a_report_keeps_the_whole_reports_names():
    # what an autograder writes per test (one group): that group's cases, named with all the evidence
    report = report_of('max_not_min', 'no_lambda')
    loss = report.of_groups('loss')
    assert {case.group for case in loss.cases} == {'loss'} and loss.total < report.total
    assert loss.summary_line('named').startswith(f'{loss.cases_passed} of {loss.total} cases pass; likely mistakes: '
                                                 'max instead of min in L^clip.')
    assert 'λ is missing' not in loss.to_markdown('fix') and 'Fix:' in loss.to_markdown('fix')
    assert report.of_groups('gae_course', 'loss_course').total == 6


@pytest.mark.parametrize('text,message', [
    ('{"feedback": "all"}', "\"feedback\" must be one of ['verdict', 'located', 'named', 'fix'], got 'all'"),
    ('["named"]', '"feedback" must be one of'),
    ('{"feedback": ', 'cannot be read (JSONDecodeError): restore it from the hand-out'),
])
def test_a_broken_settings_file_is_one_line_saying_what_to_do(tmp_path, monkeypatch, text, message):
    path = tmp_path / 'settings.json'
    path.write_text(text)
    monkeypatch.setattr(rl_tests, 'SETTINGS_FILE', str(path))
    with pytest.raises(ValueError) as error:
        rl_tests.feedback_level()
    assert message in str(error.value) and '\n' not in str(error.value)
    path.write_text('{"feedback": "named"}')
    assert rl_tests.feedback_level() == 'named'
