"""rl_gui outside a kernel (frames collected, GIFs written) and inside one (one output
updated in place), with a fake IPython display."""

import io
import sys
import types

import gymnasium as gym
import ipywidgets  # noqa: F401 (imported before the fake IPython.display replaces the real one)
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
    assert first.size == (600, 400) and last.size[0] == 600 and last.size[1] > 400  # the caption's band
    written = render.save_gif(tmp_path / 'rollout.gif', fps=30, width=400)
    gif = Image.open(tmp_path / 'rollout.gif')
    assert written == gif.n_frames == 30
    assert gif.size[0] == 400


def gif_milliseconds(path):
    """How long a GIF plays, once."""
    gif = Image.open(path)
    total = 0
    for index in range(gif.n_frames):
        gif.seek(index)
        total += gif.info['duration']
    return total


def test_a_gif_has_every_frame_the_renderer_showed_by_default(env, tmp_path):
    render = rl_gui.create_renderer(env, fps=50)
    render()
    for step in range(386):  # the length of a landing
        env.step(0)
        render()
    assert render.save_gif(tmp_path / 'landing.gif') == len(render.frames) == 387
    # 50 frames a second, as the renderer showed them, the last held for a second (Pillow merges
    # a frame identical to the one before into it: the same picture for as long)
    assert gif_milliseconds(tmp_path / 'landing.gif') == 386 * 20 + 1000
    fast = rl_gui.create_renderer(env, fps=120)
    for _ in range(3):
        fast()
    fast.save_gif(tmp_path / 'fast.gif')
    assert gif_milliseconds(tmp_path / 'fast.gif') == 2 * 20 + 1000  # browsers play 1/100 s frames at 1/10 s


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


def test_moving_average():
    assert rl_gui.moving_average([1, 2, 3, 4, 5], 2).tolist() == [1, 1.5, 2.5, 3.5, 4.5]
    assert rl_gui.moving_average([], 3).tolist() == []


def test_the_caption_is_readable_on_screen(env):
    # the frame is shown scaled to the renderer's width: the letters must stay about
    # CAPTION_SCREEN_PX tall on screen, not shrink with the frame (they were ~10 px)
    for figsize in ((4, 3), (6, 4)):
        render = rl_gui.create_renderer(env, figsize=figsize)
        render('sum of rewards: -123.45')
        frame = np.asarray(Image.open(io.BytesIO(render.frames[-1])).convert('L'))
        band = frame[400:]                           # below the 400-pixel-high frame
        rows = np.flatnonzero((band > 160).any(axis=1))
        on_screen = render.width / frame.shape[1]    # display scale
        assert 10 <= (rows[-1] - rows[0] + 1) * on_screen <= 2 * rl_gui.CAPTION_SCREEN_PX


# ------------------------------------------------------------------ interactive figures

def pixels(png):
    return np.asarray(Image.open(io.BytesIO(png)).convert('RGB'))


def test_an_explorer_shows_controls_and_a_picture_that_a_slider_redraws(kernel):
    explorer = rl_gui.clip_objective_explorer()
    explorer._ipython_display_()
    controls, picture = kernel.shown
    assert type(controls).__name__ == 'HBox' and picture.format == 'png'  # an ordinary image output
    explorer.controls['epsilon'].value = 0.4
    assert len(kernel.updates) == 1 and kernel.updates[0].format == 'png'
    assert pixels(kernel.updates[0].data).shape == pixels(picture.data).shape
    assert (pixels(kernel.updates[0].data) != pixels(picture.data)).any()


def test_without_ipywidgets_an_explorer_is_still_a_picture(kernel, monkeypatch):
    monkeypatch.setitem(sys.modules, 'ipywidgets', None)  # import ipywidgets now raises ImportError
    explorer = rl_gui.gae_explorer()
    explorer._ipython_display_()
    assert len(kernel.shown) == 1 and kernel.shown[0].format == 'png'


def test_the_clipped_objective_is_flat_where_its_gradient_is_0():
    figure = rl_gui.clip_objective_figure(0.2)
    positive, negative = figure.axes
    for ax, flat, corners in ((positive, (1.2, 2.0), [(0, 0), (1.2, 1.2), (2, 1.2)]),
                              (negative, (0.0, 0.8), [(0, -0.8), (0.8, -0.8), (2, -2)])):
        shaded = [(patch.get_x(), patch.get_x() + patch.get_width()) for patch in ax.patches]  # axvspan
        assert len(shaded) == 1 and np.allclose(shaded[0], flat)
        objective = ax.get_lines()[1]
        assert np.allclose(objective.get_xydata(), corners)
    with pytest.raises(ValueError, match='epsilon must be between 0 and 1'):
        rl_gui.clip_objective_figure(1.5)


def test_the_gae_explorers_numbers_mean_what_its_legend_says():
    # checked here from their definitions, independently of any GAE code
    episode = rl_gui.load_gae_episode()
    rewards, values = np.array(episode['rewards']), np.array(episode['values'])
    steps = len(rewards)
    assert episode['terminated'] and len(values) == steps + 1
    next_values = np.append(values[1:steps], 0.0)  # the last state is terminal
    tolerance = 2e-3  # the data is rounded to 3 decimals
    for g, gamma in enumerate(episode['gammas']):
        deltas = rewards + gamma * next_values - values[:steps]
        curves = np.array(episode['advantages'][g])
        assert np.allclose(episode['deltas'][g], deltas, atol=tolerance)
        assert np.allclose(curves[episode['lambdas'].index(0.0)], deltas, atol=tolerance)  # λ = 0: the TD error
        returns = np.array([sum(gamma ** k * r for k, r in enumerate(rewards[t:])) for t in range(steps)])
        assert np.allclose(curves[episode['lambdas'].index(1.0)], returns - values[:steps], atol=0.05)  # λ = 1
        assert np.allclose(curves[episode['lambdas'].index(0.5)][-1], deltas[-1], atol=tolerance)
    with pytest.raises(ValueError, match=r'gamma must be one of the precomputed values'):
        rl_gui.gae_figure(episode, 0.42, 0.5)


@pytest.mark.parametrize('gamma', [0.9, 0.95, 0.999])
def test_the_gae_explorer_shows_the_td_errors_of_every_gamma_with_its_legends_off_the_data(gamma):
    episode = rl_gui.load_gae_episode()
    figure = rl_gui.gae_figure(episode, gamma, 0.98)
    top, bottom = figure.axes[:2]
    low, high = top.get_ylim()
    deltas = np.array(episode['deltas'][episode['gammas'].index(gamma)])
    shown = (low <= deltas) & (deltas <= high)
    assert shown.mean() >= 0.97  # not a fixed range that loses them at a small gamma
    marked = sum(len(collection.get_offsets()) for collection in top.collections
                 if collection.get_label() == 'beyond the axis' or collection.get_label().startswith('_'))
    assert marked >= (~shown).sum()  # what is beyond the axis is marked at its edge
    figure.canvas.draw()
    for ax in (top, bottom):
        legend = ax.get_legend().get_window_extent()
        assert legend.x0 >= ax.get_window_extent().x1  # beside the axes, not over the data


def test_the_gae_explorer_says_how_far_a_step_looks_ahead_in_words():
    episode = rl_gui.load_gae_episode()
    assert rl_gui.gae_figure(episode, 0.999, 0.0).axes[1].get_title().endswith('looks about 1 step ahead')
    assert rl_gui.gae_figure(episode, 0.95, 0.98).axes[1].get_title().endswith('looks about 14 steps ahead')
    assert rl_gui.gae_figure(episode, 0.999, 1.0).axes[1].get_title().endswith('γλ = 0.999, so a step looks about 1,000 steps ahead')


def test_the_gae_data_missing_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='rl_gae_episode.json is missing: it comes with the notebook'):
        rl_gui.gae_explorer(path=str(tmp_path / 'rl_gae_episode.json'))


def test_the_episode_player_shows_the_frame_of_its_slider(env, kernel):
    render = rl_gui.create_renderer(env, fps=1000)
    for step in range(5):
        env.step(0)
        render(f'step {step}')
    kernel.shown.clear()
    kernel.updates.clear()
    player = rl_gui.episode_player(render)
    player._ipython_display_()
    buttons, picture = kernel.shown
    assert [type(widget).__name__ for widget in buttons.children] == ['Play', 'IntSlider']
    assert picture.format == 'jpeg' and picture.data == render.frames[0]
    player.controls['frame'].value = 3
    assert kernel.updates[-1].data == render.frames[3]
    with pytest.raises(ValueError, match='no frames yet'):
        rl_gui.episode_player([])


# ------------------------------------------------------------------ stopping later cells

class Result:
    def __init__(self, interrupted):
        self.interrupted, self.env_steps = interrupted, 12_288
        self.config = types.SimpleNamespace(total_steps=1_000_000)


def test_after_an_interrupted_training_a_cell_stops_once(monkeypatch):
    monkeypatch.delenv('NBGRADER_EXECUTION', raising=False)
    result = Result(interrupted=True)
    with pytest.raises(rl_gui.TrainingInterrupted, match='stopped after 12,288 of 1,000,000') as stopped:
        rl_gui.check_trained(result)
    assert stopped.value._render_traceback_() == [f'TrainingInterrupted: {stopped.value}']  # no traceback
    rl_gui.check_trained(result)  # run again on purpose: it goes on
    rl_gui.check_trained(Result(interrupted=False))
    with pytest.raises(rl_gui.TrainingSkipped, match='run the training cell above first'):
        rl_gui.check_trained(None)


def test_while_nbgrader_grades_training_is_skipped(monkeypatch):
    rl_gui.skip_if_grading(False)
    with pytest.raises(rl_gui.TrainingSkipped, match='nbgrader is grading'):
        rl_gui.skip_if_grading(True)
    monkeypatch.setenv('NBGRADER_EXECUTION', 'autograde')
    with pytest.raises(rl_gui.TrainingSkipped, match='while nbgrader grades'):
        rl_gui.check_trained(None)
