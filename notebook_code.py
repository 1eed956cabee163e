"""The code of a submitted notebook that grading runs (instructor side; used by grade.py).

A notebook is read as Jupyter reads it (nbformat, any version, converted to v4) and its
cells as IPython runs them: IPython's own input transformer turns magics and `!` lines
into Python (the calls are then not run), `from __future__` imports apply to the later
cells too (IPython's compiler keeps their flags), and `%%time` / `%%capture` cells run
their body.

Of the top-level statements, grading runs those that define things without side effects:
imports, functions, classes, and assignments whose value is a constant expression or a
reference to something defined (`EPS = 2 ** -20`, `PPO = MyPPO`,
`PPO.compute_advantages = gae`, `act = lambda x: x`). Any call, loop or other statement
(training, rendering) is not run. All of this only *selects* code: it runs later, in the
grading sandbox.
"""

import __future__
import ast
import builtins
import dataclasses
import json
import warnings

import nbformat
from IPython.core.inputtransformer2 import TransformerManager

# cell magics whose body IPython runs as ordinary Python in the user namespace
BODY_MAGICS = ('time', 'capture')
FUTURE_FLAGS = {name: getattr(__future__, name).compiler_flag for name in __future__.all_feature_names}


class NotANotebook(Exception):
    """The file is not a notebook grading can read."""


@dataclasses.dataclass
class Piece:
    """One top-level statement to run: where it is, its code, its __future__ flags, and
    whether a failure only skips it (an alias or constant) or stops the submission."""
    cell: int            # position of the cell in the notebook, from 1 (markdown cells count)
    line: int            # first line of the statement in its cell, from 1
    code: str
    flags: int = 0       # compiler flags of the __future__ imports in effect
    optional: bool = False

    def to_data(self):
        return [self.cell, self.line, self.code, self.flags, self.optional]


@dataclasses.dataclass
class Definitions:
    pieces: list                                    # [Piece], in notebook order
    notes: list                                     # cells that could not be read, and why
    skipped: dict                                   # name: (cell, line) of assignments not run
    reads: dict = dataclasses.field(default_factory=dict)  # name a piece binds: names that piece reads

    def unrun_names(self, root='PPO'):
        """{name: (cell, line)}: names that the code of `root` reads (directly or through
        the functions, classes and aliases it reads) and that only statements grading does
        not run assign."""
        seen, todo = set(), [root]
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(self.reads.get(name, ()))
        return {name: where for name, where in sorted(self.skipped.items()) if name in seen}


def read_notebook(data):
    """The list of cells (v4 dicts) of a notebook file's bytes; NotANotebook otherwise.
    Older formats (v3: worksheets, `input`) are converted as Jupyter converts them."""
    try:
        text = data.decode('utf-8-sig')
    except UnicodeDecodeError as exc:
        raise NotANotebook(f'not UTF-8 text ({exc.reason} at byte {exc.start})') from None
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise NotANotebook(f'not valid JSON ({exc})') from None
    if not isinstance(raw, dict) or not isinstance(raw.get('cells', raw.get('worksheets')), list):
        raise NotANotebook('valid JSON, but not a notebook (no list of cells)')
    if 'nbformat' not in raw and isinstance(raw.get('cells'), list):
        return raw['cells']  # a hand-made v4 notebook without its version: read its cells as they are
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            notebook = nbformat.reads(text, as_version=4, capture_validation_error={})
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds on odd files
        raise NotANotebook(f'not a notebook Jupyter can read ({type(exc).__name__}: {exc})') from None
    cells = notebook.get('cells')
    if not isinstance(cells, list):
        raise NotANotebook('not a notebook Jupyter can read (no list of cells)')
    return cells


def cell_source(cell):
    source = cell.get('source', '')
    return ''.join(map(str, source)) if isinstance(source, list) else str(source)


def python_of_cell(source):
    """(python, first_line): the cell as IPython runs it; first_line is the cell line
    the returned code starts on (the transformer drops leading blank lines; the body of a
    %%time cell starts after its first line)."""
    lines = source.splitlines(True)
    start = 0
    while start < len(lines) and not lines[start].strip():
        start += 1
    if start < len(lines) and lines[start].startswith('%%'):
        name = (lines[start][2:].split() or [''])[0]
        if name not in BODY_MAGICS:
            return '', 1  # %%bash, %%html, %%writefile ...: not Python
        start += 1
        while start < len(lines) and not lines[start].strip():
            start += 1
    return TransformerManager().transform_cell(''.join(lines[start:])), start + 1


def definitions(cells):
    """The Definitions of a notebook's cells (see the module's docstring)."""
    result = Definitions([], [], {})
    flags = 0
    defined = set(dir(builtins))  # names the kept code binds, in notebook order
    for number, cell in enumerate(cells, 1):
        if not isinstance(cell, dict) or cell.get('cell_type') != 'code':
            continue
        try:
            source, first_line = python_of_cell(cell_source(cell))
            tree = compile(source, f'<cell {number}>', 'exec', ast.PyCF_ONLY_AST | flags, dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            result.notes.append(f'cell {number} was skipped: it does not parse ({type(exc).__name__}: {exc})')
            continue
        # the cell's own __future__ imports (they can only come first) apply to it and to later cells
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module == '__future__':
                for alias in node.names:
                    flags |= FUTURE_FLAGS.get(alias.name, 0)
        for node in tree.body:
            _select(node, source, number, first_line - 1, flags, result, defined)
    return result


def _select(node, source, cell, offset, flags, result, defined):
    kept = isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    # an alias or constant runs only if everything it reads is defined by then (`ac = result.ac` is not)
    optional = not kept and _is_definition(node) and _reads(node) <= defined
    if kept or optional:
        decorators = getattr(node, 'decorator_list', [])
        code = ''.join(f'@{ast.get_source_segment(source, d)}\n' for d in decorators)
        code += ast.get_source_segment(source, node)
        line = (decorators[0].lineno if decorators else node.lineno) + offset
        result.pieces.append(Piece(cell, line, code, flags, optional))
        reads = {name.id for name in ast.walk(node) if isinstance(name, ast.Name) and isinstance(name.ctx, ast.Load)}
        for bound in _binds(node) | _attribute_bases(node):
            result.reads.setdefault(bound, set()).update(reads)
        defined.update(_binds(node))
        return
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name):
                    result.skipped.setdefault(name.id, (cell, node.lineno + offset))
                    defined.discard(name.id)  # in Jupyter it now holds what grading does not compute


def _binds(node):
    """The names a kept top-level statement binds."""
    if isinstance(node, ast.Import):
        return {alias.asname or alias.name.split('.')[0] for alias in node.names}
    if isinstance(node, ast.ImportFrom):
        return {alias.asname or alias.name for alias in node.names}  # `*`: unknown names stay unknown
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return {name.id for target in targets if not isinstance(target, (ast.Attribute, ast.Subscript))
            for name in ast.walk(target) if isinstance(name, ast.Name)}


def _attribute_bases(node):
    """`PPO` for `PPO.compute_advantages = gae`: what the statement changes."""
    if not isinstance(node, (ast.Assign, ast.AnnAssign)):
        return set()
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    bases = set()
    for target in targets:
        while isinstance(target, (ast.Attribute, ast.Subscript)):
            target = target.value
        if isinstance(target, ast.Name):
            bases.add(target.id)
    return bases - _binds(node)


def _reads(node):
    """The names an assignment reads when it runs (a lambda's body reads later)."""
    names, stack = set(), [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Lambda):
            stack.extend(current.args.defaults + [d for d in current.args.kw_defaults if d is not None])
            continue
        if isinstance(current, ast.Name) and isinstance(current.ctx, ast.Load):
            names.add(current.id)
        stack.extend(ast.iter_child_nodes(current))
    return names


def _is_definition(node):
    """An assignment that only names or combines things: no call, no loop, no comprehension."""
    if isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        targets, value = [node.target], node.value
    else:
        return False
    return all(_is_target(target) for target in targets) and _is_pure(value)


def _is_target(node):
    if isinstance(node, ast.Name):
        return True
    if isinstance(node, (ast.Tuple, ast.List)):
        return all(_is_target(element) for element in node.elts)
    if isinstance(node, ast.Attribute):  # PPO.compute_advantages = gae
        return _is_reference(node.value)
    if isinstance(node, ast.Subscript):  # SETTINGS['clip'] = 0.2
        return _is_reference(node.value) and _is_pure(node.slice)
    return False


def _is_reference(node):
    return isinstance(node, ast.Name) or (isinstance(node, ast.Attribute) and _is_reference(node.value))


_OPERATORS = (ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Tuple, ast.List, ast.Set, ast.Dict,
              ast.Subscript, ast.Slice, ast.JoinedStr, ast.FormattedValue, ast.Starred)
_LEAVES = (ast.Constant, ast.Name, ast.Attribute, ast.Lambda, ast.Load, ast.expr_context, ast.operator, ast.unaryop,
           ast.boolop, ast.cmpop)


def _is_pure(node):
    """Constants, names, attributes, lambdas, and operators on them."""
    if isinstance(node, ast.Lambda):
        return True  # its body runs only when called
    if isinstance(node, ast.Attribute):
        return _is_pure(node.value)
    if isinstance(node, _OPERATORS):
        return all(_is_pure(child) for child in ast.iter_child_nodes(node))
    return isinstance(node, _LEAVES)
