"""Fingerprints of training runs: the same seed must give the same run, bit for bit, whatever
the trainer's code looks like (test_fingerprints.py checks them).

    python tests/reference/fingerprints.py          # record them again into fingerprints.json
    python tests/reference/fingerprints.py 'short seed 0' ...   # only these runs, the others kept

Record them again only when a change is MEANT to change runs (new hyperparameters, a new
stopping rule), and say so in the commit. A fingerprint covers everything a run decides:
the env steps, both criteria, every check (its steps, seeds and returns), every training
episode's return and end, the final weights and epsilon, and a greedy evaluation of the
result, hashed (sha256 of their exact values); the readable part says what the run did.
"""

import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FILE = os.path.join(HERE, 'fingerprints.json')

# Short runs whose checks start early: within 32,768 steps they play checks in two stages
# (5 of 5 episodes >= -100 cannot show a share of 0.5 with 99% confidence, 9 of 10 can), and
# a check that passes makes the trainer go back to the agent it played (see RUNS in the JSON).
SHORT = dict(total_steps=32_768, num_envs=8, check_from=-150.0, solve_threshold=-100.0, check_interval=4096,
             check_stages=(5, 10), check_share=0.5)
RUNS = {
    'short seed 0': dict(SHORT, seed=0),
    'short seed 1': dict(SHORT, seed=1),
    'short seed 2': dict(SHORT, seed=2),
    'short seed 3 inline': dict(SHORT, seed=3, background_checks=False),
    'default seed 0': dict(seed=0),  # the full default run (slow)
}
EVAL_EPISODES = 10


def fingerprint(result, evaluate):
    """(readable summary, sha256) of a TrainResult and a greedy evaluation of its agent."""
    import torch
    returns = evaluate(result.ac, result.config, episodes=EVAL_EPISODES).tolist()  # seeds 10_000, ...
    exact = {
        'env_steps': result.env_steps, 'solved_at': result.solved_at, 'landed_at': result.landed_at,
        'checks': [(check.env_steps, check.first_seed, [float(r) for r in check.returns]) for check in result.checks],
        'episode_returns': result.episode_returns, 'episode_end_steps': result.episode_end_steps,
        'weights': torch.cat([p.detach().flatten() for p in result.ac.parameters()]).tolist(),
        'epsilon': float(result.ac.epsilon), 'evaluation': returns,
    }
    # repr() of a float is exact: equal text means equal bits
    digest = hashlib.sha256(json.dumps(exact, default=repr, sort_keys=True).encode()).hexdigest()
    summary = {'env_steps': result.env_steps, 'solved_at': result.solved_at, 'landed_at': result.landed_at,
               'checks': [[check.env_steps, len(check.returns), round(check.mean, 3)] for check in result.checks],
               'episodes': len(result.episode_returns), 'evaluation_mean': round(sum(returns) / len(returns), 3)}
    return summary, digest


def run(name):
    import ppo_reference
    config = ppo_reference.Config(**RUNS[name])
    return fingerprint(ppo_reference.train(config), ppo_reference.evaluate)


def recorded():
    with open(FILE, encoding='utf-8') as file:
        return json.load(file)


def main():
    sys.path.insert(0, ROOT)
    import subprocess
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    names = sys.argv[1:] or list(RUNS)
    unknown = [name for name in names if name not in RUNS]
    if unknown:
        sys.exit(f'fingerprints.py: no run named {unknown}; the runs: {list(RUNS)}')
    runs = {} if not sys.argv[1:] else recorded()['runs']
    for name in names:
        summary, digest = run(name)
        runs[name] = {'config': RUNS[name], 'summary': summary, 'sha256': digest, 'recorded_after_commit': commit}
        print(name, json.dumps(summary), digest, flush=True)
    with open(FILE, 'w', encoding='utf-8') as file:
        json.dump({'about': 'recorded by tests/reference/fingerprints.py (each run: after which commit)', 'runs': runs},
                  file, indent=1)
        file.write('\n')


if __name__ == '__main__':
    main()
