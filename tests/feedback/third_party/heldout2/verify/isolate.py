"""Bug-isolation checks: each file equals the reference once its listed conventions are applied
to the reference's inputs/outputs (so the BUGS list is complete, not just 'it differs')."""
import importlib.util, os, sys
import torch
HERE = os.path.dirname(os.path.abspath(__file__)); sys.path[:0] = [HERE, os.path.join(HERE, *['..'] * 5)]
from verify import rollout, make, close, SD, NA, loss_cases
from ppo_reference import PPO

def load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, '..', f'{name}.py'))
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); return m.Implementation

def norm(x, ddof):
    return (x - x.mean()) / (x.std(unbiased=bool(ddof)))

results = []
def rec(name, ok): results.append((name, ok)); print(('OK  ' if ok else 'FAIL'), name)

for k, (N, T, g, l) in enumerate([(3, 6, 0.99, 0.95), (2, 9, 0.9, 0.8), (4, 5, 0.999, 0.98)]):
    s, r, ns, te, tr = rollout(100 + k, N, T)
    done = te | tr
    z = torch.zeros_like(te)
    segend = torch.zeros_like(te); segend[T - 1::T] = True
    ref, _ = make(PPO, 7, T, g, l)
    A_tt, C_tt = ref.compute_advantages(s, r, ns, done, z)  # truncation treated as termination
    with torch.no_grad():
        v, vn = ref.compute_values(s), ref.compute_values(ns)
    # rlpyt: exactly truncation_as_termination
    _, im = make(load('rlpyt'), 7, T, g, l); a, c = im.compute_advantages(s, r, ns, te, tr)
    rec(f'rlpyt[{k}] == ref(te|tr)', close(a, A_tt) and close(c, C_tt))
    # ppg / mappo: truncation_as_termination + normalised (ddof0, eps)
    for nm, eps in (('ppg', 1e-8), ('mappo', 1e-5)):
        _, im = make(load(nm), 7, T, g, l); a, c = im.compute_advantages(s, r, ns, te, tr)
        m, sd = A_tt.mean(), A_tt.std(unbiased=False)
        rec(f'{nm}[{k}] == norm0(ref(te|tr)), target ref(te|tr)', close(a, (A_tt - m) / (sd + eps)) and close(c, C_tt))
    # tf_agents: truncation_as_termination + normalised (ddof0) + MC returns
    _, im = make(load('tf_agents'), 7, T, g, l); a, c = im.compute_advantages(s, r, ns, te, tr)
    mc = torch.zeros(N, T); acc = torch.zeros(N)
    rr, dd = r.view(N, T), done.view(N, T).float()
    for t in reversed(range(T)):
        acc = rr[:, t] + g * (1 - dd[:, t]) * acc; mc[:, t] = acc
    m, sd = A_tt.mean(), A_tt.std(unbiased=False)
    rec(f'tf_agents[{k}] == norm0(ref(te|tr)), target MC', close(a, (A_tt - m) / (sd + 1e-8)) and close(c, mc.reshape(-1)))
    # garage: te|tr|segment end all terminal, divided by sample variance, MC returns
    A_g, _ = ref.compute_advantages(s, r, ns, done | segend, z)
    _, im = make(load('garage'), 7, T, g, l); a, c = im.compute_advantages(s, r, ns, te, tr)
    rec(f'garage[{k}] == (ref(te|tr|end)-m)/var, target MC', close(a, (A_g - A_g.mean()) / (A_g.var() + 1e-8)) and close(c, mc.reshape(-1)))
    # salina: TD target; advantages: hand GAE with the decay flag of the previous transition
    _, im = make(load('salina'), 7, T, g, l); a, c = im.compute_advantages(s, r, ns, te, tr)
    td_t = r + g * (~done).float() * vn
    delta = (td_t - v).view(N, T); prev_done = torch.zeros(N, T); prev_done[:, 1:] = dd[:, :-1]
    adv = torch.zeros(N, T); acc = torch.zeros(N)
    for t in reversed(range(T)):
        acc = delta[:, t] + g * l * (1 - prev_done[:, t]) * acc if t < T - 1 else delta[:, t]; adv[:, t] = acc
    rec(f'salina[{k}] == hand GAE(decay by done[t]), target TD', close(a, adv.reshape(-1)) and close(c, td_t))
    # mushroom: one backward pass over the concatenation (N*T as one environment), normalised ddof0
    refN, _ = make(PPO, 7, N * T, g, l)
    A1, C1 = refN.compute_advantages(s, r, ns, te, tr)  # the whole batch as ONE segment of length N*T
    _, im = make(load('mushroom_rl'), 7, T, g, l); a, c = im.compute_advantages(s, r, ns, te, tr)
    rec(f'mushroom[{k}] == norm0(ref as one segment), target too', close(a, (A1 - A1.mean()) / (A1.std(unbiased=False) + 1e-8)) and close(c, C1))
    # deepspeed: with no episode ends, only no_segment_bootstrap
    _, im = make(load('deepspeed_chat'), 7, T, g, l); a, c = im.compute_advantages(s, r, ns, z, z)
    # consistent next_states without ends: next_states[t] == states[t+1] inside a row
    s2, r2, ns2, _, _ = rollout(500 + k, N, T, p_term=0, p_trunc=0)
    a, c = im.compute_advantages(s2, r2, ns2, z, z); A_e, C_e = ref.compute_advantages(s2, r2, ns2, segend, z)
    rec(f'deepspeed[{k}] no ends == ref(terminal at segment end)', close(a, A_e) and close(c, C_e))

# losses
for name, st, ac, adv, tgt in loss_cases():
    ref, _ = make(PPO, 11, 4)
    with torch.no_grad():
        lpo = ref.compute_log_probs(st, ac) + torch.randn(len(st), generator=torch.Generator().manual_seed(5)) * 0.4
    la, lc = ref.compute_loss(st, ac, adv, tgt, lpo)
    _, im = make(load('rlpyt'), 11, 4); x = im.compute_loss(st, ac, adv, tgt, lpo)
    rec(f'rlpyt {name}: actor same, critic = 0.5 ref', close(x[0], la) and close(x[1], 0.5 * lc))
    for nm in ('mappo', 'deepspeed_chat'):
        _, im = make(load(nm), 11, 4); x = im.compute_loss(st, ac, adv, tgt, lpo)
        rec(f'{nm} {name}: actor same (critic differs: {float(x[1]):.3f} vs {float(lc):.3f})', close(x[0], la) and not close(x[1], lc))
    # clipping isolated: old values == current values -> clip never binds when |v - v_old| = 0
    with torch.no_grad():
        vcur = ref.compute_values(st)
    adv_same = tgt - vcur  # critic_targets - advantages == current values
    _, lc2 = ref.compute_loss(st, ac, adv_same, tgt, lpo)
    _, im = make(load('deepspeed_chat'), 11, 4); x = im.compute_loss(st, ac, adv_same, tgt, lpo)
    rec(f'deepspeed {name}: old values == values -> critic = 0.5 ref', close(x[1], 0.5 * lc2))
    _, im = make(load('mappo'), 11, 4); x = im.compute_loss(st, ac, adv_same, tgt, lpo)
    e = tgt - vcur
    hub = torch.where(e.abs() <= 10, e ** 2 / 2, torch.where(e > 10, 10 * (e.abs() - 5), torch.zeros_like(e))).mean()
    rec(f'mappo {name}: old values == values -> critic = buggy huber (max|e|={float(e.abs().max()):.1f}, any e<-10: {bool((e < -10).any())})', close(x[1], hub))
print('all ok' if all(o for _, o in results) else 'SOME FAIL')
