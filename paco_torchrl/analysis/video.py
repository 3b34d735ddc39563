"""Rollout videos of a trained Meta-World run: headless MuJoCo rendering, TorchRL's ``VideoRecorder``.

Every chosen task runs one deterministic episode in its own single-task env built with
``render_mode="rgb_array"``; TorchRL's :class:`~torchrl.record.PixelRenderTransform` puts the
frame under ``"pixels"`` at every step and :class:`~torchrl.record.VideoRecorder` collects it.
The tasks' clips are tiled side by side (task name and success written on them) and saved as
a GIF (Pillow, which matplotlib already needs) or an MP4 (``imageio`` with ``imageio-ffmpeg``).

Headless rendering needs an OpenGL backend for MuJoCo: ``MUJOCO_GL=egl`` (a GPU driver with
EGL) or ``MUJOCO_GL=osmesa`` (software; Debian/Ubuntu package ``libosmesa6``).
:func:`setup_rendering` probes them in a subprocess and sets ``MUJOCO_GL`` before MuJoCo is
imported.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

RENDER_BACKENDS = ("egl", "osmesa")
_PROBE = (
    "import mujoco\n"
    "m = mujoco.MjModel.from_xml_string('<mujoco><worldbody><light pos=\"0 0 2\"/>"
    "<geom type=\"sphere\" size=\".2\" rgba=\"1 0 0 1\"/></worldbody></mujoco>')\n"
    "d = mujoco.MjData(m); mujoco.mj_forward(m, d)\n"
    "r = mujoco.Renderer(m, 32, 32); r.update_scene(d)\n"
    "assert r.render().max() > 0\n"
)


def probe_rendering(backends: Sequence[str] | None = None, timeout: float = 60.0) -> str | None:
    """The first ``MUJOCO_GL`` backend that renders a non-black frame (tried in subprocesses), or ``None``.

    Args:
        backends: candidates; default ``$MUJOCO_GL`` if set, else ``("egl", "osmesa")``.
        timeout: seconds per candidate.
    """
    if backends is None:
        backends = [os.environ["MUJOCO_GL"]] if os.environ.get("MUJOCO_GL") else list(RENDER_BACKENDS)
    for backend in backends:
        env = {**os.environ, "MUJOCO_GL": backend, "PYOPENGL_PLATFORM": backend}
        try:
            proc = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            continue
        if proc.returncode == 0:
            return backend
    return None


def setup_rendering() -> str:
    """Chooses a working headless backend and exports ``MUJOCO_GL`` / ``PYOPENGL_PLATFORM``.

    Raises:
        RuntimeError: no backend renders (install ``libosmesa6`` or an EGL driver), or MuJoCo was
            imported before ``MUJOCO_GL`` was set (its GL backend is fixed at import).
    """
    backend = probe_rendering()
    if backend is None:
        raise RuntimeError(
            "headless MuJoCo rendering is unavailable: install libosmesa6 (MUJOCO_GL=osmesa) "
            "or a GPU driver with EGL (MUJOCO_GL=egl)"
        )
    if "mujoco" in sys.modules and os.environ.get("MUJOCO_GL") != backend:
        raise RuntimeError(f"mujoco was imported before MUJOCO_GL was set: run with MUJOCO_GL={backend}")
    os.environ["MUJOCO_GL"] = backend
    os.environ.setdefault("PYOPENGL_PLATFORM", backend)
    return backend


class FrameSink:
    """A minimal logger for :class:`~torchrl.record.VideoRecorder`: keeps the dumped videos in memory.

    Examples:
        >>> import torch
        >>> sink = FrameSink()
        >>> sink.log_video("reach", torch.zeros(1, 5, 3, 8, 8, dtype=torch.uint8), step=0)
        >>> sink.videos["reach"].shape
        torch.Size([5, 8, 8, 3])
    """

    def __init__(self) -> None:
        self.videos: dict[str, torch.Tensor] = {}

    def log_video(self, name: str, video: torch.Tensor, step: int | None = None, **kwargs) -> None:
        """Stores ``video [1, T, C, H, W]`` as ``[T, H, W, C]`` uint8."""
        self.videos[name] = video[0].permute(0, 2, 3, 1).contiguous()


def _label(frame: np.ndarray, text: str, ok: bool) -> np.ndarray:
    from PIL import Image, ImageDraw

    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, frame.shape[1], 12], fill=(0, 0, 0))
    draw.text((3, 0), text, fill=(80, 255, 80) if ok else (255, 255, 255))
    return np.asarray(image)


def tile_clips(clips: Sequence[np.ndarray], labels: Sequence[str], successes: Sequence[np.ndarray]) -> np.ndarray:
    """Clips ``[T_i, H, W, 3]`` side by side, ``[T, H, sum W, 3]`` (shorter clips hold their last frame).

    ``successes[i][t]`` (success flag so far) turns clip ``i``'s label green from step ``t`` on.
    """
    length = max(len(c) for c in clips)
    frames = []
    for t in range(length):
        row = []
        for clip, label, success in zip(clips, labels, successes):
            i = min(t, len(clip) - 1)
            ok = bool(success[min(i, len(success) - 1)]) if len(success) else False
            row.append(_label(clip[i], f"{label}: success" if ok else label, ok))
        frames.append(np.concatenate(row, axis=1))
    return np.stack(frames)


def write_animation(frames: np.ndarray, out: str | Path, fps: int = 30) -> Path:
    """Writes ``frames [T, H, W, 3]`` uint8 as a GIF (Pillow) or, for ``.mp4``, with ``imageio``/ffmpeg."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".mp4":
        try:
            import imageio.v3 as iio

            iio.imwrite(out, frames, fps=fps, codec="libx264")
        except (ImportError, ValueError, RuntimeError, OSError) as err:
            raise RuntimeError(f"MP4 needs imageio with imageio-ffmpeg ({err}); write a .gif instead") from None
        return out
    from PIL import Image

    images = [Image.fromarray(f).convert("P", palette=Image.Palette.ADAPTIVE, colors=128) for f in frames]
    images[0].save(out, save_all=True, append_images=images[1:], duration=max(1, round(1000 / fps)), loop=0,
                   optimize=True)
    return out


def metaworld_specs() -> SimpleNamespace:
    """The two specs :func:`~paco_torchrl.training.make_agent` reads, without building an env.

    Examples:
        >>> metaworld_specs().observation_spec["observation"].shape
        torch.Size([39])
    """
    from torchrl.data import Bounded, Composite, Unbounded

    from paco_torchrl.envs.metaworld import ACTION_DIM, OBS_DIM

    return SimpleNamespace(
        observation_spec=Composite(observation=Unbounded((OBS_DIM,))),
        action_spec=Bounded(-1.0, 1.0, (ACTION_DIM,)),
    )


@torch.no_grad()
def record_task(actor, env_kwargs: dict, task_id: int, num_tasks: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """One deterministic episode of ``actor`` on a rendering single-task env: ``(frames, success so far)``.

    ``env_kwargs`` are those of :class:`~paco_torchrl.envs.metaworld.MetaWorldTaskEnv`, with
    ``render_kwargs``. The frames come from TorchRL's ``PixelRenderTransform`` + ``VideoRecorder``.
    """
    from torchrl.envs import Compose, TransformedEnv
    from torchrl.envs.utils import ExplorationType, set_exploration_type
    from torchrl.record import PixelRenderTransform, VideoRecorder

    from paco_torchrl.envs.metaworld import MetaWorldVecEnv

    sink = FrameSink()
    recorder = VideoRecorder(sink, tag="rollout", make_grid=False, skip=1)
    env = TransformedEnv(MetaWorldVecEnv([env_kwargs], [task_id], num_tasks), Compose(PixelRenderTransform(), recorder))
    recorder.obs.clear()  # the spec check rendered a frame
    try:
        with set_exploration_type(ExplorationType.DETERMINISTIC):
            rollout = env.rollout(steps, actor, break_when_any_done=False)
        recorder.dump()
    finally:
        env.close()
    success = rollout.get(("next", "success")).reshape(-1).cummax(0).values.numpy()
    frames = sink.videos["rollout"].numpy()
    return frames, np.concatenate([[False], success])  # the first frame is the reset


def record_run_video(
    run_dir: str | Path,
    out: str | Path,
    *,
    tasks: Sequence[str] | None = None,
    steps: int = 150,
    fps: int = 30,
    size: int = 160,
    seed: int = 0,
    camera: str | None = None,
) -> Path:
    """GIF / MP4 of a Meta-World run's final policy, one deterministic episode per task, side by side.

    Args:
        run_dir: a run directory (``config.yaml``, ``checkpoint.pt``).
        out: ``.gif`` or ``.mp4`` path.
        tasks: task names of the run (default: all).
        steps: episode length.
        fps: frames per second of the animation.
        size: frame width and height.
        seed: seed of the episode's goal.
        camera: Meta-World camera name (default: MuJoCo's free camera).
    """
    setup_rendering()
    from paco_torchrl.envs.metaworld import _benchmark_goals
    from paco_torchrl.training import load_checkpoint, load_config, make_agent, task_names

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise FileNotFoundError(f"no config.yaml in {run_dir}")
    cfg = load_config(run_dir / "config.yaml", ["resume=null"])
    if cfg.env.benchmark == "toy":
        raise ValueError("videos need a Meta-World run (the toy env does not render)")
    names = list(task_names(cfg))
    chosen = list(tasks) if tasks else names
    chosen = [t if t in names or f"{t}-v3" not in names else f"{t}-v3" for t in chosen]
    unknown = [t for t in chosen if t not in names]
    if unknown:
        raise ValueError(f"task {unknown[0]!r} is not a task of this run ({', '.join(names)})")
    torch.set_num_threads(int(cfg.threads) if cfg.threads is not None else 1)
    goals = _benchmark_goals(cfg.env.benchmark, int(cfg.seed))
    render = {"render_mode": "rgb_array", "width": size, "height": size, "camera_name": camera}

    def env_kwargs(task: str) -> dict:
        return dict(tasks=goals[task], max_episode_steps=steps, reward_function_version=cfg.env.reward_function_version,
                    seed=(seed, names.index(task)), render_kwargs=render)

    agent = make_agent(cfg, metaworld_specs(), torch.device("cpu"))
    agent.loss.load_state_dict(load_checkpoint(run_dir / "checkpoint.pt")["loss"])
    clips, successes = [], []
    for task in chosen:
        frames, success = record_task(agent.actor, env_kwargs(task), names.index(task), len(names), steps)
        clips.append(frames)
        successes.append(success)
    return write_animation(tile_clips(clips, chosen, successes), out, fps)
