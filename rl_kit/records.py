"""The cases and what a student's code did on them, as plain records that cross a process
boundary as data (shipped to students): Case, Output and Observation, each with to_data()
and from_data(). from_data() validates, since the data may come from a process the
student controls (the grader's sandbox): anything malformed or too large is a ValueError
naming the field."""

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from rl_kit.harness import Failure
from rl_kit.networks import HIDDEN, WEIGHTS

OUTPUTS = {'compute_advantages': ('advantages', 'critic_targets'), 'compute_loss': ('actor_loss', 'critic_loss')}
INPUTS = {'compute_advantages': ('states', 'rewards', 'next_states', 'terminations', 'truncations'),
          'compute_loss': ('states', 'actions', 'advantages', 'critic_targets', 'log_probs_old')}
MAX_BATCH = 4096           # inputs and outputs larger than this are refused when read from data
MAX_GRADIENT = 4 * HIDDEN + 4  # the last layer of the actor: num_actions x (HIDDEN + 1) at most
# Tolerances of the extended cases: loose enough for any correct order of floating-point
# operations (a loop, a vectorised sum, float64 inside), tight enough that every known
# mistake is far outside them (the cases are built so that mistakes differ by > 1e-2).
RTOL, ATOL = 1e-4, 1e-5


@dataclass
class Case:
    """One input for one of the student's functions, and how to judge its outputs."""
    id: str
    group: str              # a key of rl_tests.GROUPS: the cases of a group are scored together
    title: str
    function: str           # 'compute_advantages' or 'compute_loss'
    gamma: float
    lmbda: float
    epsilon: float
    num_steps: int          # T
    weights: tuple          # (scheme, seed), a scheme of networks.WEIGHTS: how the networks' weights are drawn
    inputs: dict            # name: np.ndarray, in the order of the call
    checked: tuple          # outputs whose values are judged
    rtol: float = RTOL
    atol: float = ATOL
    detached: bool = True   # compute_advantages' outputs must be detached
    in_place: bool = True   # the inputs must not be changed
    gradient: str = ''      # 'flat' or 'steep': judge the actor loss's gradient (see loss_case)
    pairs: bool = False     # small enough to also match pairs of mistakes (ids 'a+b'): two bugs at once
    section: str = ''       # the heading the case is reported under (its group's description)
    probe: str = ''         # a probe case (rl_kit/reading.py reads one behaviour off its outputs): its kind
    design: dict = field(default_factory=dict)  # a probe's chosen numbers: {name: number or [numbers]}

    @property
    def layout(self):
        """(N, T) of a compute_advantages() case, else None."""
        if self.function != 'compute_advantages':
            return None
        return len(self.inputs['states']) // self.num_steps, self.num_steps

    def tensors(self):
        """Fresh tensors of the inputs, in the order of the call."""
        return [torch.as_tensor(np.array(self.inputs[name])) for name in INPUTS[self.function] if name in self.inputs]

    def to_data(self):
        data = {name: getattr(self, name) for name in ('id', 'group', 'title', 'function', 'gamma', 'lmbda',
                                                       'epsilon', 'num_steps', 'rtol', 'atol', 'detached',
                                                       'in_place', 'gradient', 'pairs', 'section', 'probe')}
        data['weights'] = list(self.weights)
        data['checked'] = list(self.checked)
        data['design'] = {name: list(value) if isinstance(value, (list, tuple)) else value
                          for name, value in self.design.items()}
        data['inputs'] = {name: {'dtype': str(x.dtype), 'shape': list(x.shape), 'values': x.ravel().tolist()}
                          for name, x in self.inputs.items()}
        return data

    @classmethod
    def from_data(cls, data):
        """The Case of to_data(); ValueError naming the field for anything malformed."""
        _require(isinstance(data, dict), 'a case must be a dict')
        function = data.get('function')
        _require(function in INPUTS, f'case.function must be one of {sorted(INPUTS)}, got {function!r}')
        for name in ('id', 'group', 'title', 'gradient', 'section', 'probe'):
            _require(isinstance(data.get(name), str) and len(data[name]) < 500, f'case.{name} must be a short string')
        for name in ('gamma', 'lmbda', 'epsilon', 'rtol', 'atol'):
            _require(isinstance(data.get(name), (int, float)) and math.isfinite(data[name]),
                     f'case.{name} must be a finite number')
        _require(isinstance(data.get('num_steps'), int) and 0 < data['num_steps'] <= MAX_BATCH,
                 'case.num_steps must be a positive int')
        weights = data.get('weights')
        _require(isinstance(weights, list) and len(weights) == 2 and weights[0] in WEIGHTS
                 and isinstance(weights[1], int), f"case.weights must be [one of {sorted(WEIGHTS)}, seed]")
        checked = data.get('checked')
        _require(isinstance(checked, list) and set(checked) <= set(OUTPUTS[function]),
                 f'case.checked must be outputs of {function}')
        raw = data.get('inputs')
        _require(isinstance(raw, dict) and set(raw) <= set(INPUTS[function]) and len(raw) >= 4,
                 f'case.inputs must name inputs of {function}')
        inputs = {name: _array(f'case.inputs.{name}', raw[name]) for name in INPUTS[function] if name in raw}
        case = cls(id=data['id'], group=data['group'], title=data['title'], function=function,
                   gamma=float(data['gamma']), lmbda=float(data['lmbda']), epsilon=float(data['epsilon']),
                   num_steps=data['num_steps'], weights=(weights[0], weights[1]), inputs=inputs,
                   checked=tuple(checked), rtol=float(data['rtol']), atol=float(data['atol']),
                   detached=bool(data['detached']), in_place=bool(data['in_place']), gradient=data['gradient'],
                   pairs=bool(data.get('pairs')), section=data['section'], probe=data['probe'],
                   design=_design(data.get('design')))
        _require(len(inputs['states']) % case.num_steps == 0 or function == 'compute_loss',
                 'case: the batch is not N segments of num_steps')
        return case


def _design(data):
    """A probe's design, validated: at most 32 names, each a finite number or a list of at
    most MAX_DESIGN of them."""
    _require(isinstance(data, dict) and len(data) <= 32, 'case.design must be a dict of numbers')
    design = {}
    for name, value in data.items():
        values = value if isinstance(value, list) else [value]
        _require(isinstance(name, str) and len(name) < 50 and len(values) <= MAX_DESIGN and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values),
            f'case.design.{str(name)[:50]} must be a finite number or a short list of them')
        design[name] = [float(v) for v in value] if isinstance(value, list) else float(value)
    return design


MAX_DESIGN = 64

_DTYPES = {'float32': np.float32, 'int64': np.int64, 'bool': np.bool_}


def _require(condition, message):
    if not condition:
        raise ValueError(message)


def _array(name, data):
    _require(isinstance(data, dict) and data.get('dtype') in _DTYPES, f'{name}: dtype must be one of {list(_DTYPES)}')
    shape, values = data.get('shape'), data.get('values')
    _require(isinstance(shape, list) and 1 <= len(shape) <= 2 and all(isinstance(n, int) and 0 < n <= MAX_BATCH
                                                                     for n in shape), f'{name}: bad shape')
    _require(isinstance(values, list) and len(values) == math.prod(shape), f'{name}: values do not match the shape')
    _require(all(isinstance(v, (int, float)) for v in values), f'{name}: values must be numbers')
    return np.array(values, dtype=_DTYPES[data['dtype']]).reshape(shape)



@dataclass(frozen=True)
class Output:
    """One value a student's function returned, described as plain data."""
    name: str
    type: str                # type name, e.g. 'Tensor', 'ndarray', 'float'
    shape: tuple = None      # tensors and arrays
    dtype: str = None        # e.g. 'torch.float32'
    requires_grad: bool = None
    values: tuple = None     # float64, flattened (tensors only)

    @classmethod
    def of(cls, name, value):
        if isinstance(value, torch.Tensor):
            flat = value.detach().to(torch.float64).flatten() if value.numel() <= MAX_BATCH else None
            return cls(name, 'Tensor', tuple(value.shape), str(value.dtype), bool(value.requires_grad),
                       tuple(flat.tolist()) if flat is not None else None)
        if isinstance(value, np.ndarray) and value.dtype.kind in 'fiub' and value.size <= MAX_BATCH:
            return cls(name, 'ndarray', tuple(value.shape), str(value.dtype),
                       values=tuple(value.astype(np.float64).ravel().tolist()))
        if isinstance(value, np.ndarray):
            return cls(name, 'ndarray', tuple(value.shape), str(value.dtype))
        return cls(name, type(value).__name__)

    def array(self):
        return np.array(self.values, dtype=np.float64)


@dataclass
class Observation:
    """What a student's function did on one case, as plain data: no tensors, no code."""
    case_id: str
    failure: Failure = None        # it raised, or could not run, or returned the wrong number of values
    outputs: tuple = ()            # (Output, ...)
    gradients: dict = field(default_factory=dict)        # loss name: gradient w.r.t. the last layer of its network
    gradient_errors: dict = field(default_factory=dict)  # loss name: why its gradient could not be computed
    inputs_changed: bool = False

    def values(self):
        """{name: np.ndarray} of the tensor outputs and gradients (name + '.grad')."""
        found = {o.name: o.array().reshape(o.shape) for o in self.outputs
                 if o.type == 'Tensor' and o.values is not None}
        found.update({f'{name}.grad': np.array(g, dtype=np.float64) for name, g in self.gradients.items()})
        return found

    def to_data(self):
        return {'case_id': self.case_id, 'failure': self.failure and self.failure.to_data(),
                'outputs': [{'name': o.name, 'type': o.type, 'shape': o.shape and list(o.shape), 'dtype': o.dtype,
                             'requires_grad': o.requires_grad, 'values': o.values and list(o.values)}
                            for o in self.outputs],
                'gradients': {name: list(g) for name, g in self.gradients.items()},
                'gradient_errors': dict(self.gradient_errors), 'inputs_changed': self.inputs_changed}

    @classmethod
    def from_data(cls, data):
        """The Observation of to_data(), validated: it may come from an untrusted process.
        ValueError for anything malformed or too large."""
        _require(isinstance(data, dict) and isinstance(data.get('case_id'), str), 'an observation must be a dict '
                                                                                   'with a case_id')
        failure = None if data.get('failure') is None else Failure.from_data(data['failure'])
        raw_outputs = data.get('outputs')
        _require(isinstance(raw_outputs, list) and len(raw_outputs) <= 2, 'observation.outputs: at most 2')
        outputs = tuple(_output(raw) for raw in raw_outputs)
        gradients, errors = data.get('gradients'), data.get('gradient_errors')
        _require(isinstance(gradients, dict) and set(gradients) <= {'actor_loss', 'critic_loss'},
                 'observation.gradients: of actor_loss and critic_loss only')
        for g in gradients.values():
            _require(isinstance(g, list) and len(g) <= MAX_GRADIENT and all(isinstance(v, (int, float)) for v in g),
                     'observation.gradients: lists of numbers')
        _require(isinstance(errors, dict) and all(isinstance(k, str) and isinstance(v, str) and len(k) < 50
                                                  for k, v in errors.items()) and len(errors) <= 2,
                 'observation.gradient_errors: {name: message}')
        _require(isinstance(data.get('inputs_changed'), bool), 'observation.inputs_changed must be a bool')
        return cls(data['case_id'][:200], failure, outputs, {k: tuple(map(float, v)) for k, v in gradients.items()},
                   {k: v[:2000] for k, v in errors.items()}, data['inputs_changed'])


def _output(raw):
    _require(isinstance(raw, dict) and isinstance(raw.get('name'), str) and isinstance(raw.get('type'), str),
             'observation.outputs: dicts with a name and a type')
    shape, values = raw.get('shape'), raw.get('values')
    if shape is not None:
        _require(isinstance(shape, list) and len(shape) <= 8 and all(isinstance(n, int) and n >= 0 for n in shape),
                 'observation: bad shape')
    if values is not None:
        _require(shape is not None and isinstance(values, list) and len(values) == math.prod(shape) <= MAX_BATCH
                 and all(isinstance(v, (int, float)) for v in values), 'observation: values do not match the shape')
    for name in ('dtype',):
        _require(raw.get(name) is None or (isinstance(raw[name], str) and len(raw[name]) < 50), f'observation: bad {name}')
    _require(raw.get('requires_grad') in (None, True, False), 'observation: bad requires_grad')
    return Output(raw['name'][:50], raw['type'][:50], shape and tuple(shape), raw.get('dtype'),
                  raw.get('requires_grad'), values and tuple(map(float, values)))

