"""ppo_reference.PPO: the seed's contract, GAE against a brute-force sum, the lambda
identities, the clipped loss and its gradients, and the ValueErrors."""

import numpy as np
import pytest
import torch

import rl_tests
from ppo_reference import PPO


def test_the_course_cases_reproduce_the_course_values():
    # the seed's six expected tensors, with the seed's tolerances (torch.allclose / isclose defaults)
    cases = rl_tests.make_cases(groups=('gae_course', 'loss_course'))
    assert len(cases) == 6
    for case in cases:
        values = rl_tests.observe(PPO, case).values()
        index = int(case.id.rsplit('_', 1)[1]) - 1
        if case.function == 'compute_advantages':
            assert torch.allclose(torch.tensor(values['advantages'], dtype=torch.float32),
                                  torch.tensor(rl_tests.COURSE_ADVANTAGES[index])), case.id
        else:
            _, actor_loss, critic_loss = rl_tests.COURSE_LOSSES[index]
            assert torch.isclose(torch.tensor(values['actor_loss'], dtype=torch.float32), torch.tensor(actor_loss))
            assert torch.isclose(torch.tensor(values['critic_loss'], dtype=torch.float32), torch.tensor(critic_loss))


def test_all_grading_cases_pass():
    report = rl_tests.collect(rl_tests.test_ppo(PPO))
    assert report, report.to_text()
    assert report.failures() == [] and report.mistakes == []


def random_rollout(seed, N, T, p_term=0.15, p_trunc=0.1, state_dim=5):
    rng = np.random.Generator(np.random.PCG64(seed))
    states = torch.as_tensor(rng.standard_normal((N * T, state_dim), dtype=np.float32))
    next_states = torch.as_tensor(rng.standard_normal((N * T, state_dim), dtype=np.float32))
    rewards = torch.as_tensor(rng.normal(0, 1, N * T).astype(np.float32))
    draws = rng.uniform(size=N * T)
    terminations = torch.as_tensor(draws < p_term)
    truncations = torch.as_tensor((draws >= p_term) & (draws < p_term + p_trunc))
    return states, rewards, next_states, terminations, truncations


def chained(rollout, T):
    # a consistent rollout: inside an episode and a segment, next_states[k] is states[k + 1]
    states, rewards, next_states, terminations, truncations = rollout
    next_states = next_states.clone()
    for k in range(len(states) - 1):
        if (k + 1) % T and not (terminations[k] or truncations[k]):
            next_states[k] = states[k + 1]
    return states, rewards, next_states, terminations, truncations


def live_agent(gamma, lmbda, T, seed=0):
    return rl_tests.set_weights(PPO(rl_tests.STATE_DIM, rl_tests.NUM_ACTIONS, gamma, lmbda, 0.2, T), ('live', seed))


def brute_force_gae(ac, states, rewards, next_states, terminations, truncations):
    """a_t = sum_k (gamma lambda)^k delta_{t+k}, cut after the episode's last step or the segment's."""
    T, gamma, lmbda = ac.num_steps, ac.gamma, ac.lmbda
    with torch.no_grad():
        values = ac.compute_values(states).double().tolist()
        next_values = ac.compute_values(next_states).double().tolist()
    n = len(values)
    deltas = [rewards[k].item() + gamma * (0.0 if terminations[k] else next_values[k]) - values[k] for k in range(n)]
    advantages = []
    for k in range(n):
        total, end_of_segment = 0.0, (k // T + 1) * T
        for j in range(k, end_of_segment):
            total += (gamma * lmbda) ** (j - k) * deltas[j]
            if terminations[j] or truncations[j]:
                break
        advantages.append(total)
    return torch.tensor(advantages, dtype=torch.float64), torch.tensor(values, dtype=torch.float64)


@pytest.mark.parametrize('seed,N,T,gamma,lmbda', [
    (0, 1, 1, 0.9, 0.95), (1, 4, 1, 0.99, 0.9), (2, 1, 20, 0.99, 0.95), (3, 5, 7, 0.9, 0.8),
    (4, 3, 12, 0.999, 0.98), (5, 8, 9, 0.5, 0.5), (6, 2, 30, 0.97, 1.0), (7, 6, 4, 0.9, 0.0)])
def test_gae_equals_brute_force_sum(seed, N, T, gamma, lmbda):
    ac = live_agent(gamma, lmbda, T, seed)
    rollout = random_rollout(seed, N, T)
    advantages, critic_targets = ac.compute_advantages(*rollout)
    expected, values = brute_force_gae(ac, *rollout)
    assert advantages.shape == (N * T,) and advantages.dtype == torch.float32
    assert torch.allclose(advantages.double(), expected, atol=1e-5)
    assert torch.allclose(critic_targets.double(), expected + values, atol=1e-5)
    assert not advantages.requires_grad and not critic_targets.requires_grad


def test_lambda_zero_is_the_one_step_td_error():
    ac = live_agent(0.9, 0.0, 10)
    states, rewards, next_states, terminations, truncations = random_rollout(10, 4, 10)
    advantages, critic_targets = ac.compute_advantages(states, rewards, next_states, terminations, truncations)
    with torch.no_grad():
        td_target = rewards + 0.9 * (~terminations) * ac.compute_values(next_states)
        assert torch.allclose(advantages, td_target - ac.compute_values(states), atol=1e-6)
        assert torch.allclose(critic_targets, td_target, atol=1e-6)


def test_lambda_one_is_the_discounted_return_minus_the_value():
    T, gamma = 10, 0.9
    ac = live_agent(gamma, 1.0, T)
    # the sum of deltas telescopes only if each next state is the following state
    states, rewards, next_states, terminations, truncations = chained(random_rollout(11, 3, T), T)
    advantages, critic_targets = ac.compute_advantages(states, rewards, next_states, terminations, truncations)
    with torch.no_grad():
        values, next_values = ac.compute_values(states), ac.compute_values(next_states)
    for k in range(3 * T):
        # G_t = r_{t+1} + gamma r_{t+2} + ... up to the episode's or segment's end, then gamma^L v(s_end)
        ret, discount, j = 0.0, 1.0, k
        while True:
            ret += discount * rewards[j].item()
            discount *= gamma
            if terminations[j]:
                break
            if truncations[j] or j % T == T - 1:
                ret += discount * next_values[j].item()
                break
            j += 1
        assert advantages[k].item() == pytest.approx(ret - values[k].item(), abs=1e-5)
        assert critic_targets[k].item() == pytest.approx(ret, abs=1e-5)


def test_truncations_default_to_none():
    ac = live_agent(0.9, 0.9, 5)
    states, rewards, next_states, terminations, _ = random_rollout(3, 2, 5)
    without = ac.compute_advantages(states, rewards, next_states, terminations)
    explicit = ac.compute_advantages(states, rewards, next_states, terminations, torch.zeros_like(terminations))
    assert all(torch.equal(a, b) for a, b in zip(without, explicit))


def test_segments_do_not_leak_into_each_other():
    # changing one environment's rollout leaves the other environments' advantages alone
    ac = live_agent(0.99, 0.95, 6)
    rollout = list(random_rollout(4, 3, 6, p_term=0, p_trunc=0))
    before, _ = ac.compute_advantages(*rollout)
    rollout[1] = rollout[1].clone()
    rollout[1][6:12] += 5.0  # environment 1
    after, _ = ac.compute_advantages(*rollout)
    assert torch.equal(before[:6], after[:6]) and torch.equal(before[12:], after[12:])
    assert not torch.allclose(before[6:12], after[6:12])


def loss_inputs(ratios, advantages, seed=0):
    """A live agent and compute_loss() inputs whose ratios pi_theta / pi_theta_old are `ratios`."""
    ac = live_agent(0.9, 0.9, 1, seed)
    rng = np.random.Generator(np.random.PCG64(seed))
    states = torch.as_tensor(rng.standard_normal((len(ratios), rl_tests.STATE_DIM), dtype=np.float32))
    actions = torch.as_tensor(rng.choice(rl_tests.NUM_ACTIONS, len(ratios)))
    critic_targets = torch.as_tensor(rng.normal(0.0, 2.0, len(ratios)).astype(np.float32))
    with torch.no_grad():
        log_probs = ac.compute_log_probs(states, actions)
    log_probs_old = log_probs - torch.log(torch.tensor(ratios, dtype=torch.float32))
    return ac, (states, actions, torch.tensor(advantages, dtype=torch.float32), critic_targets, log_probs_old)


def test_loss_matches_the_formulas():
    ratios = [0.5, 0.9, 1.0, 1.1, 1.5, 0.7]
    adv = [1.0, -1.0, 0.5, 2.0, 1.0, -0.5]
    ac, (states, actions, advantages, critic_targets, log_probs_old) = loss_inputs(ratios, adv)
    actor_loss, critic_loss = ac.compute_loss(states, actions, advantages, critic_targets, log_probs_old)
    r, a = np.array(ratios), np.array(adv)
    expected_actor = -np.mean(np.minimum(r * a, np.clip(r, 0.8, 1.2) * a))
    with torch.no_grad():
        expected_critic = ((critic_targets - ac.compute_values(states)) ** 2).mean().item()
    assert actor_loss.item() == pytest.approx(expected_actor, abs=1e-5)
    assert critic_loss.item() == pytest.approx(expected_critic, rel=1e-5)
    assert actor_loss.shape == () and critic_loss.shape == ()
    assert actor_loss.requires_grad and critic_loss.requires_grad


def actor_gradient_size(ratios, advantages):
    ac, inputs = loss_inputs(ratios, advantages)
    actor_loss, _ = ac.compute_loss(*inputs)
    actor_loss.backward()
    return max(p.grad.abs().max().item() for p in ac.actor.parameters())


@pytest.mark.parametrize('ratio,advantage', [(1.5, 1.0), (1.21, 0.3), (0.6, -1.0), (0.79, -0.3)])
def test_no_actor_gradient_on_the_flat_side_of_the_clip(ratio, advantage):
    assert actor_gradient_size([ratio], [advantage]) == 0.0


@pytest.mark.parametrize('ratio,advantage', [(0.6, 1.0), (1.5, -1.0), (1.0, 1.0), (1.1, -1.0), (0.9, 1.0)])
def test_actor_gradient_where_not_clipped_or_on_the_steep_side(ratio, advantage):
    assert actor_gradient_size([ratio], [advantage]) > 1e-4


def test_critic_targets_get_no_gradient():
    ac, (states, actions, advantages, critic_targets, log_probs_old) = loss_inputs([1.0, 1.0], [1.0, -1.0])
    critic_targets = critic_targets.clone().requires_grad_()
    _, critic_loss = ac.compute_loss(states, actions, advantages, critic_targets, log_probs_old)
    critic_loss.backward()
    assert critic_targets.grad is None  # sg(v_target)
    assert all(p.grad is None for p in ac.actor.parameters())


def call_gae(**changes):
    ac = live_agent(0.9, 0.9, 4)
    names = ['states', 'rewards', 'next_states', 'terminations', 'truncations']
    rollout = dict(zip(names, random_rollout(0, 2, 4)))
    rollout.update(changes)
    return ac.compute_advantages(**rollout)


@pytest.mark.parametrize('changes,message', [
    (dict(rewards=torch.zeros(7)), r'rewards has shape \(7,\), but its first dimension must be the batch size 8'),
    (dict(rewards=torch.zeros(8, 1)), r'rewards must have shape \(N \* T,\) = \(8,\), got \(8, 1\)'),
    (dict(rewards=np.zeros(8)), 'rewards must be a torch.Tensor, got ndarray'),
    (dict(rewards=torch.zeros(8, dtype=torch.long)), 'rewards must be a float tensor'),
    (dict(terminations=torch.zeros(8)), 'terminations must be a boolean tensor, got dtype torch.float32'),
    (dict(truncations=torch.zeros(8, dtype=torch.int64)), 'truncations must be a boolean tensor'),
    (dict(next_states=torch.zeros(8, 4)), r'states and next_states must both have shape \(N \* T, state_dim\)'),
    (dict(states=torch.zeros(6, 5), next_states=torch.zeros(6, 5), rewards=torch.zeros(6),
          terminations=torch.zeros(6, dtype=torch.bool), truncations=torch.zeros(6, dtype=torch.bool)),
     'the batch of 6 transitions is not N segments of num_steps = 4'),
])
def test_compute_advantages_rejects_bad_input(changes, message):
    with pytest.raises(ValueError, match=message):
        call_gae(**changes)


def test_compute_loss_rejects_bad_input():
    ac, (states, actions, advantages, critic_targets, log_probs_old) = loss_inputs([1.0, 1.0, 1.0], [1, 2, 3])
    with pytest.raises(ValueError, match=r'compute_loss: advantages has shape \(2,\).*batch size 3'):
        ac.compute_loss(states, actions, advantages[:2], critic_targets, log_probs_old)
    with pytest.raises(ValueError, match='log_probs_old must be a torch.Tensor, got list'):
        ac.compute_loss(states, actions, advantages, critic_targets, [0.0, 0.0, 0.0])
