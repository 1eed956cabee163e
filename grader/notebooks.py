"""The code of a submitted notebook that grading runs (instructor side; used by grade.py).

A notebook is read as Jupyter reads it (nbformat, any version, converted to v4) and its
cells as IPython runs them: IPython's own input transformer turns magics and `!` lines
into Python (the calls are then not run), `from __future__` imports apply to the later
cells too (IPython's compiler keeps their flags), and `%%time` / `%%capture` cells run
their body.

Of the top-level statements, grading runs those that define things without side effects:
imports, functions, classes, and assignments whose value is a constant expression or a
reference to something defined (`EPS = 2 ** -20`, `PPO = MyPPO`,
`PPO.compute_advantages = gae`, `act = lambda x: x`, and calls that only describe values,
PURE_CALLS: `device = torch.device('cpu')`, `EPS = torch.finfo(torch.float32).tiny`), and
try-blocks of imports whose handlers only assign such definitions (`try: from x import f` /
`except ImportError: f = None`). Any other call, loop or statement (training, rendering)
is not run; the names it binds (in any if/try/for block) are named in the feedback when
the class reads them. All of this only *selects* code: it runs later, in the
grading sandbox.
"""

import __future__
import ast
import builtins
import dataclasses
import json
import re
import time
import warnings

import nbformat
from IPython.core.inputtransformer2 import TransformerManager

# cell magics whose body IPython runs as ordinary Python in the user namespace
BODY_MAGICS = ('time', 'capture')
FUTURE_FLAGS = {name: getattr(__future__, name).compiler_flag for name in __future__.all_feature_names}
CELL_SIZE_LIMIT = 200_000     # characters of one code cell grading reads (larger cells are skipped, said in a note)
CELL_COUNT_LIMIT = 10_000     # cells of a notebook grading reads (nbformat alone takes ~15 s for 200,000)
READ_BUDGET = 20.0            # seconds of reading per notebook; later cells are skipped, said in a note
# calls a definition may make (module attributes, resolved through the notebook's imports): they only
# describe values (`device = torch.device('cpu')`, `EPS = torch.finfo(torch.float32).tiny`)
PURE_CALLS = frozenset({'torch.device', 'torch.finfo', 'torch.iinfo', 'torch.dtype', 'numpy.float32',
                        'numpy.float64', 'numpy.int64', 'numpy.int32', 'numpy.finfo', 'numpy.iinfo',
                        'numpy.dtype', 'torch.cuda.is_available', 'torch.backends.mps.is_available',
                        'torch.get_default_dtype'})
PURE_MODULES = ('math',)      # every function of these modules is pure


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
    count = len(raw['cells']) if isinstance(raw.get('cells'), list) else sum(
        len(sheet.get('cells', ())) if isinstance(sheet, dict) and isinstance(sheet.get('cells'), list) else 0
        for sheet in raw['worksheets'])
    if count > CELL_COUNT_LIMIT:
        raise NotANotebook(f'it has {count} cells; grading reads notebooks of at most {CELL_COUNT_LIMIT} cells')
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


def definitions(cells, budget=READ_BUDGET):
    """The Definitions of a notebook's cells (see the module's docstring). Cells larger than
    CELL_SIZE_LIMIT, and the cells after `budget` seconds of reading, are skipped with a note."""
    result = Definitions([], [], {})
    flags = 0
    defined = set(dir(builtins))  # names the kept code binds, in notebook order
    modules = {}                  # name: the module an import bound to it (`np`: 'numpy')
    deadline = time.monotonic() + budget
    for number, cell in enumerate(cells, 1):
        if not isinstance(cell, dict) or cell.get('cell_type') != 'code':
            continue
        if time.monotonic() > deadline:
            result.notes.append(f'cell {number} and the cells after it were skipped: reading the notebook took '
                                f'more than {budget:g} s')
            break
        text = cell_source(cell)
        if len(text) > CELL_SIZE_LIMIT:
            result.notes.append(f'cell {number} was skipped: it has {len(text)} characters, more than grading reads '
                                f'({CELL_SIZE_LIMIT}); move large data out of the notebook')
            continue
        try:
            source, first_line = python_of_cell(text)
            tree = compile(source, f'<cell {number}>', 'exec', ast.PyCF_ONLY_AST | flags, dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            result.notes.append(f'cell {number} was skipped: it does not parse ({type(exc).__name__}: {exc})')
            continue
        # the cell's own __future__ imports (they can only come first) apply to it and to later cells
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module == '__future__':
                for alias in node.names:
                    flags |= FUTURE_FLAGS.get(alias.name, 0)
        lines = _Lines(source)
        for node in tree.body:
            try:
                _select(node, lines, number, first_line - 1, flags, result, defined, modules)
            except RecursionError:  # a statement nested too deeply to inspect: not run
                result.notes.append(f'cell {number}, line {node.lineno + first_line - 1} was not run: it is nested '
                                    'too deeply to read')
    return result


class _Lines:
    """A cell's lines, split once (ast.get_source_segment splits the whole source for every
    call, which is quadratic in a cell's statements), split as the compiler splits them."""

    def __init__(self, source):
        self.lines, start = [], 0
        for match in re.finditer(r'\r\n|\r|\n', source):
            self.lines.append(source[start:match.end()])
            start = match.end()
        if start < len(source):
            self.lines.append(source[start:])

        self._encoded = {}  # line index: its UTF-8 bytes (a line of many statements is encoded once)

    def _bytes(self, index):
        if index not in self._encoded:
            self._encoded[index] = self.lines[index].encode()
        return self._encoded[index]

    def segment(self, node):
        """The exact source text of `node` (its offsets count UTF-8 bytes, as ast's do)."""
        first, last = node.lineno - 1, node.end_lineno - 1
        if first == last:
            return self._bytes(first)[node.col_offset:node.end_col_offset].decode()
        head = self._bytes(first)[node.col_offset:].decode()
        tail = self._bytes(last)[:node.end_col_offset].decode()
        return ''.join([head, *self.lines[first + 1:last], tail])


def _select(node, lines, cell, offset, flags, result, defined, modules):
    kept = (isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            or _is_import_try(node, defined, modules))
    # an alias or constant runs only if everything it reads is defined by then (`ac = result.ac` is not)
    optional = not kept and _is_definition(node, modules) and _reads(node) <= defined
    if kept or optional:
        decorators = getattr(node, 'decorator_list', [])
        code = ''.join(f'@{lines.segment(d)}\n' for d in decorators)
        code += lines.segment(node)
        line = (decorators[0].lineno if decorators else node.lineno) + offset
        result.pieces.append(Piece(cell, line, code, flags, optional))
        reads = {name.id for name in ast.walk(node) if isinstance(name, ast.Name) and isinstance(name.ctx, ast.Load)}
        bound = _binds(node)
        for name in bound | _attribute_bases(node):
            result.reads.setdefault(name, set()).update(reads)
        defined.update(bound)
        for name in bound:
            modules.pop(name, None)
        if isinstance(node, ast.Import):
            modules.update({alias.asname or alias.name.split('.')[0]: alias.name if alias.asname
                            else alias.name.split('.')[0] for alias in node.names})
        return
    # names the statement (or a block of it: if, try, for, with) binds hold what grading does not compute
    for name in _assigned_names(node):
        result.skipped.setdefault(name, (cell, node.lineno + offset))
        defined.discard(name)
        modules.pop(name, None)


def _assigned_names(node):
    """Every name a statement not run would bind, in any block inside it (not inside its
    functions' or classes' bodies)."""
    names, stack = set(), [node]
    while stack:
        current = stack.pop()
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(current.name)
            continue
        if isinstance(current, (ast.Import, ast.ImportFrom)):
            names.update(alias.asname or alias.name.split('.')[0] for alias in current.names if alias.name != '*')
        elif isinstance(current, ast.Name) and isinstance(current.ctx, ast.Store):
            names.add(current.id)
        elif isinstance(current, ast.ExceptHandler) and current.name:
            names.add(current.name)
        if not isinstance(current, ast.Lambda):
            stack.extend(ast.iter_child_nodes(current))
    return names


def _is_import_try(node, defined, modules):
    """`try: from torch.nn.functional import mse_loss` / `except ImportError: mse_loss = None`:
    a try whose body only imports and whose handlers (of named exceptions) only assign
    definitions or pass."""
    if not isinstance(node, ast.Try) or node.orelse or node.finalbody:
        return False
    if not all(isinstance(statement, (ast.Import, ast.ImportFrom)) for statement in node.body):
        return False
    for handler in node.handlers:
        if handler.type is not None and not (_is_reference(handler.type) or (
                isinstance(handler.type, ast.Tuple) and all(_is_reference(e) for e in handler.type.elts))):
            return False
        for statement in handler.body:
            if not (isinstance(statement, ast.Pass) or (_is_definition(statement, modules)
                                                        and _reads(statement) <= defined)):
                return False
    return True


def _binds(node):
    """The names a kept top-level statement binds."""
    if isinstance(node, ast.Import):
        return {alias.asname or alias.name.split('.')[0] for alias in node.names}
    if isinstance(node, ast.ImportFrom):
        return {alias.asname or alias.name for alias in node.names}  # `*`: unknown names stay unknown
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, ast.Try):
        return _assigned_names(node) - {handler.name for handler in node.handlers if handler.name}
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


def _is_definition(node, modules=None):
    """An assignment that only names or combines things: no call (but PURE_CALLS), no loop,
    no comprehension."""
    if isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        targets, value = [node.target], node.value
    else:
        return False
    return all(_is_target(target, modules) for target in targets) and _is_pure(value, modules)


def _is_target(node, modules=None):
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, (ast.Tuple, ast.List)):
            stack.extend(current.elts)
        elif isinstance(current, ast.Attribute):  # PPO.compute_advantages = gae
            if not _is_reference(current.value):
                return False
        elif isinstance(current, ast.Subscript):  # SETTINGS['clip'] = 0.2
            if not (_is_reference(current.value) and _is_pure(current.slice, modules)):
                return False
        elif not isinstance(current, ast.Name):
            return False
    return True


def _dotted(node):
    """'torch.finfo' for the expression torch.finfo; None for anything but names and attributes."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return '.'.join(reversed(parts))


def _is_reference(node):
    return _dotted(node) is not None


def _is_pure_call(node, modules):
    """A call of PURE_CALLS, named through a module the notebook imported (`np.float32(1)`)."""
    name = _dotted(node.func)
    if name is None or not modules or '.' not in name:
        return False
    head, rest = name.split('.', 1)
    if head not in modules:
        return False
    full = f'{modules[head]}.{rest}'
    return full in PURE_CALLS or any(full.startswith(module + '.') and full.count('.') == 1
                                     for module in PURE_MODULES)


_OPERATORS = (ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Tuple, ast.List, ast.Set, ast.Dict,
              ast.Subscript, ast.Slice, ast.JoinedStr, ast.FormattedValue, ast.Starred, ast.keyword)
_LEAVES = (ast.Constant, ast.Name, ast.Load, ast.expr_context, ast.operator, ast.unaryop, ast.boolop, ast.cmpop)


def _is_pure(node, modules=None):
    """Constants, names, attributes, lambdas, calls of PURE_CALLS, and operators on them.
    Iterative: an expression of thousands of operators must not exhaust the stack."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Lambda):
            continue  # its body runs only when called
        if isinstance(current, ast.Attribute):
            stack.append(current.value)
        elif isinstance(current, ast.Call):
            if not _is_pure_call(current, modules):
                return False
            stack.extend(current.args + current.keywords)
        elif isinstance(current, _OPERATORS):
            stack.extend(ast.iter_child_nodes(current))
        elif not isinstance(current, _LEAVES):
            return False
    return True
