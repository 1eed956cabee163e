"""The same seed gives the same run as before the redesign of the trainer (issue 18), bit for
bit: the env steps, both criteria, every check, every training episode, the final weights
and a greedy evaluation (fingerprints.py records them; fingerprints.json says from which
commit). The short runs play checks early, beside training and inline, and one of them goes
back to the agent of a check that passed; the full default run is slow."""

import pytest

import fingerprints

RECORDED = fingerprints.recorded()['runs']
SHORT = [name for name in RECORDED if name.startswith('short')]


def assert_same_run(name):
    summary, digest = fingerprints.run(name)
    assert (summary, digest) == (RECORDED[name]['summary'], RECORDED[name]['sha256']), name


def test_the_short_runs_cover_what_the_trainer_decides():
    summaries = [RECORDED[name]['summary'] for name in SHORT]
    assert any(s['landed_at'] is not None for s in summaries) and any(s['landed_at'] is None for s in summaries)
    assert any(s['solved_at'] is not None for s in summaries) and all(s['checks'] for s in summaries)
    assert any(RECORDED[name]['config'].get('background_checks') is False for name in SHORT)
    # and checks that play one stage (5 episodes) and two (10): each check is [env steps, episodes, mean]
    assert {check[1] for name in SHORT for check in RECORDED[name]['summary']['checks']} == {5, 10}


@pytest.mark.parametrize('name', SHORT)
def test_a_short_run_is_the_recorded_one(name):
    assert_same_run(name)


@pytest.mark.slow
def test_the_full_default_run_is_the_recorded_one():
    assert_same_run('default seed 0')
