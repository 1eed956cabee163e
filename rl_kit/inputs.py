"""The checks of what the notebook's PPO methods are given (shipped to students): a mistake
in the calling code gets a ValueError that names the argument, where it happens, and not
a shape error deep inside the math. Nothing of the solution is in here.
"""

import torch


def check_tensors(function, expected_batch, **tensors):
    # Raises a ValueError naming the argument if one of `tensors` is not a torch.Tensor
    # whose first dimension is `expected_batch`, so that a mistake in the calling code
    # is reported where it happens and not as a shape error deep inside the math.
    for name, x in tensors.items():
        if not isinstance(x, torch.Tensor):
            raise ValueError(f'{function}: {name} must be a torch.Tensor, got {type(x).__name__}')
        if x.dim() == 0 or x.shape[0] != expected_batch:
            shapes = ', '.join(f'{n}={tuple(t.shape)}' for n, t in tensors.items() if isinstance(t, torch.Tensor))
            raise ValueError(f'{function}: {name} has shape {tuple(x.shape)}, but its first dimension must be '
                             f'the batch size {expected_batch} (shapes: {shapes})')


def check_rollout(num_steps, states, rewards, next_states, terminations, truncations):
    # The checks compute_advantages() relies on: N * T transitions, flat per-transition
    # signals, boolean episode ends, and a batch that splits into segments of T steps.
    check_tensors('compute_advantages', len(states), states=states, rewards=rewards,
                  next_states=next_states, terminations=terminations, truncations=truncations)
    if states.dim() != 2 or next_states.shape != states.shape:
        raise ValueError(f'compute_advantages: states and next_states must both have shape (N * T, state_dim), '
                         f'got {tuple(states.shape)} and {tuple(next_states.shape)}')
    for name, x in (('rewards', rewards), ('terminations', terminations), ('truncations', truncations)):
        if x.dim() != 1:
            raise ValueError(f'compute_advantages: {name} must have shape (N * T,) = ({len(states)},), '
                             f'got {tuple(x.shape)}')
    if not rewards.is_floating_point():
        raise ValueError(f'compute_advantages: rewards must be a float tensor, got dtype {rewards.dtype}')
    for name, x in (('terminations', terminations), ('truncations', truncations)):
        if x.dtype != torch.bool:
            raise ValueError(f'compute_advantages: {name} must be a boolean tensor, got dtype {x.dtype} '
                             f'(use e.g. torch.as_tensor(flags, dtype=torch.bool))')
    if len(states) == 0 or len(states) % num_steps != 0:
        raise ValueError(f'compute_advantages: the batch of {len(states)} transitions is not N segments of '
                         f'num_steps = {num_steps} transitions each')
