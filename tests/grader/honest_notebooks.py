"""Honest notebooks, written the way real students write them: each defines what its PPO uses
in another way (top-level calls, instances, partials, setattr, if/else and try blocks,
%%writefile modules, decorators, magics...), or computes the same values in another order.
All are correct: the grader must give each 100 (tests/grader/test_honest_notebooks.py).
Each is the completed notebook with the PPO cell rewritten and cells added, as a student
would change it; in most, dropping the odd definition would break the class."""

import copy
import inspect
import os
import textwrap

import nbformat

from correct_styles import Float64MatrixPPO, ListLoopPPO

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPLETED = nbformat.read(os.path.join(ROOT, 'ppo_lunarlander.ipynb'), as_version=4)
PPO_INDEX = next(index for index, cell in enumerate(COMPLETED.cells)
                 if cell.cell_type == 'code' and cell.source.startswith('class PPO'))
_PPO = COMPLETED.cells[PPO_INDEX].source
HEAD = _PPO[:_PPO.index('    def compute_advantages(')]            # __init__, select_actions, log probs, values
REF_GAE = _PPO[_PPO.index('    def compute_advantages('):_PPO.index('    def compute_loss(')]
REF_LOSS = _PPO[_PPO.index('    def compute_loss('):]


def method(text):
    """A method's text, indented into the class."""
    return textwrap.indent(textwrap.dedent(text).strip('\n'), '    ') + '\n\n'


def notebook(ppo=None, before_ppo=(), after_ppo=(), first=(), at_end=()):
    """The completed notebook with the PPO cell's source replaced by `ppo` and code cells
    added before it, after it, after the first (imports) cell, and at the end."""
    nb = copy.deepcopy(COMPLETED)
    cells = nb.cells
    if ppo is not None:
        cells[PPO_INDEX].source = ppo
    new = lambda sources: [nbformat.v4.new_code_cell(textwrap.dedent(s).strip('\n')) for s in sources]  # noqa: E731
    cells[PPO_INDEX + 1:PPO_INDEX + 1] = new(after_ppo)
    cells[PPO_INDEX:PPO_INDEX] = new(before_ppo)
    first_code = next(index for index, cell in enumerate(cells) if cell.cell_type == 'code')
    cells[first_code + 1:first_code + 1] = new(first)
    cells.extend(new(at_end))
    return nbformat.writes(nb)


def ppo(gae=REF_GAE, loss=REF_LOSS, head=HEAD):
    return head + gae + loss


# --- GAE written in other orders of operations -------------------------------------

# the kit's own correct styles (tests/correct_styles.py, trained to a landing by the slow tests), as cells
LIST_LOOP_GAE, LIST_LOOP_LOSS = (method(inspect.getsource(getattr(ListLoopPPO, name)))
                                 for name in ('compute_advantages', 'compute_loss'))
FLOAT64_GAE, FLOAT64_LOSS = (method(inspect.getsource(getattr(Float64MatrixPPO, name)))
                             for name in ('compute_advantages', 'compute_loss'))

REORDERED_GAE = method('''
def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
    if truncations is None:
        truncations = torch.zeros_like(terminations)
    T = self.num_steps
    N = len(states) // T
    with torch.no_grad():
        v = self.compute_values(states).view(N, T)
        v_next = self.compute_values(next_states).view(N, T)
    done = terminations.view(N, T).float()
    ended = (terminations | truncations).view(N, T).float()
    deltas = (rewards.view(N, T) - v) + self.gamma * v_next * (1 - done)
    adv = torch.zeros(N, T)
    for t in range(T - 1, -1, -1):
        later = adv[:, t + 1] if t + 1 < T else torch.zeros(N)
        adv[:, t] = deltas[:, t] + self.gamma * self.lmbda * (1 - ended[:, t]) * later
    return adv.flatten(), (adv + v).flatten()
''')

CAT_CRITIC_GAE = method('''
def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
    if truncations is None:
        truncations = torch.zeros_like(terminations)
    n = len(states)
    with torch.no_grad():
        both = self.compute_values(torch.cat([states, next_states]))
    values, next_values = both[:n], both[n:]
    targets_td = rewards + self.gamma * next_values * (~terminations)
    deltas = targets_td - values
    advantages = torch.empty(n)
    for k in range(n - 1, -1, -1):
        last_of_segment = (k + 1) % self.num_steps == 0
        if last_of_segment or terminations[k] or truncations[k]:
            advantages[k] = deltas[k]
        else:
            advantages[k] = deltas[k] + self.gamma * self.lmbda * advantages[k + 1]
    return advantages, advantages + values
''')

EINSUM_GAE = method('''
def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
    # A_t = sum over later steps k of the same episode of (gamma lambda)^(k - t) delta_k, as one product
    if truncations is None:
        truncations = torch.zeros_like(terminations)
    T = self.num_steps
    N = len(states) // T
    with torch.no_grad():
        values = self.compute_values(states).reshape(N, T)
        next_values = self.compute_values(next_states).reshape(N, T)
    deltas = rewards.reshape(N, T) + self.gamma * torch.where(terminations.reshape(N, T), 0.0, next_values) - values
    ends = (terminations | truncations).reshape(N, T).long()
    episode = torch.cumsum(ends, dim=1) - ends
    t = torch.arange(T)
    power = (t[None, :] - t[:, None]).clamp(min=0).float()
    same_episode = episode[:, :, None] == episode[:, None, :]
    weights = (self.gamma * self.lmbda) ** power * (t[:, None] <= t[None, :]) * same_episode
    advantages = torch.einsum('itk,ik->it', weights, deltas)
    return advantages.reshape(-1), (advantages + values).reshape(-1)
''')

# --- the loss written in other ways -------------------------------------------------

LOG_SOFTMAX_LOSS = method('''
def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
    log_pi = torch.log(torch.softmax(self.actor(states), dim=1)).gather(1, actions.unsqueeze(1)).squeeze(1)
    ratio = (log_pi - log_probs_old).exp()
    surr1 = ratio * advantages
    surr2 = ratio.clamp(1 - self.epsilon, 1 + self.epsilon) * advantages
    actor_loss = -torch.min(surr1, surr2).mean()
    critic_loss = (self.critic(states).squeeze(1) - critic_targets).pow(2).mean()
    return actor_loss, critic_loss
''')

CATEGORICAL_PROBS_LOSS = method('''
def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
    dist = torch.distributions.Categorical(probs=torch.softmax(self.actor(states), dim=-1))
    ratio = torch.exp(dist.log_prob(actions) - log_probs_old)
    clipped = torch.clamp(ratio, 1.0 - self.epsilon, 1.0 + self.epsilon)
    actor_loss = -torch.mean(torch.minimum(ratio * advantages, clipped * advantages))
    critic_loss = torch.nn.functional.mse_loss(self.compute_values(states), critic_targets)
    return actor_loss, critic_loss
''')

CATEGORICAL_LOGITS_LOSS = method('''
def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
    from torch.distributions import Categorical
    new_log_probs = Categorical(logits=self.actor(states)).log_prob(actions)
    ratio = new_log_probs.exp() / log_probs_old.exp()
    objective = torch.min(ratio * advantages, torch.clip(ratio, 1 - self.epsilon, 1 + self.epsilon) * advantages)
    value_error = critic_targets.detach() - self.compute_values(states)
    return -objective.sum() / len(objective), (value_error * value_error).mean()
''')

WHERE_LOSS = method('''
def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
    ratios = torch.exp(self.compute_log_probs(states, actions) - log_probs_old)
    # min(r A, clip(r) A): the clip on the side where it is smaller
    limited = torch.where(advantages >= 0, ratios.clamp(max=1 + self.epsilon), ratios.clamp(min=1 - self.epsilon))
    actor_loss = -(limited * advantages).mean()
    critic_loss = torch.mean((self.compute_values(states) - critic_targets) ** 2)
    return actor_loss, critic_loss
''')

def with_global(gae=REF_GAE, loss=REF_LOSS, **cells):
    return notebook(ppo(gae, loss), **cells)


STYLES = {
    # what the old grader dropped: top-level values that are not constant expressions
    'half_tensor': with_global(loss=REF_LOSS.replace('critic_loss = ((', 'critic_loss = (2 * HALF) * (('),
                               before_ppo=['HALF = torch.tensor(0.5)']),
    'cleanrl_layer_init': notebook(ppo(head=HEAD.replace('nn.Linear(', 'layer_init(nn.Linear(').replace(
        ', 128),', ', 128)),').replace('num_actions)\n', 'num_actions))\n').replace(', 1)\n', ', 1))\n')),
        before_ppo=['''
            GAIN = np.sqrt(2)

            def layer_init(layer, std=GAIN, bias_const=0.0):
                torch.nn.init.orthogonal_(layer.weight, std)
                torch.nn.init.constant_(layer.bias, bias_const)
                return layer''']),
    'math_sqrt': with_global(loss=REF_LOSS.replace('** 2).mean()', '** TWO).mean()'),
                             before_ppo=['from math import sqrt\nTWO = sqrt(4.0)']),
    'mse_module_at_top_level': with_global(
        loss=REF_LOSS.replace('critic_loss = ((critic_targets.detach() - values) ** 2).mean()',
                              'critic_loss = mse(values, critic_targets.detach())'),
        before_ppo=['mse = nn.MSELoss()']),
    'settings_instance': with_global(
        loss=REF_LOSS.replace('torch.clamp(ratios, 1 - epsilon, 1 + epsilon)',
                              'torch.clamp(ratios, 1 - SETTINGS.clip_scale * epsilon, '
                              '1 + SETTINGS.clip_scale * epsilon)'),
        before_ppo=['''
            @dataclass
            class LossSettings:
                clip_scale: float = 1.0

            SETTINGS = LossSettings()''']),
    'namedtuple_losses': with_global(loss=REF_LOSS.replace('return actor_loss, critic_loss',
                                                           'return Losses(actor_loss, critic_loss)'),
                                     before_ppo=["from collections import namedtuple\n"
                                                 "Losses = namedtuple('Losses', ['actor', 'critic'])"]),
    'functools_partial': notebook(ppo(gae=method('''
        def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
            return gae_T(self, states, rewards, next_states, terminations, truncations)
        ''')), before_ppo=['import functools\n\n' + textwrap.dedent(REF_GAE).replace(
        'def compute_advantages(self,', 'def gae(self,').replace('truncations=None):', 'truncations=None, scale=1.0):')
        + '\ngae_T = functools.partial(gae, scale=1.0)']),
    'functools_partialmethod': notebook(ppo(loss=REF_LOSS.replace(
        'def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):',
        'def _loss(self, states, actions, advantages, critic_targets, log_probs_old, value_coef):').replace(
        'return actor_loss, critic_loss', 'return actor_loss, value_coef * critic_loss')
        + '\n    compute_loss = functools.partialmethod(_loss, value_coef=1.0)\n'), first=['import functools']),
    'setattr_after_the_class': notebook(ppo(loss=method('''
        def compute_loss(self, states, actions, advantages, critic_targets, log_probs_old):
            raise NotImplementedError()
        ''')), after_ppo=[textwrap.dedent(REF_LOSS).replace('def compute_loss(', 'def fixed_loss(')
                          + '\nsetattr(PPO, "compute_loss", fixed_loss)']),
    'cuda_if_else': with_global(gae=REF_GAE.replace('values = self.compute_values(states)',
                                                    'values = self.compute_values(states.to(DEVICE))'),
                                before_ppo=['''
                                    if torch.cuda.is_available():
                                        DEVICE = torch.device('cuda')
                                    else:
                                        DEVICE = torch.device('cpu')''']),
    'colab_try_import': notebook(ppo(head=HEAD.replace('self.num_steps = num_steps',
                                                       'self.num_steps = num_steps\n        self.where = PLATFORM')),
                                 first=['''
                                     try:
                                         import google.colab
                                         IN_COLAB = True
                                     except ImportError:
                                         IN_COLAB = False
                                     if IN_COLAB:
                                         !pip install gymnasium[box2d]
                                     PLATFORM = 'colab' if IN_COLAB else 'local'
                                     ''']),
    'writefile_module': notebook(ppo(gae=method('''
        def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
            return gae(self, states, rewards, next_states, terminations, truncations)
        ''')), before_ppo=['%%writefile ppo_helpers.py\nimport torch\n\n\n'
                           + textwrap.dedent(REF_GAE).replace('def compute_advantages(self,', 'def gae(self,').replace(
                               'check_rollout(self.num_steps', '# check_rollout(self.num_steps'),
                           'from ppo_helpers import gae']),
    'helper_whose_decorator_package_is_missing': notebook(before_ppo=['''
        from numba import njit

        @njit
        def discounted_sum(x, gamma):
            total = 0.0
            for value in x[::-1]:
                total = value + gamma * total
            return total''']),
    'decorators': notebook(ppo(gae='    @shapes_checked\n' + REF_GAE.replace(
        'values = self.compute_values(states)', 'values = self.values_of(states)'),
        head=HEAD + method('''
            @torch.no_grad()
            def values_of(self, states):
                return self.compute_values(states)
            ''')), before_ppo=['''
        import functools

        def shapes_checked(method):
            @functools.wraps(method)
            def checked(self, states, *args, **kwargs):
                advantages, targets = method(self, states, *args, **kwargs)
                assert advantages.shape == (len(states),), advantages.shape
                return advantages, targets
            return checked''']),
    # the same values in another order of float32 operations
    'list_loop': with_global(gae=LIST_LOOP_GAE, loss=LIST_LOOP_LOSS, first=['import torch.nn.functional as F']),
    'reordered_delta': with_global(gae=REORDERED_GAE),
    'critic_once_on_cat': with_global(gae=CAT_CRITIC_GAE),
    'float64_inside': with_global(gae=FLOAT64_GAE, loss=FLOAT64_LOSS),
    'einsum_discount_matrix': with_global(gae=EINSUM_GAE),
    'log_of_softmax': with_global(loss=LOG_SOFTMAX_LOSS),
    'categorical_probs': with_global(loss=CATEGORICAL_PROBS_LOSS),
    'categorical_logits_quotient': with_global(loss=CATEGORICAL_LOGITS_LOSS),
    'torch_where_clip': with_global(loss=WHERE_LOSS),
    # magics, cells and habits of a real notebook
    'time_magic_on_the_class': notebook('%%time\n' + _PPO),
    'capture_magic_on_the_class': notebook('%%capture output\n' + _PPO),
    'autoreload_and_env_magics': notebook(first=['%load_ext autoreload\n%autoreload 2\n%env PYTHONWARNINGS=ignore']),
    'subclass_then_alias': notebook(ppo(gae=method('''
        def compute_advantages(self, states, rewards, next_states, terminations, truncations=None):
            raise NotImplementedError()
        ''')), after_ppo=['class MyPPO(PPO):\n' + REF_GAE + '\nPPO = MyPPO']),
    'mixin_class': notebook(ppo(gae='', head=HEAD.replace('class PPO(nn.Module):', 'class PPO(GAEMixin, nn.Module):')),
                            before_ppo=['class GAEMixin:\n' + REF_GAE]),
    'print_debugging': with_global(gae=REF_GAE.replace('        return advantages.detach()',
                                                       '        print("advantages", advantages.shape, advantages[:3])\n'
                                                       '        display(critic_targets[:3])\n'
                                                       '        return advantages.detach()')),
    'own_sanity_checks': notebook(after_ppo=['''
        agent = PPO(8, 4, 0.99, 0.95, 0.2, num_steps=1)
        s = torch.zeros(1, 8)
        a, t = agent.compute_advantages(s, torch.ones(1), s, torch.tensor([True]))
        torch.testing.assert_close(a, 1 - agent.compute_values(s).detach())
        rl_tests.run_tests(rl_tests.test_ppo(PPO))''']),
    'seeded_first_cell': notebook(first=['import random\nrandom.seed(0)\nnp.random.seed(0)\ntorch.manual_seed(0)']),
    'lambda_helper': with_global(gae=REF_GAE.replace('gamma * lmbda * episode_continues',
                                                     'discount(gamma, lmbda) * episode_continues'),
                                 before_ppo=['discount = lambda gamma, lmbda: gamma * lmbda']),
    'hyperparameter_dict': with_global(loss=REF_LOSS.replace('return actor_loss, critic_loss',
                                                             "return actor_loss, HPARAMS['value_coef'] * critic_loss"),
                                       first=["HPARAMS = {'value_coef': 1.0, 'lr': 3e-4}"]),
    'unfinished_scratch_cell': notebook(after_ppo=['for i in range(']),
    'plots_in_a_scratch_cell': notebook(after_ppo=['''
        agent = PPO(8, 4, 0.99, 0.95, 0.2, num_steps=5)
        s = torch.randn(5, 8)
        adv, _ = agent.compute_advantages(s, torch.randn(5), s, torch.zeros(5, dtype=torch.bool))
        plt.plot(adv.numpy())
        plt.title('advantages')
        plt.show()''']),
    'threads_and_seeds_set': notebook(first=['torch.set_num_threads(4)\ntorch.set_default_dtype(torch.float32)']),
    'own_training_run_of_its_own': notebook(at_end=['my_result = train(Config(total_steps=200_000))']),
}
