"""Records one LunarLander landing for the notebook's GAE explorer (instructor side, run by hand).

    python tools/record_episode.py [--seed 0] [--episode-seed 2024]

Trains the reference PPO, then runs its greedy policy for one episode and writes
tools/data/lunarlander_episode.json: the rewards r_1..r_T, the trained critic's values
V(s_0)..V(s_T) and how the episode ended. This is recorded data, not derived data: training
takes about a minute and its result depends on the machine, so tools/build.py does not rerun
it. tools/build.py derives the explorer's TD errors and advantages from this recording with
ppo_reference's own compute_advantages (rl_gae_episode.json).
"""

import argparse
import json
import os
import sys

import gymnasium as gym
import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import ppo_reference  # noqa: E402

RECORDING = os.path.join(ROOT, 'tools', 'data', 'lunarlander_episode.json')
DECIMALS = 4


def record(ac, env_id, episode_seed):
    """One greedy episode: rewards (T,), values of s_0..s_T (T + 1,), terminated, truncated."""
    env = gym.make(env_id)
    state, _ = env.reset(seed=episode_seed)
    states, rewards = [state], []
    terminated = truncated = False
    while not (terminated or truncated):
        action = ppo_reference.greedy_actions(ac, torch.as_tensor(state).unsqueeze(0)).item()
        state, reward, terminated, truncated, _ = env.step(action)
        states.append(state)
        rewards.append(float(reward))
    env.close()
    with torch.no_grad():
        values = ac.compute_values(torch.as_tensor(np.array(states))).tolist()  # shape (T + 1)
    return {'rewards': [round(r, DECIMALS) for r in rewards], 'values': [round(v, DECIMALS) for v in values],
            'terminated': bool(terminated), 'truncated': bool(truncated)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seed', type=int, default=0, help='training seed')
    parser.add_argument('--episode-seed', type=int, default=2024, help='seed of the recorded episode')
    args = parser.parse_args(argv)
    config = ppo_reference.Config(seed=args.seed)
    result = ppo_reference.train(config)
    episode = record(result.ac, config.env_id, args.episode_seed)
    recording = {'about': f'one greedy LunarLander episode (seed {args.episode_seed}) of the reference PPO trained '
                          f'with seed {args.seed} for {result.env_steps:,} steps; written by tools/record_episode.py',
                 'env_id': config.env_id, **episode}
    os.makedirs(os.path.dirname(RECORDING), exist_ok=True)
    with open(RECORDING, 'w', encoding='utf-8') as file:
        file.write('{\n' + ',\n'.join(f'{json.dumps(key)}: {json.dumps(value)}' for key, value in recording.items())
                   + '\n}\n')
    print(f'{len(episode["rewards"])} steps, return {sum(episode["rewards"]):.1f}, '
          f'{"terminated" if episode["terminated"] else "truncated"}: {os.path.relpath(RECORDING, ROOT)}')


if __name__ == '__main__':
    main()
