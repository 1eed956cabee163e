import importlib.util, os, sys
import torch
HERE = os.path.dirname(os.path.abspath(__file__)); sys.path[:0] = [HERE, os.path.join(HERE, *['..'] * 5)]
from verify import rollout, make, close, loss_cases
from ppo_reference import PPO

def load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, '..', f'{name}.py'))
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); return m.Implementation
res = []
def rec(n, ok): res.append(ok); print('OK  ' if ok else 'FAIL', n)
for k, (N, T, g, l) in enumerate([(3, 6, 0.99, 0.95), (2, 9, 0.9, 0.8), (4, 5, 0.999, 0.98)]):
    s, r, ns, te, tr = rollout(100 + k, N, T)
    ref, _ = make(PPO, 7, T, g, l)
    first = torch.arange(N * T) % T == 0
    # numpy loop: == ref with next_states[k] := states[k] at truncations, except t = 0 (adv 0, target v)
    ns2 = ns.clone(); ns2[tr] = s[tr]
    A, C = ref.compute_advantages(s, r, ns2, te, tr)
    with torch.no_grad():
        v = ref.compute_values(s)
    _, im = make(load('student_numpy_loop'), 7, T, g, l); a, c = im.compute_advantages(s, r, ns, te, tr)
    rec(f'numpy_loop[{k}] == ref(ns:=s at trunc) for t>0; a=0, target=v at t=0',
        close(a[~first], A[~first]) and close(a[first], torch.zeros(int(first.sum()))) and close(c[first], v[first]) and close(c[~first], C[~first]))
    # vectorised: without terminations == ref with lambda/gamma; with terminations it differs at/around terminal steps
    z = torch.zeros_like(te)
    refl, _ = make(PPO, 7, T, g, l / g)
    A2, C2 = refl.compute_advantages(s, r, ns, z, tr)
    _, im = make(load('student_vectorised'), 7, T, g, l); a, c = im.compute_advantages(s, r, ns, z, tr)
    rec(f'vectorised[{k}] no terminations == ref(lambda/gamma)', close(a, A2) and close(c, C2))
    A3, _ = refl.compute_advantages(s, r, ns, te, tr)
    a, c = im.compute_advantages(s, r, ns, te, tr)
    rec(f'vectorised[{k}] terminal steps: delta = r, target = adv (and differs from ref(lambda/gamma) there)',
        close(c[te], a[te]) and (not close(a, A3) or not te.any()))
for name, st, ac, adv, tgt in loss_cases():
    ref, _ = make(PPO, 11, 4)
    with torch.no_grad():
        lpo = ref.compute_log_probs(st, ac) + torch.randn(len(st), generator=torch.Generator().manual_seed(5)) * 0.4
        la, lc = ref.compute_loss(st, ac, adv, tgt, lpo)
        ratio = torch.exp(ref.compute_log_probs(st, ac) - lpo)
    _, im = make(load('student_vectorised'), 11, 4); x = im.compute_loss(st, ac, adv, tgt, lpo)
    rec(f'vectorised {name}: critic = B * ref', close(x[0], la) and close(x[1], len(st) * lc))
    _, im = make(load('student_flat_index'), 11, 4); x = im.compute_loss(st, ac, adv, tgt, lpo)
    rec(f'flat {name}: actor = -mean(clip(r) A)', close(x[0], -(ratio.clamp(0.8, 1.2) * adv).mean()) and close(x[1], lc))
    _, im = make(load('student_numpy_loop'), 11, 4); x = im.compute_loss(st, ac, adv, tgt, lpo)
    lo = 1 / 1.2
    rec(f'numpy_loop {name}: actor = L^clip with [1/1.2, 1.2] (ratio range {float(ratio.min()):.2f}..{float(ratio.max()):.2f})',
        close(x[0], -torch.min(ratio * adv, ratio.clamp(lo, 1.2) * adv).mean()) and not close(x[0], la) and close(x[1], lc))
print('all ok' if all(res) else 'SOME FAIL')
