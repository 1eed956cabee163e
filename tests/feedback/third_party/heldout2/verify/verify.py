"""Checks each file's CORRECT claims against ppo_reference.PPO directly (not the kit's report).
Run: python tests/feedback/third_party/heldout2/verify/verify.py"""
import importlib.util, glob, os, sys
import numpy as np
import torch
HERE = os.path.dirname(os.path.abspath(__file__)); sys.path[:0] = [HERE, os.path.join(HERE, *['..'] * 5)]
from ppo_reference import PPO

torch.set_num_threads(1)
SD, NA = 8, 4


def rollout(seed, N, T, p_term=0.15, p_trunc=0.15, with_trunc=True):
    g = torch.Generator().manual_seed(seed)
    states = torch.zeros(N, T, SD); next_states = torch.zeros(N, T, SD)
    term = torch.zeros(N, T, dtype=torch.bool); trunc = torch.zeros(N, T, dtype=torch.bool)
    for i in range(N):
        s = torch.randn(SD, generator=g)
        for t in range(T):
            states[i, t] = s
            ns = torch.randn(SD, generator=g)
            next_states[i, t] = ns
            u = torch.rand(1, generator=g).item()
            if u < p_term:
                term[i, t] = True
            elif with_trunc and u < p_term + p_trunc:
                trunc[i, t] = True
            s = torch.randn(SD, generator=g) if (term[i, t] or trunc[i, t]) else ns
    rewards = torch.randn(N, T, generator=g) * 3
    return (states.reshape(N * T, SD), rewards.reshape(-1), next_states.reshape(N * T, SD),
            term.reshape(-1), trunc.reshape(-1))


def gae_cases():
    out = []
    for k, (N, T, g, l) in enumerate([(3, 6, 0.99, 0.95), (2, 9, 0.9, 0.8), (4, 5, 0.999, 0.98), (1, 12, 0.95, 0.9)]):
        out.append((f'rollout{k}', N, T, g, l, rollout(100 + k, N, T), True))
        out.append((f'noTrunc{k}', N, T, g, l, rollout(200 + k, N, T, with_trunc=False), False))
    return out


def loss_cases():
    out = []
    for k, scale in enumerate([1.0, 3.0, 25.0]):
        g = torch.Generator().manual_seed(300 + k)
        B = 40
        states = torch.randn(B, SD, generator=g)
        actions = torch.randint(0, NA, (B,), generator=g)
        adv = torch.randn(B, generator=g) * 2 + 0.3
        tgt = torch.randn(B, generator=g) * scale
        out.append((f'loss{k}', states, actions, adv, tgt))
    return out


def make(cls, seed, T, g=0.99, l=0.95, eps=0.2):
    torch.manual_seed(seed)
    ref = PPO(SD, NA, g, l, eps, T)
    impl = cls(SD, NA, g, l, eps, T)
    impl.load_state_dict(ref.state_dict())
    return ref, impl


def close(a, b):
    a = torch.as_tensor(a, dtype=torch.float64).detach(); b = torch.as_tensor(b, dtype=torch.float64).detach()
    return a.shape == b.shape and torch.allclose(a, b, atol=1e-5, rtol=1e-5)


def check(path):
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    cls = mod.Implementation
    res = {}
    if 'compute_advantages' in mod.CORRECT:
        oks = []
        for name, N, T, g, l, (s, r, ns, te, tr), has_trunc in gae_cases():
            ref, impl = make(cls, 7, T, g, l)
            a0, c0 = ref.compute_advantages(s, r, ns, te, tr)
            a1, c1 = impl.compute_advantages(s, r, ns, te, tr)
            oks.append((name, close(a0, a1), close(c0, c1)))
            if not has_trunc:  # truncations=None path
                a2, c2 = impl.compute_advantages(s, r, ns, te)
                oks.append((name + '/None', close(a0, a2), close(c0, c2)))
        res['compute_advantages'] = oks
    if 'compute_loss' in mod.CORRECT:
        oks = []
        for name, s, a, adv, tgt in loss_cases():
            ref, impl = make(cls, 11, 4)
            with torch.no_grad():
                lpo = ref.compute_log_probs(s, a) + torch.randn(len(s), generator=torch.Generator().manual_seed(5)) * 0.4
            l0 = ref.compute_loss(s, a, adv, tgt, lpo)
            l1 = impl.compute_loss(s, a, adv, tgt, lpo)
            oks.append((name, close(l0[0], l1[0]), close(l0[1], l1[1])))
            # gradients of the actor / critic losses too
        res['compute_loss'] = oks
    return mod, res


if __name__ == '__main__':
    files = sorted(f for f in glob.glob(os.path.join(HERE, '..', '*.py')) if not os.path.basename(f).startswith('_'))
    bad = 0
    for f in files:
        mod, res = check(f)
        line = [os.path.basename(f)]
        for fn, oks in res.items():
            all_ok = all(x[1] and x[2] for x in oks)
            parts = 'adv/target' if fn == 'compute_advantages' else 'actor/critic'
            detail = ','.join(f"{n}:{int(x)}{int(y)}" for n, x, y in oks if not (x and y))
            verdict = 'MATCH' if all_ok else 'DIFFERS'
            claim = mod.CORRECT[fn]
            agree = (claim == all_ok)
            bad += not agree
            line.append(f"{fn}: claim={claim} -> {verdict} {'OK' if agree else '!!MISMATCH!!'} [{parts} fails: {detail or '-'}]")
        print('\n   '.join(line))
    print('claim mismatches:', bad)
