"""Builds the exercise notebooks from their sources (instructor side).

    python tools/build_notebooks.py          # update both notebooks
    python tools/build_notebooks.py --check  # exit 1 if either is out of date

Sources:
  - ppo_reference.py: the code. Each region between `# %% notebook: NAME` and `# %% end`
    is the source of the completed notebook's code cell tagged `reference:NAME`.
  - ppo_lunarlander.ipynb (the completed notebook): everything else, i.e. the markdown
    and the code cells that are not tagged.

The student notebook, ppo_lunarlander_student.ipynb, is generated from the completed one:
  - each `### BEGIN SOLUTION` ... `### END SOLUTION` block of a code cell becomes
    `raise NotImplementedError()` (the TODO comments above the block stay);
  - each `<!-- BEGIN ANSWER -->` ... `<!-- END ANSWER -->` block of a markdown cell
    becomes a prompt for the student's answer;
  - outputs and execution counts are cleared.
"""

import copy
import os
import re
import sys

import nbformat

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = os.path.join(ROOT, 'ppo_reference.py')
COMPLETED = os.path.join(ROOT, 'ppo_lunarlander.ipynb')
STUDENT = os.path.join(ROOT, 'ppo_lunarlander_student.ipynb')

REGION = re.compile(r'^# %% notebook: (\w+)\n(.*?)^# %% end$', re.MULTILINE | re.DOTALL)
SOLUTION = re.compile(r'^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION\n?', re.MULTILINE | re.DOTALL)
ANSWER = re.compile(r'<!-- BEGIN ANSWER -->.*?<!-- END ANSWER -->', re.DOTALL)
ANSWER_PROMPT = '*Your answers:* (double-click this cell and write them here)'
TAG = 'reference:'


def reference_regions(source):
    """{name: code} of the notebook regions of ppo_reference.py."""
    regions = {}
    for name, code in REGION.findall(source):
        if name in regions:
            raise ValueError(f'ppo_reference.py: the region {name!r} appears twice')
        regions[name] = code.strip('\n')
    return regions


def reference_tag(cell):
    tags = [tag for tag in cell.get('metadata', {}).get('tags', []) if tag.startswith(TAG)]
    return tags[0][len(TAG):] if tags else None


def fill_completed(notebook, regions):
    """The completed notebook with its tagged cells set to the reference regions."""
    notebook = copy.deepcopy(notebook)
    used = set()
    for cell in notebook.cells:
        name = reference_tag(cell)
        if name is None:
            continue
        if name not in regions:
            raise ValueError(f'a cell is tagged {TAG}{name}, but ppo_reference.py has no region {name!r}')
        cell.source = regions[name]
        used.add(name)
    unused = sorted(set(regions) - used)
    if unused:
        raise ValueError(f'regions of ppo_reference.py that no notebook cell shows: {", ".join(unused)}')
    return notebook


def strip_solutions(source):
    if source.count('### BEGIN SOLUTION') != source.count('### END SOLUTION'):
        raise ValueError(f'unbalanced solution markers in:\n{source}')
    return SOLUTION.sub(lambda m: f'{m.group(1)}raise NotImplementedError()  # replace this line with your code\n',
                        source)


def student_version(completed):
    """The student notebook generated from the completed one."""
    notebook = copy.deepcopy(completed)
    for cell in notebook.cells:
        if cell.cell_type == 'code':
            cell.source = strip_solutions(cell.source)
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == 'markdown':
            cell.source = ANSWER.sub(ANSWER_PROMPT, cell.source)
    return notebook


def build():
    """(completed, student) notebooks as text, from the current sources."""
    with open(REFERENCE, encoding='utf-8') as file:
        regions = reference_regions(file.read())
    completed = fill_completed(nbformat.read(COMPLETED, as_version=4), regions)
    return nbformat.writes(completed) + '\n', nbformat.writes(student_version(completed)) + '\n'


def main(argv):
    completed, student = build()
    outdated = []
    for path, text in ((COMPLETED, completed), (STUDENT, student)):
        current = open(path, encoding='utf-8').read() if os.path.exists(path) else None
        if current != text:
            outdated.append(os.path.basename(path))
            if '--check' not in argv:
                with open(path, 'w', encoding='utf-8') as file:
                    file.write(text)
    if '--check' in argv:
        if outdated:
            print(f'out of date: {", ".join(outdated)}; run python tools/build_notebooks.py')
            return 1
        print('the notebooks are up to date')
        return 0
    print(f'updated: {", ".join(outdated)}' if outdated else 'the notebooks were up to date')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
