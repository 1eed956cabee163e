"""rl_gui outside a kernel (frames collected, GIFs written) and inside one (one output
updated in place), with a fake IPython display."""

import io
import sys
import types

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image

import rl_gui


@pytest.fixture
def env():
    env = gym.make('LunarLander-v3', render_mode='rgb_array')
    env.reset(seed=0)
    yield env
    env.close()


def test_frames_are_collected_headless_and_saved_as_gif(env, tmp_path):
    render = rl_gui.create_renderer(env, fps=60, figsize=(4, 3))
    render()
    for step in range(59):
        env.step(0)
        render(f'step {step}')
    assert len(render.frames) == 60
    first, last = (Image.open(io.BytesIO(jpeg)) for jpeg in (render.frames[0], render.frames[-1]))
    assert first.size == (600, 400) and last.size == (600, 400 + rl_gui.CAPTION_HEIGHT)
    written = render.save_gif(tmp_path / 'rollout.gif', fps=30)
    gif = Image.open(tmp_path / 'rollout.gif')
    assert written == gif.n_frames == 30
    assert gif.size[0] == 400  # figsize 4 inches at 100 dpi


def test_a_bad_render_mode_says_how_to_create_the_env():
    with pytest.raises(ValueError, match=r"render_mode=None.*gym.make\('LunarLander-v3', render_mode='rgb_array'\)"):
        rl_gui.create_renderer(gym.make('LunarLander-v3'))


def test_save_gif_without_frames_is_a_clear_error(env, tmp_path):
    with pytest.raises(ValueError, match='no frames to save'):
        rl_gui.create_renderer(env).save_gif(tmp_path / 'x.gif')


class FakeDisplay:
    """Records what rl_gui displays, like IPython.display with display_id=True."""

    def __init__(self):
        self.shown, self.updates = [], []

    def display(self, obj, display_id=False, raw=False):
        self.shown.append(obj)
        recorder = self

        class Handle:
            def update(self, new, raw=False):
                recorder.updates.append(new)
        return Handle() if display_id else None


@pytest.fixture
def kernel(monkeypatch):
    fake = FakeDisplay()
    display_module = types.ModuleType('IPython.display')
    display_module.display = fake.display

    class Wrapped:
        def __init__(self, data=None, format=None, width=None):
            self.data, self.format, self.width = data, format, width
    display_module.Image = Wrapped
    monkeypatch.setitem(sys.modules, 'IPython.display', display_module)
    monkeypatch.setattr(rl_gui, 'in_kernel', lambda: True)
    return fake


def test_in_a_kernel_frames_replace_each_other_in_one_output(env, kernel):
    render = rl_gui.create_renderer(env, fps=1000, figsize=(4, 3))
    for _ in range(10):
        render('caption')
    assert len(kernel.shown) == 1 and len(kernel.updates) == 9
    assert kernel.updates[-1].format == 'jpeg' and kernel.updates[-1].width == 400
    assert kernel.updates[-1].data == render.frames[-1]


def stats(steps, returns=(-100.0, -50.0)):
    return {'env_steps': steps, 'total_steps': 10_000, 'episodes': len(returns), 'episode_returns': list(returns),
            'episode_end_steps': [1000 * (i + 1) for i in range(len(returns))], 'mean_return': float(np.mean(returns)),
            'elapsed': 2.0, 'steps_per_second': 5000.0, 'solved': False, 'solve_threshold': 200.0}


def test_monitor_outside_a_kernel_writes_throttled_progress_lines():
    out = io.StringIO()
    monitor = rl_gui.TrainingMonitor(file=out, log_interval=60)
    for steps in range(1000, 10_001, 1000):
        monitor(stats(steps))
    monitor.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # the first call, then the final state
    assert lines[-1].startswith('[####################] 10,000 / 10,000 steps (100%) | 2 episodes')
    assert 'mean return (last 100) -75.0 | 5,000 steps/s | 0:02 elapsed' in lines[-1]


def test_monitor_in_a_kernel_updates_a_progress_bar_and_a_curve(kernel):
    monitor = rl_gui.TrainingMonitor(interval=0)
    for steps in (1000, 2000, 3000):
        monitor(stats(steps))
    assert len(kernel.shown) == 2  # the progress text and the curve, displayed once each
    assert len(kernel.updates) == 4
    assert kernel.updates[-2]['text/plain'] == '█████████░░░░░░░░░░░░░░░░░░░░░ ' + monitor.summary(stats(3000))
    assert '3,000 / 10,000 steps (30%)' in kernel.updates[-2]['text/html']
    assert kernel.updates[-1].format == 'png' and kernel.updates[-1].data.startswith(b'\x89PNG')


def test_moving_average():
    assert rl_gui.moving_average([1, 2, 3, 4, 5], 2).tolist() == [1, 1.5, 2.5, 3.5, 4.5]
    assert rl_gui.moving_average([], 3).tolist() == []
