"""`generate`: stage 0 (body-guided initialisation, cached), stage 1 (canonical avatar by SDS under the skeleton of
the same camera), stage 2 (animatable avatar: a new pose from the pose sampler each step) unless static.

Checkpoints hold the model, the optimiser, the random states and the step, so a resumed run on CPU reaches the same
result as an uninterrupted one with the same seed, however it was stopped: Ctrl-C during a step's computation
discards that step (its random draws included) and saves the state of the step boundary before it; Ctrl-C during the
update, the bookkeeping or a checkpoint write waits for the end of the step; a killed process resumes from its last
checkpoint (they are written atomically). A NaN/Inf step rolls back to the last good state and halves the learning
rate once; a second one stops the run with a message naming the command that continues it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Optional

import torch

from dreamavatar.body import body_for
from dreamavatar.body.base import BodyModel, BodyOutput
from dreamavatar.body.skeleton import a_pose
from dreamavatar.errors import UserError
from dreamavatar.field.avatar import AvatarField
from dreamavatar.field.background import Background
from dreamavatar.images import side_by_side, to_uint8
from dreamavatar.io import atomic_image
from dreamavatar.render import render_avatar
from dreamavatar.run_config import GenerateConfig
from dreamavatar.run_dir import PREVIEW_AZIMUTHS, RunDir
from priors.base import PosePrior
from renderers.cameras import Cameras, CameraRanges, sample_cameras

log = logging.getLogger(__name__)
TURNTABLE_BAKE_FRAMES = 12  # from this many turntable frames on, bake the field first (it pays from about 7)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("device=cuda but no CUDA GPU is visible: use device=cpu (or device=auto)")
    return torch.device(name)


def load_prior_for(cfg: GenerateConfig, device: torch.device) -> PosePrior:
    """The configured prior. Stable Diffusion on a CPU (a minute or more per step) runs only when asked for by name
    (`device=cpu`, e.g. to check a set-up end to end); where `device=auto` finds no GPU it is refused."""
    from priors import load_prior
    from priors.stable_diffusion import check_source

    if cfg.prior.is_tiny:
        return load_prior(cfg.prior).to(device)
    check_source(cfg.prior.options().model)  # a missing folder is the first thing to say, on any machine
    if device.type != "cuda":
        if cfg.device != "cpu":
            raise UserError(
                f"prior {cfg.prior.name!r} is Stable Diffusion, which needs a CUDA GPU: on a CPU use the embedded "
                "prior (--prior tiny, the default), or add device=cpu to run it anyway (a minute or more per step)"
            )
        log.warning("Stable Diffusion on the CPU (device=cpu): expect a minute or more per training step")
    # the prior places its networks itself (with cpu_offload they stay in CPU memory until each one runs)
    return load_prior(replace(cfg.prior, guidance={**cfg.prior.guidance, "device": str(device)}))


def shell_quote(text: str) -> str:
    """`text` as one shell word on one line (bash's $'...' when it holds a newline)."""
    import shlex

    if "\n" not in text and "\r" not in text:
        return shlex.quote(text)
    return "$'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r") + "'"


def _in_steps(schedule: Optional[list[float]], steps: int) -> Optional[list[float]]:
    """[start_step, start_value, end_value, end_step] with steps in (0, 1] read as fractions of `steps`."""
    if schedule is None or len(schedule) != 4:
        return schedule
    to_step = lambda v: v * steps if 0 < v <= 1 else v  # noqa: E731
    return [to_step(schedule[0]), schedule[1], schedule[2], to_step(schedule[3])]


@dataclass
class StepResult:
    loss: float
    grad_norm: float
    stage: int
    shape: float = 0.0  # the body-silhouette terms (dreamavatar.train.shape)


class Trainer:
    """Owns the body, prior, avatar field, background and optimiser of one run."""

    def __init__(
        self,
        cfg: GenerateConfig,
        run: RunDir,
        prior: Optional[PosePrior] = None,
        body: Optional[BodyModel] = None,
        progress: bool = True,
    ) -> None:
        if not cfg.prompt.strip():
            raise UserError('the prompt is empty: give a description, e.g. dreamavatar generate "a knight in armour"')
        if cfg.train.precision not in ("fp32", "fp16", "bf16"):
            raise UserError(f"train.precision={cfg.train.precision}: use fp32, bf16 or fp16")
        self.cfg, self.run, self.progress = cfg, run, progress
        self.device = resolve_device(cfg.device)
        torch.manual_seed(cfg.seed)
        self.body = body if body is not None else body_for(cfg)
        with torch.no_grad():
            self.canonical: BodyOutput = self.body.canonical()
        from dreamavatar.condition import body_extent

        self.height, self.center_y = body_extent(self.body)
        self.prior = prior if prior is not None else load_prior_for(cfg, self.device)
        if cfg.train.freeze_prior and self.device.type == "cpu":
            from dreamavatar.train.frozen import freeze_denoiser

            freeze_denoiser(self.prior)
        self.spec = cfg.spec  # what the prompt asks for: conditions the tiny prior, shapes the body, frees room
        self.avatar = AvatarField(cfg.avatar).to(self.device)
        self.avatar.set_spec(self.spec, self.canonical)
        self.background = Background(cfg.background).to(self.device) if cfg.train.background == "mlp" else None
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.step = 0
        self.lr_scale = 1.0
        self.rolled_back = False
        self.history: list[dict[str, float]] = []
        self.seconds = 0.0
        self.optimizer = self._make_optimizer()
        self._pose_sampler = None
        self.sds_cfg, self.shape_cfg = self._scaled_schedules(cfg)
        self._holding = False  # inside a step's update: Ctrl-C waits for the step boundary
        self._interrupted = False

    @staticmethod
    def _scaled_schedules(cfg: GenerateConfig):
        """Copies of the SDS and shape configs whose schedule steps given as fractions (<= 1) are turned into steps
        of this run."""
        import copy

        sds, shape = copy.deepcopy(cfg.sds), copy.deepcopy(cfg.shape)
        sds.t_max_schedule = _in_steps(sds.t_max_schedule, cfg.train.steps)
        shape.inside_schedule = _in_steps(shape.inside_schedule, cfg.train.steps)
        shape.outside_schedule = _in_steps(shape.outside_schedule, cfg.train.steps)
        return sds, shape

    # ---- set-up -------------------------------------------------------------------------------------------------
    def _make_optimizer(self) -> torch.optim.Optimizer:
        t = self.cfg.train
        grid = list(self.avatar.canonical.grid.parameters())
        grid_ids = {id(p) for p in grid}
        rest = [p for p in self.avatar.parameters() if id(p) not in grid_ids]
        if self.background is not None:
            rest += list(self.background.parameters())
        groups = [
            {"params": grid, "lr": t.grid_lr * self.lr_scale, "base_lr": t.grid_lr},
            {"params": rest, "lr": t.lr * self.lr_scale, "base_lr": t.lr},
        ]
        return torch.optim.Adam(groups, betas=tuple(t.betas), eps=1e-15)

    def initialize(self, state: dict[str, Any] | None = None) -> None:
        """Stage 0 (cached per body), unless a checkpoint (`state`, or the run's last) is resumed."""
        from dreamavatar.field.init import initialize

        state = state if state is not None else self.run.load_checkpoint()
        if state is not None:
            self.load_state(state)
            log.info("resumed %s at step %d", self.run.root, self.step)
            return
        res = initialize(self.avatar, self.canonical, self.cfg.init, body_name=self.cfg.body, progress=self.progress)
        log.info("stage 0: %s in %.1f s", "reused cache" if res.cached else "fitted", res.seconds)
        self.avatar.to(self.device)

    @property
    def pose_sampler(self):
        if self._pose_sampler is None:
            from dreamavatar.motion import PoseSampler

            self._pose_sampler = PoseSampler()
        return self._pose_sampler

    def background_fn(self):
        """The learned background network, or the prior's plain colour (`PosePrior.background`)."""
        if self.background is not None:
            return self.background
        return self.prior.background.to(self.device)

    # ---- one step -------------------------------------------------------------------------------------------------
    def stage_of(self, step: int) -> int:
        t = self.cfg.train
        return 1 if t.static or step < int(t.animate_from * t.steps) else 2

    def sample_cameras(self, batch: int) -> tuple[Cameras, torch.Tensor]:
        c = self.cfg.train.cameras
        ranges = CameraRanges(tuple(c.radius), tuple(c.polar_deg), tuple(c.azimuth_deg), tuple(c.fov_deg))
        return sample_cameras(batch, self.cfg.train.resolution, ranges, (0.0, self.center_y, 0.0), self.generator)

    def sample_poses(self, batch: int, stage: int) -> torch.Tensor:
        if stage == 1:
            return a_pose(batch)
        poses = self.pose_sampler.sample(batch, generator=self.generator).float()
        keep_canonical = torch.rand(batch, generator=self.generator) < self.cfg.train.canonical_prob
        poses[keep_canonical] = a_pose(int(keep_canonical.sum()))
        return poses

    def train_step(self, step: int) -> StepResult:
        from dreamavatar.condition import render_condition

        t = self.cfg.train
        stage = self.stage_of(step)
        if t.occupancy_every and (step % t.occupancy_every == 0 or self.avatar.extent is None):
            from dreamavatar.field.extent import density_extent

            self.avatar.set_extent(density_extent(self.avatar, self.canonical))
        cams, azimuths = self.sample_cameras(t.batch)
        poses = self.sample_poses(t.batch, stage)
        with torch.no_grad():
            out = self.canonical if stage == 1 else self.body(poses)
        cond = render_condition(cams, out)[0].to(self.device)
        with self.render_precision():
            rendered = render_avatar(self.avatar, out, cams.to(self.device), self.background_fn(), t.ray_step,
                                     perturb=True, early_stop=t.early_stop)  # fmt: skip
        prompts = self.prior.conditions(self.cfg.prompt, azimuths.tolist(), spec=self.spec)
        sds = self.prior.sds(rendered["rgb"], cond, prompts, self.sds_cfg, generator=self.generator, step=step)
        shape = self.shape_term(step, cams, out, rendered["opacity"])
        self.optimizer.zero_grad(set_to_none=True)
        (sds.loss + shape).backward()
        return StepResult(float(sds.loss.detach()), float(sds.grad_norm.mean()), stage, float(shape.detach()))

    def render_precision(self):
        """Autocast for the avatar's rendering (`train.precision` fp16 | bf16, CUDA only); fp32 otherwise. The
        prior runs in its own dtype (`prior.guidance.dtype`, fp16 on CUDA by default)."""
        import contextlib

        p = self.cfg.train.precision
        if p == "fp32" or self.device.type != "cuda":
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype={"fp16": torch.float16, "bf16": torch.bfloat16}[p])

    def shape_term(self, step: int, cams: Cameras, out: BodyOutput, opacity: torch.Tensor) -> torch.Tensor:
        """The body-silhouette terms of `dreamavatar.train.shape` (zero when both weights are off)."""
        from dreamavatar.train.shape import body_masks, shape_loss

        w_in, w_out = self.shape_cfg.weights(step)
        if w_in == 0 and w_out == 0:
            return opacity.new_zeros(())
        inside, outside = body_masks(cams, out, self.shape_cfg.margin, self.avatar.loose)
        return shape_loss(opacity, inside, outside, w_in, w_out)

    def _finite(self, res: StepResult) -> bool:
        if not math.isfinite(res.loss) or not math.isfinite(res.grad_norm):
            return False
        return all(p.grad is None or bool(torch.isfinite(p.grad).all()) for g in self.optimizer.param_groups
                   for p in g["params"])  # fmt: skip

    # ---- state ----------------------------------------------------------------------------------------------------
    def rng_state(self) -> dict[str, Any]:
        """Every random stream a step draws from (the sampler's generator, torch's global CPU and CUDA streams)."""
        return {
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None,
        }

    def set_rng_state(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(state["cuda_rng"])

    def state(self) -> dict[str, Any]:
        """The checkpoint: plain tensors, numbers, strings and containers only (read back with weights_only=True)."""
        return {
            "step": self.step,
            "avatar": self.avatar.state_dict(),
            "background": self.background.state_dict() if self.background is not None else None,
            "background_color": None if self.background is not None else self.background_fn().tolist(),
            "optimizer": self.optimizer.state_dict(),
            **self.rng_state(),
            "lr_scale": self.lr_scale,
            "rolled_back": self.rolled_back,
            "history": self.history,
            "seconds": self.seconds,
            "extent": self.avatar.extent,  # the occupancy's density extent, so a resumed run samples alike
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint. The learning rates and betas are the config's (a resumed run may change them,
        see `dreamavatar generate --help`); a changed learning rate also forgets an earlier NaN roll-back, since
        the user chose the rate."""
        from dreamavatar.avatar import load_weights

        self.step = int(state["step"])
        load_weights(self.avatar, state["avatar"], self.run.checkpoint)
        self.avatar.set_extent(state.get("extent"))
        if self.background is not None and state.get("background") is not None:
            load_weights(self.background, state["background"], self.run.checkpoint)
        self.lr_scale = float(state.get("lr_scale", 1.0))
        self.rolled_back = bool(state.get("rolled_back", False))
        self.optimizer = self._make_optimizer()
        wanted = [(g["base_lr"], g["betas"]) for g in self.optimizer.param_groups]
        try:
            self.optimizer.load_state_dict(state["optimizer"])
        except Exception as e:  # parameter groups of another architecture
            raise UserError(
                f"checkpoint {self.run.checkpoint} does not match the run's config.yaml ({' '.join(str(e).split())[:160]})"
                ": restore the config.yaml it was trained with, or start again with another --out"
            ) from None
        if any(g["base_lr"] != lr for g, (lr, _) in zip(self.optimizer.param_groups, wanted)):
            self.lr_scale, self.rolled_back = 1.0, False
        for g, (lr, betas) in zip(self.optimizer.param_groups, wanted):
            g["base_lr"], g["betas"], g["lr"] = lr, betas, lr * self.lr_scale
        self.set_rng_state(state)
        self.history = list(state.get("history", []))
        self.seconds = float(state.get("seconds", 0.0))

    def save(self) -> None:
        self.run.save_checkpoint(self.state())

    def roll_back(self) -> None:
        """After a NaN/Inf step: back to the last checkpoint (or stage 0) with half the learning rate, once."""
        step = self.step
        if self.rolled_back:
            t = self.cfg.train
            lr, grid_lr = t.lr * self.lr_scale / 2, t.grid_lr * self.lr_scale / 2
            raise UserError(
                f"training diverged (NaN/Inf) again at step {step} after halving the learning rate: continue from the "
                f"last checkpoint with a lower one: dreamavatar generate {shell_quote(self.cfg.prompt)} --out "
                f"{shell_quote(str(self.run.root))} --resume train.lr={lr:.3g} train.grid_lr={grid_lr:.3g}"
            )
        state = self.run.load_checkpoint()
        if state is not None:
            self.load_state(state)
        else:
            self.initialize()
        self.rolled_back = True
        self.lr_scale *= 0.5
        self.optimizer = self._make_optimizer()
        log.warning("NaN/Inf at step %d: rolled back to step %d with learning rate x%.2f", step, self.step,
                    self.lr_scale)  # fmt: skip

    # ---- the loop -------------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _step_boundaries(self):
        """While training, Ctrl-C raises KeyboardInterrupt at once during a step's computation (nothing it changed
        is kept) but waits for the end of `_held()` sections (the update and the checkpoint), so an interrupted run
        always stops at a step boundary. A second Ctrl-C inside a section stops at once without saving."""
        if threading.current_thread() is not threading.main_thread():
            yield  # signal handlers belong to the main thread (e.g. a run inside a worker thread)
            return

        def on_sigint(signum, frame):
            if self._holding and not self._interrupted:
                self._interrupted = True
                return
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGINT, on_sigint)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    @contextlib.contextmanager
    def _held(self):
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
        if self._interrupted:
            raise KeyboardInterrupt

    def fit(self) -> None:
        from tqdm import tqdm

        t = self.cfg.train
        bar = tqdm(total=t.steps, initial=self.step, desc="generate", file=sys.stderr, disable=not self.progress,
                   ascii=True, dynamic_ncols=True)  # fmt: skip
        boundary, phase = self.rng_state(), "boundary"  # phase: where a Ctrl-C lands
        try:
            with self._step_boundaries():
                while self.step < t.steps:
                    boundary, phase = self.rng_state(), "compute"
                    t0 = time.perf_counter()
                    res = self.train_step(self.step)
                    with self._held():
                        phase = "update"
                        if not self._finite(res):
                            self.roll_back()
                            bar.n = self.step
                            phase = "boundary"
                            continue
                        self.optimizer.step()
                        self.step += 1
                        self.seconds += time.perf_counter() - t0
                        self.history.append({"step": self.step, "grad_norm": res.grad_norm, "loss": res.loss,
                                             "shape": res.shape})  # fmt: skip
                        bar.update(1)
                        bar.set_postfix(stage=res.stage, grad=f"{res.grad_norm:.3f}", shape=f"{res.shape:.4f}",
                                        refresh=False)  # fmt: skip
                        if t.preview_every and self.step % t.preview_every == 0:
                            self.write_preview()
                        if self.step % t.checkpoint_every == 0 or self.step == t.steps:
                            self.save()
                        phase = "boundary"
        except KeyboardInterrupt:
            bar.close()
            if phase == "update":  # a second Ctrl-C inside an update: that state is half-made, keep the last save
                print(f"interrupted: resume with --resume --out {self.run.root} (from its last checkpoint)",
                      file=sys.stderr)  # fmt: skip
                raise
            if phase == "compute":  # nothing but random draws changed since the boundary: forget them
                self.set_rng_state(boundary)
            self.save()
            print(f"interrupted at step {self.step}: resume with --resume --out {self.run.root}", file=sys.stderr)
            raise
        finally:
            bar.close()  # before any error message, so the message is the last line
            self._holding = self._interrupted = False

    # ---- outputs --------------------------------------------------------------------------------------------------
    def view_cameras(self, azimuths: list[float], size: int) -> Cameras:
        """Level cameras framing the canonical body from `azimuths` (degrees), size x size px."""
        from dreamavatar.condition import azimuth_cameras

        return azimuth_cameras(azimuths, size, self.height, self.center_y)

    @torch.no_grad()
    def render_views(
        self, azimuths: list[float], size: int, out: BodyOutput | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Renders and skeleton images of the avatar (canonical pose by default) from `view_cameras`.
        Returns (rgb V x 3 x H x W, skeletons V x 3 x H x W)."""
        from dreamavatar.condition import render_condition

        out = out if out is not None else self.canonical
        cams = self.view_cameras(azimuths, size)
        rgb = render_avatar(self.avatar, out, cams.to(self.device), self.background_fn(), self.cfg.train.ray_step)["rgb"]
        return rgb.cpu(), render_condition(cams, out)[0]

    def write_preview(self) -> None:
        """The views at `PREVIEW_AZIMUTHS`, each beside its skeleton, in one row: previews/step_NNNNNN.png."""
        rgb, skel = self.render_views(list(PREVIEW_AZIMUTHS), self.cfg.train.preview_size)
        row = side_by_side([side_by_side([rgb[i], skel[i]]) for i in range(len(rgb))])
        atomic_image(to_uint8(row), self.run.previews / f"step_{self.step:06d}.png")

    @torch.no_grad()
    def write_turntable(self) -> None:
        """turntable.mp4: the canonical avatar turning once. From the baked grid, as `animate` renders, once there
        are enough frames to repay the bake (48 frames at 128 px: bake 3.0 s + 8.6 s against 28.5 s from the NeRF,
        PSNR 40 dB against its frames)."""
        from dreamavatar.field.bake import bake_avatar
        from renderers.video import write_video

        n = self.cfg.train.turntable_frames
        baked = bake_avatar(self.avatar, self.canonical) if n >= TURNTABLE_BAKE_FRAMES else None
        cams = self.view_cameras([360.0 * a / n for a in range(n)], self.cfg.train.turntable_size).to(self.device)
        rgb = render_avatar(self.avatar, self.canonical, cams, self.background_fn(), self.cfg.train.ray_step,
                            baked=baked)["rgb"]  # fmt: skip
        write_video(self.run.turntable, [to_uint8(f) for f in rgb.cpu()], fps=30)

    def summary(self) -> dict[str, Any]:
        tail = [h["grad_norm"] for h in self.history[-50:]]
        return {
            "prompt": self.cfg.prompt,
            "prior": self.cfg.prior.name,
            "body": self.cfg.body,
            "spec": self.cfg.spec.to_dict(),  # the outfit and body the run was made for (its body shaped anny)
            "preset": self.cfg.preset,
            "seed": self.cfg.seed,
            "steps": self.step,
            "static": self.cfg.train.static,
            "seconds": round(self.seconds, 2),
            "final_loss": sum(tail) / len(tail) if tail else None,  # mean ||eps_hat - eps|| over the last 50 steps
            "loss_kind": "mean ||eps_hat - eps|| (SDS) over the last 50 steps",
            "rolled_back": self.rolled_back,
        }
