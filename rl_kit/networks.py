"""The networks of every case: the notebook's actor and critic sizes, and the weights a case
gives them (shipped to students). A case's weights are a recipe, ('course', seed), ('live',
seed) or ('readable', seed), so that a case crosses a process boundary as data."""

import functools

import numpy as np
import torch
from torch import nn

STATE_DIM, NUM_ACTIONS = 5, 3     # of every case's networks
HIDDEN = 128                      # the notebook's hidden layer width


def layer_shapes():
    """(out, in) of the three Linear layers of the actor, then of the critic."""
    return [(HIDDEN, STATE_DIM), (HIDDEN, HIDDEN), (NUM_ACTIONS, HIDDEN),
            (HIDDEN, STATE_DIM), (HIDDEN, HIDDEN), (1, HIDDEN)]


def course_weights(rng):
    """The course's scheme (its test_ppo()): per layer a mean from U(-0.5, 0.5), weights from
    N(mean, 0.1), zero biases. Draws from rng in the course's order. [(weight, bias)]"""
    weights = []
    for shape in layer_shapes():
        mean = rng.uniform(-0.5, 0.5)
        weights.append((rng.normal(mean, 0.1, shape), np.zeros(shape[0])))
    return weights


@functools.lru_cache(maxsize=64)  # a case's weights are set for every class observed on it: drawn once
def live_weights(seed):
    """Weights under which the critic is alive: values of order 1 to 10 that differ from
    state to state (under the course's weights its ReLUs are dead and v(s) = 0).
    ((weight, bias), ...), shared by every call with this seed: copy before changing them."""
    rng = np.random.Generator(np.random.PCG64(seed))
    weights = []
    for index, (out_features, in_features) in enumerate(layer_shapes()):
        weight = rng.normal(0.0, 1.5 / np.sqrt(in_features), (out_features, in_features))
        bias = rng.normal(0.1, 0.2, out_features)
        if index == 5:  # the critic's output layer: spread the values over roughly -10 .. 10
            weight, bias = 3.0 * weight, bias + rng.uniform(-2.0, 2.0)
        weights.append((weight, bias))
    return tuple(weights)


def readable_weights(seed):
    """A live actor and a critic that reads its value straight off the state: v(s) = s[0],
    exactly, in float32 (relu(s0) - relu(-s0) through the three layers, every other weight 0).
    The probe cases choose each state's first number, and so every value the critic gives."""
    actor = list(live_weights(seed)[:3])  # shared by every call with this seed: not changed here
    critic = [(np.zeros(shape), np.zeros(shape[0])) for shape in layer_shapes()[3:]]
    critic[0][0][0, 0], critic[0][0][1, 0] = 1.0, -1.0   # h = (relu(s0), relu(-s0), 0, ...)
    critic[1][0][0, 0], critic[1][0][1, 1] = 1.0, 1.0    # passed on unchanged
    critic[2][0][0, 0], critic[2][0][0, 1] = 1.0, -1.0   # v = relu(s0) - relu(-s0) = s0
    return actor + critic


WEIGHTS = {'course': lambda seed: course_weights(np.random.Generator(np.random.PCG64(seed))),
           'live': live_weights, 'readable': readable_weights}


def linear_layers(network):
    """The Linear layers of one of the notebook's networks, in order."""
    return [module for module in network if isinstance(module, nn.Linear)]


NETWORKS_CHANGED = ('PPO.actor and PPO.critic must stay the given networks (nn.Sequential of Linear, ReLU, '
                    'Linear, ReLU, Linear, with the given sizes); setting their weights failed: ')


def set_weights(ac, recipe):
    """Gives both networks of `ac` the weights of a case (ValueError if the networks differ)."""
    scheme, seed = recipe
    weights = WEIGHTS[scheme](seed)
    layers = linear_layers(ac.actor) + linear_layers(ac.critic)
    if [tuple(layer.weight.shape) for layer in layers] != layer_shapes() or any(l.bias is None for l in layers):
        raise ValueError(f'layers {[tuple(layer.weight.shape) for layer in layers]}, expected {layer_shapes()}')
    with torch.no_grad():
        for layer, (weight, bias) in zip(layers, weights):
            layer.weight[:] = torch.as_tensor(weight)
            layer.bias[:] = torch.as_tensor(bias)
    return ac


class Networks(nn.Module):
    """The notebook's two networks on their own (no PPO method), for drawing case inputs."""

    def __init__(self):
        super().__init__()
        layer = lambda out_features, in_features: nn.Linear(in_features, out_features)  # noqa: E731
        shapes = layer_shapes()
        self.actor = nn.Sequential(layer(*shapes[0]), nn.ReLU(), layer(*shapes[1]), nn.ReLU(), layer(*shapes[2]))
        self.critic = nn.Sequential(layer(*shapes[3]), nn.ReLU(), layer(*shapes[4]), nn.ReLU(), layer(*shapes[5]))

    def log_probs_and_values(self, states, actions):
        with torch.no_grad():
            log_policy = torch.log_softmax(self.actor(states), dim=1)
            return log_policy.gather(1, actions.unsqueeze(1)).squeeze(1), self.critic(states).squeeze(-1)

