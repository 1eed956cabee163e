"""What students see: environment rollouts inline, training progress and learning curves.

    render = rl_gui.create_renderer(env, fps=60, figsize=(4, 3))
    render()                          # shows the current frame
    render('sum of rewards: 12.3')    # the next frame, with a caption below it
    render.save_gif('landing.gif')    # every frame shown so far
    rl_gui.episode_player(render)     # play, pause and step through those frames

    rl_gui.clip_objective_explorer()  # PPO's clipped objective, with an epsilon slider
    rl_gui.gae_explorer()             # TD errors and advantages of a recorded landing, gamma and lambda sliders

In a Jupyter kernel (JupyterLab, Notebook 7, VS Code) frames replace each other in one
output, paced to `fps`, and the last frame stays in the saved notebook. Anywhere else
(a script, pytest) nothing is displayed and the frames are only collected.

The interactive figures are a picture with ipywidgets controls. The picture is an ordinary
image output that the controls update in place, so a headless run, a notebook reopened
without a kernel and a front end without ipywidgets all still show it; only moving the
controls needs a live kernel.
"""

import html
import io
import json
import math
import os
import sys
import time
import weakref

import rl_kit  # noqa: F401 (first: on a Python older than the kit needs, it says so in one line)
import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ['create_renderer', 'Renderer', 'TrainingMonitor', 'plot_learning_curve', 'plot_evaluation', 'in_kernel',
           'Interactive', 'clip_objective_explorer', 'gae_explorer', 'episode_player',
           'NotebookStop', 'skip_if_grading', 'check_trained']


def in_kernel():
    """True inside a Jupyter kernel, where rich output can be displayed and updated."""
    ipython = sys.modules.get('IPython')
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, 'kernel', None) is not None


def grading():
    """True while an autograder runs the notebook (nbgrader's, or grade.py's, which sets the
    same variable): then the figures, explorers and frames are not drawn, since nobody
    watches and drawing them takes seconds per notebook."""
    return os.environ.get('NBGRADER_EXECUTION') == 'autograde'


# ------------------------------------------------------------------------------------
# Rollouts
# ------------------------------------------------------------------------------------

CAPTION_SCREEN_PX = 15     # the caption's letters on screen, whatever the frame is scaled to
CAPTION_BAND = 1.8         # the caption band's height, in font sizes


def _font(size):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def caption_height(font):
    """Height in pixels of the band under a frame that holds a caption in `font`."""
    return round(CAPTION_BAND * getattr(font, 'size', 11))


def encode_frame(frame, caption=None, quality=85, font=None):
    """An RGB frame (H, W, 3) as JPEG bytes, with the caption in a dark band below it."""
    image = Image.fromarray(np.asarray(frame, dtype=np.uint8))
    if caption:
        font = font or _font(CAPTION_SCREEN_PX)
        band = caption_height(font)
        framed = Image.new('RGB', (image.width, image.height + band), (32, 32, 32))
        framed.paste(image, (0, 0))
        size = getattr(font, 'size', 11)
        ImageDraw.Draw(framed).text((size // 2, image.height + (band - size) // 2), str(caption), fill='white',
                                    font=font)
        image = framed
    buffer = io.BytesIO()
    image.save(buffer, format='JPEG', quality=quality)
    return buffer.getvalue()


class Renderer:
    """Shows env.render() frames inline, in one output that is updated in place.
    Call it to show the next frame; `frames` holds every frame shown, as JPEG bytes."""

    def __init__(self, env, fps=60, figsize=(6, 4), dpi=100):
        render_mode = getattr(env, 'render_mode', None)
        if render_mode != 'rgb_array':
            env_id = getattr(getattr(env, 'spec', None), 'id', None) or 'LunarLander-v3'
            raise ValueError(f"rl_gui needs frames as arrays, but this environment has render_mode={render_mode!r}. "
                             f"Create it with gym.make('{env_id}', render_mode='rgb_array').")
        if fps <= 0:
            raise ValueError(f'fps must be positive, got {fps}')
        self.env = env
        self.fps = fps
        self.width = int(figsize[0] * dpi)   # the frame is scaled to this width on screen
        self.frames = []
        self._font = None                    # sized at the first frame, for CAPTION_SCREEN_PX on screen
        self._handle = None
        self._next_time = None

    def __call__(self, caption=None):
        if grading():
            return
        frame = self.env.render()
        if frame is None:
            raise RuntimeError('env.render() returned None: reset the environment before rendering')
        if self._font is None:
            self._font = _font(round(CAPTION_SCREEN_PX * frame.shape[1] / self.width))
        jpeg = encode_frame(frame, caption, font=self._font)
        self.frames.append(jpeg)
        if in_kernel():
            self._show(jpeg)

    def _show(self, jpeg):
        from IPython.display import Image as IPythonImage, display
        image = IPythonImage(data=jpeg, format='jpeg', width=self.width)
        now = time.perf_counter()
        if self._handle is None:
            self._handle = display(image, display_id=True)
            self._next_time = now
        else:
            # pace to fps: wait for this frame's time, but never try to catch up a backlog
            self._next_time = max(self._next_time + 1.0 / self.fps, now - 1.0 / self.fps)
            delay = self._next_time - now
            if delay > 0:
                time.sleep(delay)
            self._handle.update(image)

    def save_gif(self, path, fps=None, width=None):
        """Writes the frames shown so far as an animated GIF, by default every one of them at
        the renderer's fps (a GIF's frame lasts a whole number of 1/100 s, and browsers play at
        most 50 frames a second: faster renderers play slower). With `fps` below the
        renderer's, frames are skipped to reach it. Returns the number of frames written."""
        if not self.frames:
            raise ValueError('no frames to save: call render() at least once first')
        step = max(1, round(self.fps / fps)) if fps else 1
        width = width or self.width
        images = []
        for jpeg in self.frames[::step]:
            image = Image.open(io.BytesIO(jpeg)).convert('RGB')
            if image.width != width:
                image = image.resize((width, round(image.height * width / image.width)), Image.BILINEAR)
            images.append(image.quantize(colors=128, method=Image.Quantize.MEDIANCUT))
        # whole hundredths of a second, at least 2 (browsers play shorter frames at 1/10 s);
        # the last frame is held for a second
        duration = 10 * max(2, round(100 * step / self.fps))
        durations = [duration] * (len(images) - 1) + [1000]
        images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0, optimize=True)
        return len(images)


def create_renderer(env, fps=60, figsize=(6, 4)):
    """Returns render(caption=None), which shows the environment's current frame."""
    return Renderer(env, fps=fps, figsize=figsize)


# ------------------------------------------------------------------------------------
# Training progress
# ------------------------------------------------------------------------------------

def moving_average(values, window):
    """Mean of the last `window` values at every position (of all values so far at the start)."""
    sums = np.concatenate([[0.0], np.cumsum(np.asarray(values, dtype=float))])
    end = np.arange(1, len(sums))
    start = np.maximum(end - window, 0)
    return (sums[end] - sums[start]) / (end - start)


def plot_learning_curve(episode_returns, episode_end_steps=None, window=100, threshold=200.0, title=None, ax=None,
                        solved_at=None, landed_at=None, checks=(), evaluation=None):
    """The return of every episode and their moving average, against environment steps
    if given (else episodes), with the solve threshold. Draws into `ax` if given, else
    into a new matplotlib Figure (not pyplot's: nothing is shown twice); returns the figure.

    With environment steps on the x axis it also marks when each of the trainer's criteria
    was met: `solved_at` (the training mean reached the threshold), `landed_at` (a check
    of the greedy policy passed), and `checks`, every such check (objects with `env_steps`,
    `mean`, `passed` and `describe()`, e.g. rl_kit.training.LandingCheck) as a point at its
    mean; the check that passed is labelled with how many of its episodes landed.
    `evaluation`, the returns of the final greedy evaluation, is drawn at the end of training
    as its mean (a diamond) and the range of its middle 80% of episodes, labelled with the share that
    landed and its 95% confidence interval."""
    if episode_end_steps is None and (solved_at is not None or landed_at is not None or len(checks)
                                      or evaluation is not None):
        raise ValueError('plot_learning_curve: solved_at, landed_at, checks and evaluation are placed at environment '
                         'steps, so they need episode_end_steps as well (got episode_end_steps=None)')
    if ax is None:
        from matplotlib.figure import Figure
        ax = Figure(figsize=(6, 3.2), dpi=100, layout='constrained').add_subplot()
    x = np.asarray(episode_end_steps if episode_end_steps is not None else np.arange(1, len(episode_returns) + 1))
    if len(episode_returns):
        ax.plot(x, episode_returns, color='C0', alpha=0.25, linewidth=0.8, label='episode return')
        ax.plot(x, moving_average(episode_returns, window), color='C0', linewidth=2,
                label=f'mean of the last {window}')
    if threshold is not None:
        ax.axhline(threshold, color='C2', linestyle='--', linewidth=1, label=f'solved ({threshold:g})')
    if len(checks):
        for passed, marker in ((False, 'x'), (True, 'o')):
            chosen = [check for check in checks if bool(check.passed) == passed]
            if chosen:
                ax.scatter([check.env_steps for check in chosen], [check.mean for check in chosen], marker=marker,
                           color='C1' if not passed else 'C2', zorder=3, s=25,
                           label=f'greedy check passed: {chosen[0].describe()}' if passed else 'greedy check (mean)')
    if solved_at is not None:
        ax.axvline(solved_at, color='C1', linestyle=':', linewidth=1.2,
                   label=f'training mean \u2265 {threshold:g}: {solved_at / 1000:,.0f}k steps')
    if landed_at is not None:
        ax.axvline(landed_at, color='C2', linewidth=1.5, label=f'greedy policy lands: {landed_at / 1000:,.0f}k steps')
    if evaluation is not None and len(evaluation):
        from rl_kit.training import LandingShare
        share = LandingShare.of(evaluation, threshold if threshold is not None else 200.0)
        at = landed_at if landed_at is not None else (x[-1] if len(x) else 0)
        low, high = np.percentile(evaluation, [10, 90])
        ax.vlines(at, low, high, color='C3', linewidth=3, alpha=0.5, zorder=4)
        ax.scatter([at], [float(np.mean(evaluation))], marker='D', color='C3', zorder=5, s=30,
                   label=f'evaluation: {share.wins} of {share.episodes} \u2265 {share.threshold:g} '
                         f'({100 * share.low:.0f}\u2013{share.high:.0%})')
    ax.set_xlabel('environment steps' if episode_end_steps is not None else 'episodes')
    ax.set_ylabel('sum of rewards')
    ax.set_title(title or 'LunarLander')
    ax.grid(alpha=0.3)
    ax.legend(loc='lower right', fontsize=7)
    return ax.figure


def plot_evaluation(result, eval_returns):
    """evaluation_figure() as a picture: the last expression of a notebook cell shows it
    (an ordinary image output, also in a notebook saved and reopened without a kernel)."""
    figure = evaluation_figure(result, eval_returns)
    return Interactive(lambda: _png(figure), {})


def evaluation_figure(result, eval_returns):
    """The training's learning curve (with both criteria, the checks and the evaluation) beside a
    histogram of the greedy evaluation's returns, titled with the share that landed; `result` is
    what train() returned (attributes episode_returns, episode_end_steps, solved_at, landed_at,
    checks, config.solve_threshold). Returns a matplotlib Figure."""
    from matplotlib.figure import Figure
    from rl_kit.training import LandingShare
    figure = Figure(figsize=(11, 3.2), dpi=100, layout='constrained')
    curve, histogram = figure.subplots(1, 2, width_ratios=[2, 1])
    threshold = result.config.solve_threshold
    plot_learning_curve(result.episode_returns, result.episode_end_steps, threshold=threshold, title='Training',
                        ax=curve, solved_at=result.solved_at, landed_at=result.landed_at, checks=result.checks,
                        evaluation=eval_returns)
    share = LandingShare.of(eval_returns, threshold)
    histogram.hist(eval_returns, bins=20, color='C1')
    histogram.axvline(threshold, color='C2', linestyle='--', linewidth=1)
    histogram.set(title=f'Greedy evaluation: {share.wins} of {share.episodes} \u2265 {threshold:g}\n'
                        f'({share.share:.0%}; 95% confidence {100 * share.low:.0f}\u2013{share.high:.0%})',
                  xlabel='sum of rewards', ylabel='episodes')
    return figure


def _png(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format='png')
    return buffer.getvalue()


def _duration(seconds):
    seconds = int(seconds)
    return f'{seconds // 60}:{seconds % 60:02d}'


class TrainingMonitor:
    """A callback for the notebook's train(): a progress bar and a live learning curve,
    redrawn at most once per `interval` seconds. It reads the attributes of the
    rl_kit.training.TrainStats it is called with. The bar fills as the agent gets closer
    to landing (stats.progress: the training mean at first, then each greedy check's mean
    and share of episodes that land, against what a check must show), and is full once a
    check passes. In a Jupyter kernel both update in place; elsewhere a progress line is
    written to `file` (on a terminal it redraws itself; in a log, one line per
    `log_interval` seconds)."""

    def __init__(self, interval=1.0, plot=True, window=100, file=None, log_interval=10.0):
        self.interval = interval
        self.plot = plot
        self.window = window
        self.file = file or sys.stderr
        self.kernel = in_kernel()
        self.log_interval = interval if self._is_terminal() else log_interval
        self._last_draw = -math.inf
        self._last_stats = None
        self._text_handle = self._plot_handle = None
        self._line_width = 0

    def _is_terminal(self):
        return hasattr(self.file, 'isatty') and self.file.isatty()

    def __call__(self, stats):
        self._last_stats = stats
        now = time.perf_counter()
        wait = self.interval if self.kernel else self.log_interval
        if now - self._last_draw >= wait:
            self._last_draw = now
            self._draw(stats)

    def close(self):
        """Draws the final state and ends the progress line."""
        if self._last_stats is not None:
            self._draw(self._last_stats, final=True)
            self._last_stats = None

    def parts(self, stats):
        """The pieces of the progress line; a line may wrap between them, never inside one."""
        episodes = len(stats.episode_returns)
        parts = [f'{stats.env_steps:,} steps', f'{episodes:,} episode{"s" if episodes != 1 else ""}']
        if not math.isnan(stats.mean_return):
            parts.append(f'mean {stats.mean_return:.1f}')
        if stats.checks:
            last = stats.checks[-1]
            parts.append(f'greedy {last.wins}/{len(last.returns)} land')  # the last check's episodes >= 200
        parts.append(f'{stats.steps_per_second:,.0f} steps/s')
        parts.append(_duration(stats.elapsed))
        if stats.landed_at is not None:
            parts.append('landed!')  # a check of the greedy policy passed: training stops
        elif stats.solved_at is not None:
            parts.append('solved')  # the training mean reached the threshold
        return parts

    def summary(self, stats):
        """The progress line, e.g. '123,904 steps | 812 episodes | mean 143.2 | greedy 17/20 land |
        8,200 steps/s | 0:15'."""
        return ' | '.join(self.parts(stats))

    def _draw(self, stats, final=False):
        if self.kernel:
            self._draw_kernel(stats)
        else:
            self._draw_text(stats, final)

    def _bar(self, stats, width=20):
        # (filled, empty) cells: how close the agent is to landing, not the step budget
        progress = stats.progress if not math.isnan(stats.progress) else 0.0
        filled = min(width, max(0, int(width * progress)))
        return filled, width - filled

    def _draw_text(self, stats, final):
        filled, empty = self._bar(stats, 10)  # short: the whole line fits 120 columns
        line = f'[{"#" * filled}{"." * empty}] {self.summary(stats)}'
        if self._is_terminal():
            padding = ' ' * max(0, self._line_width - len(line))
            self._line_width = len(line)
            self.file.write('\r' + line + padding + ('\n' if final else ''))
        else:
            self.file.write(line + '\n')
        self.file.flush()

    def _draw_kernel(self, stats):
        from IPython.display import Image as IPythonImage, display
        # a text bar, not <progress>: it survives the HTML sanitizer of a reopened notebook.
        # Notebook front ends break <pre> text anywhere (also inside a number) when it is
        # wider than the window: here each part is kept together by non-breaking spaces,
        # and the line may wrap only between parts.
        filled, empty = self._bar(stats, 20)
        colour = '#1a7f37' if stats.landed_at is not None else '#0969da'
        parts = [html.escape(part).replace(' ', '&nbsp;') for part in self.parts(stats)]
        page = {'text/plain': f'{"█" * filled}{"░" * empty} {self.summary(stats)}',
                'text/html': f'<div style="font-family:monospace;white-space:normal;word-break:normal;'
                             f'overflow-wrap:normal"><span style="color:{colour}">{"█" * filled}</span>'
                             f'<span style="color:#bbb">{"░" * empty}</span> {" | ".join(parts)}</div>'}
        if self._text_handle is None:
            self._text_handle = display(page, raw=True, display_id=True)
        else:
            self._text_handle.update(page, raw=True)
        if self.plot:
            figure = plot_learning_curve(stats.episode_returns, stats.episode_end_steps, window=self.window,
                                         threshold=stats.solve_threshold, solved_at=stats.solved_at,
                                         landed_at=stats.landed_at, checks=stats.checks)
            image = IPythonImage(data=_png(figure), format='png')
            if self._plot_handle is None:
                self._plot_handle = display(image, display_id=True)
            else:
                self._plot_handle.update(image)


# ------------------------------------------------------------------------------------
# Interactive figures: a picture that stays, and ipywidgets controls that redraw it
# ------------------------------------------------------------------------------------

class Interactive:
    """A picture drawn by `draw(**values)` (PNG or JPEG bytes) with ipywidgets `controls`
    ({name: widget}) that redraw it. Displayed (the last expression of a cell, or
    IPython.display.display(...)), it shows the controls and the picture as an ordinary
    image output, which each change of a control replaces in place."""

    def __init__(self, draw, controls, image_format='png', width=None, buttons=()):
        self.draw = draw
        self.controls = controls
        self.buttons = list(buttons)  # widgets shown before the controls, not passed to draw
        self.image_format = image_format
        self.width = width
        self.draws = 0          # pictures drawn so far
        self._handle = None

    def values(self):
        return {name: control.value for name, control in self.controls.items()}

    def picture(self):
        self.draws += 1
        return self.draw(**self.values())

    def _image(self):
        from IPython.display import Image as IPythonImage
        return IPythonImage(data=self.picture(), format=self.image_format, width=self.width)

    def _ipython_display_(self):
        from IPython.display import display
        if self.controls or self.buttons:
            import ipywidgets
            display(ipywidgets.HBox(self.buttons + list(self.controls.values())))
        self._handle = display(self._image(), display_id=True)
        for control in self.controls.values():
            control.observe(self._changed, names='value')

    def _changed(self, change):
        self._handle.update(self._image())


def _widgets():
    """ipywidgets, or None where it is not installed (the pictures still show)."""
    try:
        import ipywidgets
    except ImportError:
        return None
    return ipywidgets


def _figure(figsize):
    from matplotlib.figure import Figure
    return Figure(figsize=figsize, dpi=100, layout='constrained')


# --- the clipped objective (PPO paper, figure 1) ------------------------------------

R_MAX = 2.0  # the plots' range of the ratio r: 0 .. R_MAX


def clip_objective_figure(epsilon):
    """min(r A, clip(r, 1-eps, 1+eps) A) against r for A = 1 and A = -1, one panel each.
    The curves are drawn from their corner points (a picture of the objective, not a loss
    function), with the ranges where its gradient is 0 shaded."""
    if not 0 < epsilon < 1:
        raise ValueError(f'epsilon must be between 0 and 1, got {epsilon}')
    low, high = 1 - epsilon, 1 + epsilon
    figure = _figure((9, 3.2))
    panels = figure.subplots(1, 2)
    # (advantage, corner points of the clipped term, the r range where it is flat)
    sides = ((1.0, [(0, 0), (high, high), (R_MAX, high)], (high, R_MAX)),
             (-1.0, [(0, -low), (low, -low), (R_MAX, -R_MAX)], (0, low)))
    for ax, (advantage, corners, flat) in zip(panels, sides):
        ax.plot([0, R_MAX], [0, R_MAX * advantage], color='0.6', linestyle='--', linewidth=1,
                label=r'$r \cdot A$ (unclipped)')
        ax.plot(*zip(*corners), color='C0' if advantage > 0 else 'C3', linewidth=2.5,
                label=r'$\min(r A, \mathrm{clip}(r, 1-\epsilon, 1+\epsilon) A)$')
        ax.axvspan(*flat, color='0.85', zorder=0)
        ax.text(sum(flat) / 2, 0.92 if advantage > 0 else -1.9, 'gradient 0', ha='center', fontsize=9,
                color='0.35')
        ax.axvline(1, color='0.3', linewidth=0.8)
        ax.plot([1], [advantage], 'o', color='k', zorder=3)
        for r in (low, high):
            ax.axvline(r, color='0.5', linestyle=':', linewidth=1)
        ax.set_xticks([0, low, 1, high, R_MAX], ['0', f'1-ε\n{low:g}', '1', f'1+ε\n{high:g}', f'{R_MAX:g}'])
        ax.set(xlim=(0, R_MAX), ylim=(-R_MAX, R_MAX), xlabel=r'ratio $r = \pi_\theta / \pi_{\theta_{old}}$',
               title=f'A {">" if advantage > 0 else "<"} 0 (here A = {advantage:g})')
        ax.grid(alpha=0.3)
        ax.legend(loc='lower right' if advantage > 0 else 'upper right', fontsize=8)
    panels[0].set_ylabel('one term of the objective')
    return figure


def clip_objective_explorer(epsilon=0.2):
    """The clipped objective against the ratio, with a slider for the clip range epsilon."""
    if grading():
        return None
    ipywidgets = _widgets()
    controls = {}
    if ipywidgets is not None:
        controls['epsilon'] = ipywidgets.FloatSlider(value=epsilon, min=0.05, max=0.5, step=0.05, description='ε',
                                                     continuous_update=False, readout_format='.2f')
    draw = (lambda epsilon=epsilon: _png(clip_objective_figure(epsilon)))
    return Interactive(draw, controls)


# --- the GAE explorer ----------------------------------------------------------------

GAE_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'rl_kit', 'gae_episode.json')


def load_gae_episode(path=GAE_DATA):
    """The recorded landing and its precomputed TD errors and advantages (rl_kit/gae_episode.json):
    gammas, lambdas, rewards, values, deltas[gamma index], advantages[gamma index][lambda index]."""
    if not os.path.exists(path):
        raise FileNotFoundError(f'{os.path.basename(path)} is missing: it comes with the notebook and must be in '
                                f'the same folder as rl_gui.py ({os.path.dirname(path)})')
    with open(path, encoding='utf-8') as file:
        return json.load(file)


def per_step_limits(*series, share=0.98):
    """(low, high) of an axis that shows the middle `share` of all the values of `series`,
    and 0, with a margin: the few largest (a landing's +100) would flatten the rest."""
    values = np.concatenate([np.asarray(values, dtype=float) for values in series])
    tail = 50 * (1 - share)
    low, high = np.percentile(values, [tail, 100 - tail])
    low, high = min(float(low), 0.0), max(float(high), 0.0)
    margin = 0.1 * (high - low) or 1.0
    return low - margin, high + margin


def _steps_ahead(gamma, lmbda):
    """'about 50 steps ahead': the horizon 1 / (1 - γλ) of the advantage's backward sum."""
    if gamma * lmbda >= 1:
        return 'γλ = 1'
    horizon = round(1 / (1 - gamma * lmbda))
    return f'γλ = {gamma * lmbda:.3g}, so a step looks about {horizon:,} step{"s" if horizon != 1 else ""} ahead'


def gae_figure(episode, gamma, lmbda):
    """Rewards, values and TD errors of the recorded episode (top), and its advantages for
    (gamma, lmbda), beside lambda = 0 and lambda = 1 (bottom). Both must be grid values.
    The top axis fits the TD errors of this gamma; the few values beyond it are marked at
    its edge. The legends sit beside the axes, off the data."""
    for name, value, grid in (('gamma', gamma, episode['gammas']), ('lmbda', lmbda, episode['lambdas'])):
        if value not in grid:
            raise ValueError(f'{name} must be one of the precomputed values {grid}, got {value}')
    g, l = episode['gammas'].index(gamma), episode['lambdas'].index(lmbda)
    curves = episode['advantages'][g]
    rewards, deltas = np.asarray(episode['rewards']), np.asarray(episode['deltas'][g])
    steps = np.arange(len(rewards))
    figure = _figure((10, 5.2))
    top, bottom = figure.subplots(2, 1, sharex=True)
    top.bar(steps, rewards, width=1.0, color='0.7', label=r'reward $r_{t+1}$')
    top.plot(steps, deltas, color='C0', linewidth=1, label=r'TD error $\delta_t$')
    low, high = per_step_limits(rewards, deltas)
    beyond = [(t, high if v > high else low) for t, v in list(zip(steps, rewards)) + list(zip(steps, deltas))
              if not low <= v <= high]
    for edge, marker in ((high, '^'), (low, 'v')):  # a triangle at the edge for each value beyond it
        points = [t for t, at in beyond if at == edge]
        if points:
            top.scatter(points, [edge] * len(points), marker=marker, s=18, color='C3', zorder=3, clip_on=False,
                        label='beyond the axis' if edge == high or not any(at == high for _, at in beyond)
                        else None)
    top.set(ylim=(low, high), ylabel='per step')
    top.set_title(f'one landing of a trained agent ({len(steps)} steps, return {rewards.sum():.0f}); '
                  f'γ = {gamma:g}', fontsize=10)
    values = top.twinx()
    values.plot(steps, episode['values'][:-1], color='C2', linewidth=1.5, label=r'critic $\hat v(s_t)$')
    values.set_ylabel(r'$\hat v(s_t)$', color='C2')
    handles = [h for ax in (top, values) for h in ax.get_legend_handles_labels()[0]]
    top.legend(handles, [h.get_label() for h in handles], loc='upper left', bbox_to_anchor=(1.09, 1.0),
               fontsize=8)
    top.grid(alpha=0.3)
    zero, one = episode['lambdas'].index(0.0), episode['lambdas'].index(1.0)
    bottom.plot(steps, curves[zero], color='C0', linewidth=0.8, alpha=0.6, label=r'λ = 0: the TD error $\delta_t$')
    bottom.plot(steps, curves[one], color='C3', linewidth=0.8, alpha=0.8,
                label='λ = 1: discounted return\n' r'$-\ \hat v(s_t)$')
    bottom.plot(steps, curves[l], color='k', linewidth=2, label=f'λ = {lmbda:g}')
    bottom.set(xlabel='step t', ylabel=r'advantage $a_t$', title=f'advantages: {_steps_ahead(gamma, lmbda)}')
    bottom.title.set_fontsize(10)
    bottom.grid(alpha=0.3)
    bottom.legend(loc='upper left', bbox_to_anchor=(1.09, 1.0), fontsize=8)
    return figure


def gae_explorer(gamma=0.999, lmbda=0.98, path=GAE_DATA):
    """The GAE explorer: sliders for gamma and lambda over one recorded LunarLander landing.
    Its numbers were computed in advance (rl_kit/gae_episode.json), so it needs no PPO code."""
    if grading():
        return None
    episode = load_gae_episode(path)
    ipywidgets = _widgets()
    controls = {}
    if ipywidgets is not None:
        controls['gamma'] = ipywidgets.SelectionSlider(options=episode['gammas'], value=gamma, description='γ',
                                                       continuous_update=False)
        controls['lmbda'] = ipywidgets.SelectionSlider(options=episode['lambdas'], value=lmbda, description='λ',
                                                       continuous_update=False)

    def draw(gamma=gamma, lmbda=lmbda):
        return _png(gae_figure(episode, gamma, lmbda))
    return Interactive(draw, controls)


# --- the episode player --------------------------------------------------------------

def episode_player(render, fps=30):
    """Play, pause and a frame slider over the frames a Renderer has shown (its JPEGs)."""
    frames = render.frames if isinstance(render, Renderer) else list(render)
    if not frames:
        raise ValueError('episode_player: there are no frames yet: render an episode first')
    step = max(1, round(render.fps / fps)) if isinstance(render, Renderer) else 1
    width = render.width if isinstance(render, Renderer) else None
    ipywidgets = _widgets()
    controls, buttons = {}, []
    if ipywidgets is not None:
        last = len(frames) - 1
        controls['frame'] = ipywidgets.IntSlider(value=0, min=0, max=last, description='frame')
        # the Play button moves the slider in the browser (jslink); the slider redraws the picture
        buttons.append(ipywidgets.Play(value=0, min=0, max=last, step=step, interval=round(1000 / fps)))
        ipywidgets.jslink((buttons[0], 'value'), (controls['frame'], 'value'))

    def draw(frame=0):
        return frames[frame]
    return Interactive(draw, controls, image_format='jpeg', width=width, buttons=buttons)


# ------------------------------------------------------------------------------------
# Stopping later cells: after an interrupted training, and while nbgrader grades
# ------------------------------------------------------------------------------------

class NotebookStop(Exception):
    """Stops a notebook cell with its message and no traceback; under Run All the cells
    below it are not run (a cell that raises stops Run All)."""

    def _render_traceback_(self):  # what IPython shows instead of the traceback
        return [f'{type(self).__name__}: {self}']


class TrainingSkipped(NotebookStop):
    """There is no trained agent: training was skipped or has not run."""


class TrainingInterrupted(NotebookStop):
    """Training was stopped early; the cells that use the agent are skipped once."""


def skip_if_grading(grading):
    """Stops the training cell while nbgrader's autograder runs the notebook."""
    if grading:
        raise TrainingSkipped('nbgrader is grading this notebook: its points come from the tests above, so the '
                              'training and the cells after it are skipped')


_used_anyway = weakref.WeakValueDictionary()  # interrupted results the student chose to use anyway


def check_trained(result):
    """Stops the cell if there is no trained agent, or, the first time, if training was
    interrupted: then Run All does not go on to evaluate a half-trained agent or overwrite
    the saved landing. Running a cell again uses the interrupted agent anyway."""
    if result is None:
        if os.environ.get('NBGRADER_EXECUTION'):
            raise TrainingSkipped('skipped while nbgrader grades this notebook (no training)')
        raise TrainingSkipped('there is no trained agent yet: run the training cell above first')
    if getattr(result, 'interrupted', False) and _used_anyway.get(id(result)) is not result:
        _used_anyway[id(result)] = result
        steps, total = result.env_steps, result.config.total_steps
        raise TrainingInterrupted(
            f'training was stopped after {steps:,} of {total:,} environment steps, so this cell and the ones '
            f'below are skipped: the agent is only half-trained, and the saved landing is left as it was. '
            f'Run the training cell again, or run this cell again to use the agent trained so far.')
