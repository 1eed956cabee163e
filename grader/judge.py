"""What is judged: the cases of one grading run, drawn from its secret seed, their expected
outputs from the reference and the known mistakes' outputs (instructor side). No
submission's code runs here: the children send observations, Judge.judge() makes the report."""

import dataclasses
import json
import os
import threading

from grader.feedback import _clean

# ------------------------------------------------------------------------------------
# What is judged: the cases, their expected outputs and the known mistakes' outputs
# ------------------------------------------------------------------------------------

def load_hidden_cases(path, rng):
    """The rl_tests.Case list of an instructor's file defining hidden_cases(rng).
    Raises ValueError naming what is wrong."""
    namespace = {'__name__': '__hidden_cases__'}
    with open(path, encoding='utf-8') as file:
        exec(compile(file.read(), path, 'exec'), namespace)
    if not callable(namespace.get('hidden_cases')):
        raise ValueError(f'{path} does not define hidden_cases(rng); define it to return a list of rl_tests.Case '
                         '(made with rl_tests.advantages_case or rl_tests.loss_case)')
    import rl_tests
    cases = list(namespace['hidden_cases'](rng))
    for case in cases:
        if not isinstance(case, rl_tests.Case):
            raise ValueError(f'hidden_cases(rng) in {path} returned a {type(case).__name__}; expected rl_tests.Case '
                             'objects (made with rl_tests.advantages_case or rl_tests.loss_case)')
        try:  # what the sandboxed child will do with it
            rl_tests.Case.from_data(json.loads(json.dumps(case.to_data())))
        except ValueError as exc:
            raise ValueError(f'hidden case {case.id!r} of {path} cannot be sent to a submission: {exc}') from None
    return cases


class Judge:
    """The instructor's side of every case of one run: drawn from the secret seed, with
    the reference's outputs computed once. The known mistakes' outputs on every case are
    computed in the background while grading runs (10-20 s of one core per run) and used
    from the first submission with a wrong value on."""

    def __init__(self, seed, hidden=None, base=None):
        """base: a Judge of the same seed without hidden cases, whose work is reused."""
        import numpy as np
        import torch
        import ppo_reference
        import rl_tests
        torch.set_num_threads(1)
        self.rl_tests = rl_tests
        if base is None:
            self.cases = rl_tests.make_cases(seed)
            self.expected, self._mistakes, self._locks = {}, {}, {}
        else:
            self.cases = list(base.cases)
            self.expected, self._mistakes, self._locks = dict(base.expected), base._mistakes, dict(base._locks)
        if hidden:
            extra = load_hidden_cases(hidden, np.random.default_rng([2, seed]))
            taken = {case.id for case in self.cases}
            for case in extra:
                if case.id in taken:
                    raise ValueError(f'hidden case id {case.id!r} is already used; give hidden cases their own ids')
                taken.add(case.id)
            self.cases += extra
        for case in [case for case in self.cases if case.id not in self.expected]:
            self.expected[case.id] = rl_tests.observe(ppo_reference.PPO, case)
            if self.expected[case.id].failure is not None:
                raise ValueError(f'the reference solution fails on case {case.id!r}: '
                                 f'{self.expected[case.id].failure.message}')
            self._locks[case.id] = threading.Lock()
        # the children receive exactly this: the inputs, never an expected value
        self.cases_json = json.dumps([case.to_data() for case in self.cases])
        self._background, self._stop = None, threading.Event()

    def start_background(self):
        """Computes the known mistakes' outputs of every case in a thread, until
        stop_background() (grade_folder stops it before it returns)."""
        if self._background is None or not self._background.is_alive():
            self._stop = threading.Event()
            self._background = threading.Thread(target=self._precompute, args=(self._stop,), daemon=True,
                                                name='known mistakes')
            self._background.start()

    def stop_background(self):
        self._stop.set()
        if self._background is not None:
            self._background.join()

    def _precompute(self, stop):
        for case in self.cases:
            if stop.is_set():
                return
            self.mistakes(case, stop)

    def mistakes(self, case, stop=None):
        """{mistake id: Observation} of the known mistakes on this case's inputs (None if
        `stop` was set before they were all computed)."""
        from instructor import ppo_mistakes
        with self._locks[case.id]:
            if case.id not in self._mistakes:
                found = {}
                for mistake in ppo_mistakes.applicable(case):
                    if stop is not None and stop.is_set():
                        return None
                    found[mistake] = self.rl_tests.observe(ppo_mistakes.mutant(mistake), case)
                self._mistakes[case.id] = found
            return self._mistakes[case.id]

    def judge(self, observations):
        """The rl_kit.harness.Report of one submission's observations (list, one per case).
        Only values and gradients count: the child's claims about its outputs do not
        (judge(trusted=False)). Mistakes are matched as soon as one case has a wrong
        value, on every case, since evidence for and against them ranks them. The Report
        renders at any level: report.to_markdown(level) / to_text(level)."""
        from rl_kit import harness as rl_harness
        received = {case.id: self._observation(observations, index, case) for index, case in enumerate(self.cases)}

        def verdicts(with_mistakes):  # judge(trusted=False) on each case, then the probes read together
            mistakes = {case.id: self.mistakes(case) for case in self.cases} if with_mistakes else {}
            return self.rl_tests.judge_cases(self.cases, received, self.expected, mistakes, trusted=False)

        results = verdicts(False)
        if any(failure.kind == rl_harness.Kind.WRONG_VALUE for result in results for failure in result.failures):
            results = verdicts(True)
        return rl_harness.Report(results)

    def _observation(self, observations, index, case):
        """The index-th observation, validated; garbage becomes a failed case."""
        from rl_kit import harness as rl_harness
        problem = None
        if index >= len(observations):
            problem = 'no result came back for this case'
        else:
            try:
                observation = self.rl_tests.Observation.from_data(observations[index])
                if observation.case_id != case.id:
                    problem = 'the result that came back belongs to another case'
                else:
                    return _one_line_texts(observation)
            except (ValueError, TypeError, KeyError, OverflowError, RecursionError) as exc:
                problem = f'the result that came back is malformed ({_clean(str(exc), 200)})'
        failure = rl_harness.Failure(rl_harness.Kind.NOT_RUN, problem, case.function)
        return self.rl_tests.Observation(case.id, failure)


def _one_line_texts(observation):
    """The observation with every text the child wrote (what the student's code raised, the
    names of the types it returned, why a gradient failed) made one inert line
    (feedback._clean), before any of it is put into a message."""
    failure = observation.failure and dataclasses.replace(observation.failure,
                                                          message=_clean(observation.failure.message, 2000))
    outputs = tuple(dataclasses.replace(output, type=_clean(output.type, 50),
                                        dtype=output.dtype and _clean(output.dtype, 50))
                    for output in observation.outputs)
    errors = {name: _clean(error, 2000) for name, error in observation.gradient_errors.items()}
    return dataclasses.replace(observation, failure=failure, outputs=outputs, gradient_errors=errors)


_JUDGES = {}  # (seed, hidden file, its mtime): Judge -- runs of one process with the same seed share them


def get_judge(seed, hidden=None):
    key = (seed, hidden, hidden and os.path.getmtime(hidden))
    if key not in _JUDGES:
        _JUDGES[key] = Judge(seed, hidden, base=get_judge(seed) if hidden else None)
    return _JUDGES[key]
