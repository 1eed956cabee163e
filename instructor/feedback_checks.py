"""Checks of a report's words (instructor side): that no line contradicts another, and that
the wording fits each case's shape. Used by tests/feedback and benchmarks/feedback_quality.py."""

import re

from rl_kit.mistakes import MISTAKES


def contradictions(report, cases):
    """[str]: every contradiction in a Report of the given cases (rl_tests.Case, in the same
    order), each said in one line. Empty when the report never contradicts itself."""
    found = []
    for result, case in zip(report.cases, cases):
        label = f'{case.id}'
        texts = [f.message for f in result.failures] + list(result.notes)
        hints = [m.title for m in result.mistakes] + [d for ds in result.details.values() for d in ds] + \
            list(result.observed) + ([result.partial] if result.partial else [])
        everything = texts + hints
        for name in case.checked + tuple(f'{n}' for n in ('actor_loss', 'critic_loss')):
            wrong = any(t.startswith(f'{name} is incorrect') or t.startswith(f'{name} are incorrect') for t in texts)
            right = any(f'{name}' in t and 'value is right' in t for t in texts)
            if wrong and right:
                found.append(f'{label}: {name} is said to be incorrect and its value right')
        if any('only through the advantages' in t for t in texts) and any(
                m.id.startswith('target_') for m in result.mistakes):
            found.append(f'{label}: critic_targets are wrong only through the advantages, and a target mistake is named')
        if result.passed and (result.mistakes or result.details or result.observed):
            found.append(f'{label}: a passing case names a mistake')
        if case.function == 'compute_advantages':
            N, T = case.layout
            if N == 1 and any(re.search(r'\benvironments? \d|more environment', t) for t in everything):
                found.append(f'{label}: a one-environment case speaks of environments')
            if T == 1 and any(re.search(r'\bstep \d|segment', t) for t in texts):
                found.append(f'{label}: a case of one step per environment speaks of steps or segments')
        found += [f'{label}: {line}' for line in _sentence_contradictions(texts, hints, result)]
        ids = [m.id for m in result.mistakes]
        for mistake in result.mistakes:
            covered = [i for i in mistake.parts if i in ids]
            if covered:
                found.append(f'{label}: {mistake.id} is named with its own part(s) {covered}')
        explained = {i for ids_ in result.chosen.values() for i in ids_}
        for mistake in result.mistakes:
            if mistake.id not in explained and not (set(mistake.parts) & explained) and not result.details.get(
                    mistake.id):
                found.append(f'{label}: {mistake.id} is named but explains no output of the case')
        for sentence in everything:
            factor = re.search(r'every value is ([-\d.e]+) × the expected one', sentence)
            if factor and any('every value is off by the same amount' in t for t in everything):
                found.append(f'{label}: a factor and a shift are both claimed')
    named = {m.id for result in report.cases for m in result.mistakes}
    summary = report.summary_line()
    for mistake_id, mistake in MISTAKES.items():
        if mistake.title in summary and mistake_id not in named and f'{mistake.title}' not in [
                MISTAKES[i].title for i in named]:
            found.append(f'the summary names {mistake_id}, which no case names')
    return found


# "your δ_t adds X to r - v(s_t); it should add X": a sentence that says the code does what it should
SAYS_AND_SHOULD = re.compile(r'your (?P<subject>[^;:]+?) (?P<verb>[a-z]+?)s (?P<does>[^;]+?)(?: to r - v\(s_t\))?; '
                             r'it should (?P=verb) (?P<should>[^;]+)')
IS_AND_SHOULD_BE = re.compile(r'your (?P<subject>[\w ]+?) is (?P<does>-?[\d.]+(?:e[-+]?\d+)?)\b[^:]*?it should be '
                              r'(?P<should>-?[\d.]+(?:e[-+]?\d+)?)\b')
ONLY_ENVIRONMENTS = re.compile(r'^only environments? [\d, ]+ (?:are|is) wrong')


def _same(does, should):
    """Whether what a sentence says the code does is what it says it should do."""
    return should == does or should.startswith(does + ' (') or should.startswith(does + ',')


def _sentence_contradictions(texts, hints, result):
    """[str] of one case's lines that contradict themselves or each other in words."""
    found = []
    for sentence in texts + hints:
        for match in SAYS_AND_SHOULD.finditer(sentence):
            if _same(match['does'].strip(), match['should'].strip()):
                found.append(f'a line says the code {match["verb"]}s {match["does"]!r} and that it should: '
                             f'{sentence[:120]!r}')
        for match in IS_AND_SHOULD_BE.finditer(sentence):
            if match['does'] == match['should']:
                found.append(f'a line says the code gives {match["does"]} and that it should: {sentence[:120]!r}')
    if any('only through the advantages' in t for t in texts) and any(
            re.search(r'\bnot [\w ]*critic_targets\b', h) for h in hints):
        found.append('critic_targets are wrong only through the advantages, and a hint says they are not explained')
    only = [note for note in result.notes if ONLY_ENVIRONMENTS.match(note)]
    if len(only) > 1:
        found.append(f'{len(only)} notes say which environments are wrong, without saying which output: {only}')
    for mistake in result.mistakes:
        opening = ' '.join(mistake.title.lower().split()[:5])
        for detail in result.details.get(mistake.id, []):
            if detail.lower().removeprefix('and ').startswith(opening):
                found.append(f'the title of {mistake.id} is repeated in its detail: {detail[:80]!r}')
    return found
