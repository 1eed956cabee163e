"""What students see: environment rollouts inline, training progress and learning curves.

    render = rl_gui.create_renderer(env, fps=60, figsize=(4, 3))
    render()                          # shows the current frame
    render('sum of rewards: 12.3')    # the next frame, with a caption below it
    render.save_gif('landing.gif')    # every frame shown so far

In a Jupyter kernel (JupyterLab, Notebook 7, VS Code) frames replace each other in one
output, paced to `fps`, and the last frame stays in the saved notebook. Anywhere else
(a script, pytest) nothing is displayed and the frames are only collected.
"""

import html
import io
import math
import sys
import time

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ['create_renderer', 'Renderer', 'TrainingMonitor', 'plot_learning_curve', 'in_kernel']


def in_kernel():
    """True inside a Jupyter kernel, where rich output can be displayed and updated."""
    ipython = sys.modules.get('IPython')
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, 'kernel', None) is not None


# ------------------------------------------------------------------------------------
# Rollouts
# ------------------------------------------------------------------------------------

CAPTION_HEIGHT = 28


def _font(size):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def encode_frame(frame, caption=None, quality=85, font=None):
    """An RGB frame (H, W, 3) as JPEG bytes, with the caption in a dark band below it."""
    image = Image.fromarray(np.asarray(frame, dtype=np.uint8))
    if caption:
        framed = Image.new('RGB', (image.width, image.height + CAPTION_HEIGHT), (32, 32, 32))
        framed.paste(image, (0, 0))
        ImageDraw.Draw(framed).text((8, image.height + 5), str(caption), fill='white', font=font or _font(16))
        image = framed
    buffer = io.BytesIO()
    image.save(buffer, format='JPEG', quality=quality)
    return buffer.getvalue()


class Renderer:
    """Shows env.render() frames inline, in one output that is updated in place.
    Call it to show the next frame; `frames` holds every frame shown, as JPEG bytes."""

    def __init__(self, env, fps=60, figsize=(4, 3), dpi=100):
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
        self._font = _font(16)
        self._handle = None
        self._next_time = None

    def __call__(self, caption=None):
        frame = self.env.render()
        if frame is None:
            raise RuntimeError('env.render() returned None: reset the environment before rendering')
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

    def save_gif(self, path, fps=30, width=None):
        """Writes the frames shown so far as an animated GIF (browsers play GIFs at 50 fps at
        most, so frames are skipped to reach `fps`). Returns the number of frames written."""
        if not self.frames:
            raise ValueError('no frames to save: call render() at least once first')
        step = max(1, round(self.fps / fps))
        width = width or self.width
        images = []
        for jpeg in self.frames[::step]:
            image = Image.open(io.BytesIO(jpeg)).convert('RGB')
            if image.width != width:
                image = image.resize((width, round(image.height * width / image.width)), Image.BILINEAR)
            images.append(image.quantize(colors=128, method=Image.Quantize.MEDIANCUT))
        # hold the last frame for a second
        durations = [round(1000 * step / self.fps)] * (len(images) - 1) + [1000]
        images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0, optimize=True)
        return len(images)


def create_renderer(env, fps=60, figsize=(4, 3)):
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
                        solved_at=None, landed_at=None, checks=()):
    """The return of every episode and their moving average, against environment steps
    if given (else episodes), with the solve threshold. Draws into `ax` if given, else
    into a new matplotlib Figure (not pyplot's: nothing is shown twice); returns the figure.

    With environment steps on the x axis it also marks when each of the trainer's criteria
    was met: `solved_at` (the training mean reached the threshold), `landed_at` (a check
    of the greedy policy passed), and `checks`, every such check (objects with `env_steps`,
    `mean` and `passed`, e.g. ppo_reference.LandingCheck) as a point at its mean."""
    if episode_end_steps is None and (solved_at is not None or landed_at is not None or len(checks)):
        raise ValueError('plot_learning_curve: solved_at, landed_at and checks are environment steps, so they need '
                         'episode_end_steps as well (got episode_end_steps=None)')
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
            points = [(check.env_steps, check.mean) for check in checks if bool(check.passed) == passed]
            if points:
                steps, means = zip(*points)
                ax.scatter(steps, means, marker=marker, color='C1' if not passed else 'C2', zorder=3, s=25,
                           label='greedy check' + (' passed' if passed else ''))
    if solved_at is not None:
        ax.axvline(solved_at, color='C1', linestyle=':', linewidth=1.2,
                   label=f'training mean \u2265 {threshold:g}: {solved_at / 1000:,.0f}k steps')
    if landed_at is not None:
        ax.axvline(landed_at, color='C2', linewidth=1.5, label=f'greedy policy lands: {landed_at / 1000:,.0f}k steps')
    ax.set_xlabel('environment steps' if episode_end_steps is not None else 'episodes')
    ax.set_ylabel('sum of rewards')
    ax.set_title(title or 'LunarLander')
    ax.grid(alpha=0.3)
    ax.legend(loc='lower right', fontsize=7)
    return ax.figure


def _png(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format='png')
    return buffer.getvalue()


def _duration(seconds):
    seconds = int(seconds)
    return f'{seconds // 60}:{seconds % 60:02d}'


class TrainingMonitor:
    """A callback for ppo_reference.train(): a progress bar and a live learning curve,
    redrawn at most once per `interval` seconds. It reads the attributes of the
    ppo_reference.TrainStats it is called with. In a Jupyter kernel both update in place;
    elsewhere a progress line is written to `file` (on a terminal it redraws itself; in a
    log, one line per `log_interval` seconds)."""

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
        parts = [f'{stats.env_steps:,}/{stats.total_steps:,} steps', f'{len(stats.episode_returns):,} episodes']
        if not math.isnan(stats.mean_return):
            parts.append(f'mean {stats.mean_return:.1f}')
        if stats.checks:
            parts.append(f'greedy {stats.checks[-1].mean:.1f}')
        parts.append(f'{stats.steps_per_second:,.0f} steps/s')
        parts.append(_duration(stats.elapsed))
        if stats.landed_at is not None:
            parts.append('landed!')
        elif stats.solved_at is not None:
            parts.append('solved, checking the greedy policy')
        return parts

    def summary(self, stats):
        """The progress line, e.g. '123,904/1,000,000 steps | 812 episodes | mean 143.2 | 8,200 steps/s | 0:15'."""
        return ' | '.join(self.parts(stats))

    def _draw(self, stats, final=False):
        if self.kernel:
            self._draw_kernel(stats)
        else:
            self._draw_text(stats, final)

    def _bar(self, stats, width=20):
        total = stats.total_steps or stats.env_steps or 1
        filled = min(width, int(width * stats.env_steps / total))
        return filled, width - filled

    def _draw_text(self, stats, final):
        filled, empty = self._bar(stats)
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
