"""Every case is judged in two steps, so that the same cases and checks serve the student's
report and the instructor's grader (shipped to students):
  1. observe(PPO, case) runs the student's code on the case's inputs and describes what
     came back as plain data (a records.Observation): values, shapes, dtypes, gradients.
     This is the only place where student code runs.
  2. judge(case, observation, expected, mistakes) compares that with the expected values
     and with the outputs of known mistakes on the same inputs, and puts what it finds
     into words (a harness.CaseResult). No student code runs there.
"""

import inspect
import math
import warnings

import numpy as np
import torch

from rl_kit import harness
from rl_kit import reading
from rl_kit.harness import CaseResult, Failure, Finding, Kind, call, fmt, shape_problem
from rl_kit.mistakes import MISTAKES, PARTS, base, ids, keys
from rl_kit.networks import NETWORKS_CHANGED, NUM_ACTIONS, STATE_DIM, linear_layers, set_weights
from rl_kit.records import INPUTS, OUTPUTS, Observation, Output

harness.HARNESS_FILES.add(__file__)


def observe(PPO, case):
    """Runs the student's code on one case and describes the outcome. Never raises for
    anything the student's code does (exceptions and sys.exit() become obs.failure). The
    warnings it gives on the tests' inputs (torch's "std() of one value") are not shown: the
    report says what they mean."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return _observe(PPO, case)


def _observe(PPO, case):
    ac, failure = call(PPO, STATE_DIM, NUM_ACTIONS, case.gamma, case.lmbda, case.epsilon, case.num_steps)
    if failure is not None:
        return Observation(case.id, Failure(failure.kind, failure.message, case.function))
    try:
        set_weights(ac, case.weights)
        function = getattr(ac, case.function)
    except Exception as exc:  # noqa: BLE001 - a student's class may break anything
        return Observation(case.id, Failure(Kind.NOT_RUN, NETWORKS_CHANGED + f'{type(exc).__name__}: {exc}',
                                            case.function))
    inputs = case.tensors()
    originals = [x.clone() for x in inputs]
    result, failure = call(function, *inputs, returns=2)
    if failure is not None:
        return Observation(case.id, _signature_failure(function, case, len(inputs)) or failure)
    try:
        outputs = tuple(Output.of(name, value) for name, value in zip(OUTPUTS[case.function], result))
        gradients, errors = {}, {}
        if case.function == 'compute_loss':
            for (name, value), network in zip(zip(OUTPUTS[case.function], result), (ac.actor, ac.critic)):
                gradient, error = _last_layer_gradient(value, network)
                if gradient is not None:
                    gradients[name] = gradient
                if error is not None:
                    errors[name] = error
        changed = not all(torch.equal(a, b) for a, b in zip(inputs, originals))
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - e.g. a returned object that breaks when inspected
        return Observation(case.id, Failure(Kind.RAISED, harness.describe_exception(exc, case.function),
                                            case.function))
    return Observation(case.id, None, outputs, gradients, errors, changed)


# The hand-out's signatures, as a student must keep them
SIGNATURES = {'compute_advantages': 'compute_advantages(self, states, rewards, next_states, terminations, '
                                    'truncations=None)',
              'compute_loss': 'compute_loss(self, states, actions, advantages, critic_targets, log_probs_old)'}


def _signature_failure(function, case, count):
    """A Failure saying to keep the hand-out's signature, where the student's function raised
    because it cannot take the case's arguments (a parameter dropped or added); else None."""
    try:
        inspect.signature(function).bind(*range(count))
        return None
    except TypeError as exc:
        return Failure(Kind.RAISED, f'{case.function}() cannot take the {count} arguments the tests pass '
                       f'({", ".join(name for name in INPUTS[case.function] if name in case.inputs)}): {exc}; keep '
                       f'the hand-out\'s signature, {SIGNATURES[case.function]}', case.function)
    except Exception:  # noqa: BLE001 - no signature to read (a builtin, an object that breaks inspect)
        return None


def _last_layer_gradient(loss, network):
    """(gradient of loss w.r.t. the weights and bias of the network's last layer, flattened;
    or None, with why not)."""
    if not (isinstance(loss, torch.Tensor) and loss.dim() == 0 and loss.requires_grad):
        return None, None
    last = linear_layers(network)[-1]
    try:
        grads = torch.autograd.grad(loss, [last.weight, last.bias], retain_graph=True, allow_unused=True)
    except RuntimeError as exc:
        return None, str(exc).split('\n')[0]
    flat = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, (last.weight, last.bias))]
    return tuple(torch.cat([g.flatten() for g in flat]).to(torch.float64).tolist()), None



def judge(case, observed, expected, mistakes=None, trusted=True):
    """The verdict on one case. expected: the reference's Observation (or {name: values});
    mistakes: {mistake id: Observation (or {name: values})} of the known mistakes on the
    same inputs; an id 'a+b' is two mistakes at once, matched only where no single one
    explains an output. Returns a harness.CaseResult.

    trusted=False is for an observation that comes from a process the student controls
    (the grader's sandbox). What the student's code reports about its outputs (their type,
    shape, dtype, whether they require gradients, whether the inputs changed) counts as in
    the student's own report, so that both give one verdict. A lie there can hide such a
    failure only where the values are right, never score above correct code: the values
    are also checked to be float32 numbers, the losses' gradients against the reference's."""
    expected = _values(expected)
    # a mistake's outputs where it changes them (as rl_kit/expected.json stores them; the grader's
    # live ones hold every output): one it leaves as expected says nothing for or against it
    mistakes = {mistake: {name: values for name, values in _values(outputs).items() if name not in expected or not (
        np.shape(values) == np.shape(expected[name]) and _close(values, expected[name], case))}
        for mistake, outputs in (mistakes or {}).items()}
    result = CaseResult(section=case.section or case.group, group=case.group, title=case.title,
                        composites=[MISTAKES[m] for m in PARTS if m in ids(case.function)])
    if observed.case_id != case.id:
        result.failures.append(Failure(Kind.WRONG_TYPE, f'no answer for this case (got one for {observed.case_id!r})',
                                       case.function))
        return result
    if observed.failure is not None:
        result.failures.append(observed.failure)
        return result
    outputs = {output.name: output for output in observed.outputs}
    wrong = {}
    notes = {}      # {output: [note]} where no known mistake explains it
    ruled = {}      # {output: ids of the mistakes it shows the code does not make}
    formed = set()  # outputs that passed the form checks
    for name in case.checked:
        result.checks += 1
        output = outputs.get(name)
        problem = _form_problem(case, name, output)
        if problem is None and not trusted:  # what the values show, whatever the untrusted report claims
            problem = _value_form_problem(case, name, output)
        if problem is not None:
            result.failures.append(problem)
            if problem.kind == Kind.NOT_FINITE:
                result.wrong.append(name)  # a probe can still read what NaN means
            continue
        formed.add(name)
        got = output.array().reshape(np.shape(expected[name]))
        want = np.asarray(expected[name], dtype=np.float64).reshape(got.shape)
        ruled[name] = _ruled_out(case, name, got, want, mistakes)
        if _close(got, want, case):
            continue
        wrong[name] = got
        result.wrong.append(name)
        if got.ndim == 0:
            result.scalar.add(name)
        result.failures.append(Failure(Kind.WRONG_VALUE, _value_message(case, name, got, want), case.function))
        options = _options(case, name, got, want, mistakes)
        if options:
            result.options[name] = options
        else:
            notes[name] = _difference_notes(case, name, got, want)
    _target_relation(case, wrong, expected, result, ruled)
    result.notes, result.noted = _merged_notes({name: found for name, found in notes.items()
                                                if name not in result.follows})
    # a mistake that another output of the case rules out explains nothing here (unless the
    # same option explains that output too)
    for name, options in list(result.options.items()):
        result.options[name] = [option for option in options if not any(
            m.id in ruled[other] and option not in result.options.get(other, [])
            for m in option for other in ruled if other != name)]
        if not result.options[name]:
            del result.options[name]
    result.ruled_out = sorted(set().union(*ruled.values())) if ruled else []
    for name in ('actor_loss', 'critic_loss'):
        # a wrong value has a wrong gradient: only a right value's gradient says something more
        if f'{name}.grad' in expected and name in formed and name not in wrong:
            result.checks += 1
            problem = _gradient_problem(case, name, observed, expected)
            if problem is not None:
                result.failures.append(problem)
    if case.in_place:
        result.checks += 1
        if observed.inputs_changed:
            message = (f'{case.function}() changed its input tensors in place; work on copies (e.g. x = x.clone())')
            result.failures.append(Failure(Kind.IN_PLACE, message, case.function))
    return result


def judge_cases(cases, observations, expected, mistakes=None, trusted=True):
    """The verdicts on several cases ([harness.CaseResult], in order), each by judge(), then
    with what the probes among them show when read together (rl_kit/reading.py).
    observations, expected, mistakes: {case id: ...} as judge() takes them for one case."""
    mistakes = mistakes or {}
    results = [judge(case, observations[case.id], expected[case.id], mistakes.get(case.id, {}), trusted)
               for case in cases]
    try:
        readings = reading.read(cases, observations, expected)
    except Exception:  # noqa: BLE001 - whatever came back, a reading never stops the verdicts
        readings = {}
    for case, result in zip(cases, results):
        for found in readings.get(case.id, []):
            if set(found.outputs) & set(result.wrong):
                result.findings.append(Finding(MISTAKES[found.mistake] if found.mistake else None, found.detail,
                                               found.outputs))
        # what a probe read of an output says more than a guess about its kind of difference
        read = {output for finding in result.findings for output in finding.outputs}
        result.notes = [note for note in result.notes if result.noted.get(note) not in read]
    _mixing_notes(cases, results)
    return results


# Where an output is right on every case of one row per unit (a batch of one transition; one step
# per environment) and wrong on larger ones: the rows are mixed up with one another.
MIXING_WORDS = {
    'compute_loss': '{name} is right on every batch of one transition and wrong on this batch: something mixes '
                    'the transitions (a sum, min or mean over the batch where there should be none, a (B, 1) '
                    'against a (B,) tensor that broadcasts to (B, B), one ratio for the whole batch)',
    'compute_advantages': '{name} are right wherever each environment has one step and wrong with several: look '
                          'at how the rows are split into segments (rows i*T .. (i+1)*T-1 are environment i, in '
                          'time order: .view(N, T), not .view(T, N)) and how far the backward sum reaches',
}


def _mixing_notes(cases, results):
    """Adds MIXING_WORDS to the failing larger cases of an output that every one-row case gets
    right, where nothing else explains it (no known mistake, no reading)."""
    def single(case):
        return len(case.inputs['states']) == 1 if case.function == 'compute_loss' else case.num_steps == 1

    for function, words in MIXING_WORDS.items():
        pairs = [(case, result) for case, result in zip(cases, results) if case.function == function]
        for name in OUTPUTS[function]:
            ones = [(case, result) for case, result in pairs if single(case) and name in case.checked]
            many = [(case, result) for case, result in pairs if not single(case) and name in result.wrong]
            if not ones or not many or not all(
                    name not in result.wrong and not any(f.kind in CRASHES for f in result.failures)
                    for _, result in ones):
                continue
            for case, result in many:
                if name in result.options or name in result.follows or any(
                        name in finding.outputs for finding in result.findings):
                    continue
                note = words.format(name=name)
                result.notes.append(note)
                result.noted[note] = name


CRASHES = {Kind.RAISED, Kind.NOT_RUN, Kind.NOT_IMPLEMENTED, Kind.WRONG_TYPE, Kind.WRONG_SHAPE}


def _options(case, name, got, want, mistakes):
    """[(Mistake, ...)]: the known mistakes (or pairs) that reproduce a wrong output exactly;
    for advantages that come out normalised, also the mistakes that do so once normalised."""
    def reproduces(outputs_of_mistake, transform=None):
        if name not in outputs_of_mistake or np.shape(outputs_of_mistake[name]) != got.shape:
            return False
        values = np.asarray(outputs_of_mistake[name], dtype=np.float64)
        return _close(got, transform(values) if transform else values, case)

    matched = [key for key, outputs_of_mistake in mistakes.items() if reproduces(outputs_of_mistake)]
    singles = [key for key in matched if '+' not in key]
    chosen = singles or matched  # two mistakes at once only where no single one explains it
    ddof = _normalised(got) if name == 'advantages' else None
    if not chosen and ddof is not None:
        normalise = lambda x: (x - x.mean()) / (x.std(ddof=ddof) + 1e-12)  # noqa: E731
        if _close(got, normalise(want), case):
            chosen = ['normalized_in_gae']
        else:
            chosen = [f'normalized_in_gae+{key}' for key, outputs_of_mistake in mistakes.items()
                      if '+' not in key and base(key) != 'normalized_in_gae' and reproduces(outputs_of_mistake,
                                                                                            normalise)]
    options = []
    for key in chosen:
        option = tuple(dict.fromkeys(MISTAKES[base(part)] for part in key.split('+')))
        if option not in options:
            options.append(option)
    return options


def _ruled_out(case, name, got, want, mistakes):
    """{mistake id}: the known mistakes this output shows the code does not make: no variant of
    them gives what the code gave (a variant that leaves the output as expected gives it where
    it is right; for advantages that come out normalised, a variant gives them once normalised)."""
    ddof = _normalised(got) if name == 'advantages' else None
    normalise = (lambda x: (x - x.mean()) / (x.std(ddof=ddof) + 1e-12)) if ddof is not None else None  # noqa: E731
    right = _close(got, want, case)
    verdicts = {}
    for key in keys(case.function):
        outputs_of_mistake = mistakes.get(key, {})
        if name in outputs_of_mistake and np.shape(outputs_of_mistake[name]) == got.shape:
            values = np.asarray(outputs_of_mistake[name], dtype=np.float64)
            gives = _close(got, values, case) or (normalise is not None and _close(got, normalise(values), case))
            changes = True
        else:
            gives, changes = right, False
        verdict = verdicts.setdefault(base(key), [False, False])
        verdict[0] |= gives
        verdict[1] |= changes
    return {mistake for mistake, (gives, changes) in verdicts.items() if changes and not gives}


def _normalised(x):
    """The ddof (1 or 0) with which values have mean 0 and standard deviation 1, or None."""
    x = np.ravel(x)
    if len(x) < 3 or abs(x.mean()) > 1e-3:
        return None
    return next((ddof for ddof in (1, 0) if abs(x.std(ddof=ddof) - 1) < 1e-3), None)


def _expected_shape(case):
    """The shape each output of the case's function must have: (N * T,) or a scalar's ()."""
    return (len(case.inputs['states']),) if case.function == 'compute_advantages' else ()


def _value_form_problem(case, name, output):
    """The form checks that rest on the values alone: finite float32 numbers."""
    values = np.array(output.values, dtype=np.float64)
    if not np.isfinite(values).all():
        return Failure(Kind.NOT_FINITE, f'{name} contains NaN or infinity', case.function)
    if not np.array_equal(values.astype(np.float32).astype(np.float64), values):
        return Failure(Kind.WRONG_DTYPE, f'{name} holds values that are not float32 numbers (expected dtype '
                                         'torch.float32)', case.function)
    return None


def _values(x):
    if isinstance(x, Observation):
        return x.values()
    return {name: np.asarray(value, dtype=np.float64) for name, value in x.items()}


def _close(got, want, case):
    return bool(np.allclose(got, want, rtol=case.rtol, atol=case.atol))


def _form_problem(case, name, output):
    if output is None:
        return Failure(Kind.WRONG_TYPE, f'{case.function}() returned no {name}', case.function)
    if output.type == 'ndarray':
        return Failure(Kind.WRONG_TYPE, f'{name} is a numpy array; return a torch.Tensor (e.g. torch.as_tensor(...))',
                       case.function)
    if output.type != 'Tensor' or output.shape is None:
        return Failure(Kind.WRONG_TYPE, f'{name} must be a torch.Tensor, got {output.type}', case.function)
    shape = _expected_shape(case)
    if output.values is None and tuple(output.shape) == shape:
        return Failure(Kind.WRONG_SHAPE, f'{name} is too large to check', case.function)
    finite = output.values is None or all(math.isfinite(v) for v in output.values)
    requires_grad = True if case.function == 'compute_loss' else (False if case.detached else None)
    problem = shape_problem(name, output.shape, output.dtype, output.requires_grad, finite, shape, 'torch.float32',
                            requires_grad)
    if problem is not None and problem.kind == Kind.NOT_FINITE:
        one = ' (each environment has one step here: a standard deviation over one value is NaN in torch)' if (
            case.function == 'compute_advantages' and case.num_steps == 1) else (
            ' (one transition here: a standard deviation over one value is NaN in torch)'
            if len(case.inputs['states']) == 1 else '')
        problem = Failure(Kind.NOT_FINITE, f'{name} contains NaN or infinity: {harness.short(output.values)}{one}')
    return problem and Failure(problem.kind, problem.message, case.function)


def _wrong_mask(got, want, case):
    return np.abs(got - want) > case.atol + case.rtol * np.abs(want)


def _step_event(case, row):
    """What happens at a transition of a compute_advantages() case, in words ('' if nothing)."""
    T = case.num_steps
    events = []
    if case.inputs['terminations'][row]:
        events.append('the episode terminates here')
    if 'truncations' in case.inputs and case.inputs['truncations'][row]:
        events.append('the episode is truncated here')
    if row % T == T - 1 and T > 1:
        events.append('the last step of the segment')
    return ', '.join(events)


def _where(case, row):
    """A row of a compute_advantages() case in the words of the case's shape."""
    N, T = case.layout
    if N == 1:
        return f'step {row}'
    if T == 1:
        return f'environment {row}'
    return f'environment {row // T}, step {row % T}'


def _value_message(case, name, got, want):
    error = np.abs(got - want)
    if got.ndim == 0:
        return f'{name} is incorrect: got {fmt(got.item())}, expected {fmt(want.item())}'
    N, T = case.layout
    wrong = _wrong_mask(got, want, case).reshape(N, T)
    envs = [env for env in range(N) if wrong[env].any()]
    env = envs[0]
    row = env * T + int(np.flatnonzero(wrong[env])[-1])  # a backward sum's error starts at the latest wrong step
    event = _step_event(case, row)
    place = f'{_where(case, row)}{" (" + event + ")" if event else ""}: got {fmt(got[row])}, expected {fmt(want[row])}'
    if N == 1:
        return f'{name} are incorrect (max error {fmt(error.max())}); the last wrong step: {place}'
    lead = 'e.g. ' if T == 1 else 'e.g. the last wrong step of '
    return f'{name} are incorrect (max error {fmt(error.max())}) in {len(envs)} of {N} environments; {lead}{place}'


def _difference_notes(case, name, got, want):
    """What kind of difference it is, where no known mistake explains it. A factor or a shift
    is named only where it holds for every value."""
    if got.ndim == 0:
        return _scalar_notes(name, got.item(), want.item(), len(case.inputs['states']))
    notes = []
    holds = lambda a, b: bool(np.all(np.abs(a - b) <= 1e-3 * np.abs(b) + 1e-6))  # noqa: E731 - value by value
    if np.dot(want, want) > 0:
        factor = float(np.dot(got, want) / np.dot(want, want))
        if abs(factor - 1) > 1e-3 and holds(got, factor * want):
            notes.append('every value has the wrong sign (a factor -1).' if abs(factor + 1) < 1e-3 else
                         f'every value is {fmt(factor)} × the expected one: a constant factor is off.')
            return notes
    shift = float(np.mean(got - want))
    if abs(shift) > 1e-6 and holds(got, want + shift):
        notes.append(f'every value is off by the same amount ({fmt(shift)}): a constant shift.')
        return notes
    N, T = case.layout
    wrong = _wrong_mask(got, want, case)
    envs = [env for env in range(N) if wrong.reshape(N, T)[env].any()]
    rows = set(np.flatnonzero(wrong))
    ends = set(np.flatnonzero(case.inputs['terminations'] | case.inputs.get('truncations', False)))
    last = {env * T + T - 1 for env in range(N)}
    if T == 1:
        if rows and rows <= ends:
            notes.append('only the environments whose episode ends are wrong: check δ_t there (what v(s_{t+1}) '
                         'counts for after a termination).')
        return notes
    if N > 1 and len(envs) < N:
        notes.append(f'only environment{"s" if len(envs) > 1 else ""} {", ".join(map(str, envs))} '
                     f'{"are" if len(envs) > 1 else "is"} wrong; the other{"s are" if N - len(envs) > 1 else " is"} '
                     'right: compare what happens in them (episode ends, segment ends).')
    if rows and rows <= last:
        notes.append('only the last step of a segment is wrong: check what δ_{T-1} bootstraps from.')
    elif rows and rows <= ends:
        notes.append('only steps where an episode ends are wrong: check δ_t there (what v(s_{t+1}) counts for).')
    if envs:
        notes.append('in a backward sum an error travels to the earlier steps: fix the latest wrong step first.')
    return notes


def _merged_notes(notes):
    """([note], {note: output}) of the notes of each output: a note the outputs share once; where
    two outputs have notes, one that only one of them has names it ("critic_targets: ...")."""
    merged, noted = [], {}
    for name, found in notes.items():
        for note in found:
            shared = all(note in other for other in notes.values())
            if shared or len(notes) == 1 or note.startswith(name):
                text = note
            else:
                text = f'{name}: {note}'
            if text not in merged:
                merged.append(text)
                noted[text] = None if shared and len(notes) > 1 else name
    return merged, noted


def _scalar_notes(name, got, want, batch):
    """A factor worth naming between two numbers: -1, an integer, or 1 / an integer (a sum
    instead of a mean only where the batch has more than one transition)."""
    if want == 0 or got == 0:
        return []
    factor = got / want
    if abs(factor + 1) < 1e-3:
        return [f'{name} has the right size but the wrong sign.']
    for k in range(2, 1025):
        if abs(factor - k) < 1e-3 * k:
            sum_ = 'a sum instead of a mean, or ' if k == batch else ''
            return [f'{name} is {k} × the expected value: {sum_}a factor too many?']
        if abs(1 / factor - k) < 1e-3 * k:
            return [f'{name} is 1/{k} of the expected value: a factor too many?']
    return []


def _target_relation(case, wrong, expected, result, ruled):
    """Where both outputs of compute_advantages() are wrong: whether critic_targets are wrong
    only through the advantages (critic_targets - advantages = v(s_t), as it should). Then
    critic_targets' formula is right, whatever else happens to give the same numbers on this
    case: they are explained by what explains the advantages, and nothing of their own."""
    if case.function != 'compute_advantages' or 'critic_targets' not in wrong or 'advantages' not in wrong:
        return
    got = wrong['critic_targets'] - wrong['advantages']
    values = expected['critic_targets'] - expected['advantages']   # v(s_t)
    if _close(got, values, case):
        ruled['critic_targets'] = set()  # critic_targets show nothing the advantages do not
        result.options.pop('critic_targets', None)
        result.follows['critic_targets'] = 'advantages'   # explained by whatever explains the advantages
        result.failures = [Failure(f.kind, 'critic_targets are incorrect too, only through the advantages '
                                   '(critic_targets - advantages = v(s_t), as it should)', f.function)
                           if f.kind == Kind.WRONG_VALUE and f.message.startswith('critic_targets') else f
                           for f in result.failures]
    elif _close(got, np.zeros_like(got), case) and not _close(values, np.zeros_like(values), case):
        result.options.setdefault('critic_targets', []).append((MISTAKES['target_without_value'],))


def _gradient_problem(case, name, observed, expected):
    """A loss's gradient (w.r.t. the last layer of its network) against the reference's."""
    if name in observed.gradient_errors:
        return Failure(Kind.GRADIENT, f'the gradient of {name} could not be computed: '
                                      f'{observed.gradient_errors[name]}', case.function)
    got, want = observed.gradients.get(name), np.asarray(expected[f'{name}.grad'])
    if got is None or len(got) != len(want):
        return Failure(Kind.GRADIENT, f'{name} has no gradient: it must be computed from the networks with '
                                      'gradients on (not detached, not under torch.no_grad())', case.function)
    got = np.array(got)
    if np.allclose(got, want, rtol=1e-3, atol=1e-6):
        return None
    size = float(np.abs(got).max())
    if name == 'actor_loss' and case.gradient == 'flat':
        return Failure(Kind.GRADIENT, f'actor_loss has a gradient (max {fmt(size)}) where every ratio is clipped on '
                                      'the flat side (a > 0 with r > 1 + ε, a < 0 with r < 1 - ε): there min(L1, L2) '
                                      'is the clipped term, whose gradient is 0', case.function)
    if name == 'actor_loss' and case.gradient == 'steep' and size <= 1e-6:
        return Failure(Kind.GRADIENT, 'actor_loss has no gradient where min() must pick the unclipped term (a > 0 '
                                      'with r < 1 - ε, a < 0 with r > 1 + ε) or the ratio is inside the clip range: '
                                      'take min(L1, L2) of both terms, each with its gradient', case.function)
    return Failure(Kind.GRADIENT, f'the gradient of {name} is wrong (max error '
                                  f'{fmt(float(np.abs(got - want).max()))}) although its value is right: is a '
                                  'term detached, or computed from a copy?', case.function)

