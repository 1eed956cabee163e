"""Writes the expected values of rl_tests.py's extended cases (instructor side).

    python tests/make_expected.py          # rewrite the GENERATED block of rl_tests.py
    python tests/make_expected.py --check  # exit 1 if the block is out of date

For each case it runs the reference solution (ppo_reference.PPO) and every known mistake
(tests/mutants.py) on the case's inputs and stores the outputs as literals, so that
rl_tests.py can grade and name mistakes without containing any solution.
"""

import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, HERE]

import rl_tests  # noqa: E402
from mutants import GAE_MISTAKES, LOSS_MISTAKES, mutant  # noqa: E402
from ppo_reference import PPO  # noqa: E402

BEGIN, END = '# BEGIN GENERATED\n', '# END GENERATED\n'
DIGITS = 9  # enough to round-trip a float32


def _differs(a, b):
    return not torch.allclose(a, b, rtol=rl_tests.RTOL, atol=rl_tests.ATOL)


def case_data(PPO_class_for, run, output_names, mistakes):
    """{output: values, 'mistakes': {id: {output: values}}} for one case; a mistake is kept
    with the outputs it changes, and only if it changes at least one."""
    correct = run(PPO)
    data = {name: value for name, value in zip(output_names, correct)}
    data['mistakes'] = {}
    for mistake in mistakes:
        outputs = run(PPO_class_for(mistake))
        changed = {name: value for name, value, right in zip(output_names, outputs, correct) if _differs(value, right)}
        if changed:
            data['mistakes'][mistake] = changed
    return data


def expected_values():
    torch.set_num_threads(1)
    expected = {}
    for name, case in rl_tests.GAE_CASES.items():
        def run(cls, case=case):
            ac = rl_tests.set_case_weights(
                cls(rl_tests.STATE_DIM, rl_tests.NUM_ACTIONS, case['gamma'], case['lmbda'], 0.2, case['T']), case['seed'])
            return ac.compute_advantages(*rl_tests.gae_inputs(case))
        mistakes = GAE_MISTAKES if case.get('name_mistakes', True) else []
        expected[name] = case_data(mutant, run, ('advantages', 'critic_targets'), mistakes)
    for name, case in rl_tests.LOSS_CASES.items():
        def run(cls, case=case):
            ac = rl_tests.set_case_weights(
                cls(rl_tests.STATE_DIM, rl_tests.NUM_ACTIONS, 0.9, 0.9, case['epsilon'], 1), case['seed'])
            return [loss.detach() for loss in ac.compute_loss(*rl_tests.loss_inputs(ac, case))]
        expected[name] = case_data(mutant, run, ('actor_loss', 'critic_loss'), LOSS_MISTAKES)
    return expected


def _literal(tensor, indent):
    """A float32 tensor as a Python literal: a number, or a list wrapped at 100 columns."""
    values = [f'{v:.{DIGITS}g}' for v in tensor.flatten().tolist()]
    if tensor.dim() == 0:
        return values[0]
    lines, line = [], []
    for item in values:
        if line and indent + len(', '.join(line + [item])) > 96:
            lines.append(', '.join(line))
            line = []
        line.append(item)
    lines.append(', '.join(line))
    if len(lines) == 1:
        return f'[{lines[0]}]'
    return '[\n' + ',\n'.join(' ' * (indent + 4) + text for text in lines) + ']'


def render(expected):
    out = ['EXPECTED = {\n']
    for case, data in expected.items():
        out.append(f'    {case!r}: {{\n')
        for name, value in data.items():
            if name != 'mistakes':
                out.append(f'        {name!r}: {_literal(value, 8)},\n')
        out.append("        'mistakes': {\n")
        for mistake, outputs in data['mistakes'].items():
            out.append(f'            {mistake!r}: {{\n')
            for name, value in outputs.items():
                out.append(f'                {name!r}: {_literal(value, 16)},\n')
            out.append('            },\n')
        out.append('        },\n    },\n')
    out.append('}\n')
    return ''.join(out)


def current_block(source):
    begin, end = source.index(BEGIN) + len(BEGIN), source.index(END)
    return begin, end


def main(argv):
    path = os.path.join(ROOT, 'rl_tests.py')
    with open(path, encoding='utf-8') as file:
        source = file.read()
    begin, end = current_block(source)
    block = render(expected_values())
    if '--check' in argv:
        if source[begin:end] != block:
            print('rl_tests.py: the expected values are out of date; run python tests/make_expected.py')
            return 1
        print('rl_tests.py: the expected values are up to date')
        return 0
    with open(path, 'w', encoding='utf-8') as file:
        file.write(source[:begin] + block + source[end:])
    print(f'rl_tests.py: wrote the expected values of {len(rl_tests.GAE_CASES) + len(rl_tests.LOSS_CASES)} cases')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
