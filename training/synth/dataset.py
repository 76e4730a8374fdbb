"""The synthetic wardrobe: (image, OpenPose condition, spec) samples for the tiny prior, deterministic per seed.

Each sample is a pool body (`bodies.BodyPool`, realistic adults and children) in a random natural pose
(`dreamavatar.motion.PoseSampler`, global orientation zeroed so the body faces +z), standing on its own floor (the
posed body is moved up or down so its lowest point is where its canonical soles are), dressed from a random spec
(`specs.sample_spec`) by `garments.dress`, shaded per vertex by material (`shading`), and seen by a random camera
(radius 2.2-3.0 m, polar 70-110 deg, any azimuth, fov 40-50 deg) looking at the middle of the body's canonical extent
(as the SDS trainer frames a body). It is rasterised at `render_size` on the prior's plain background and
area-resampled to the prior's resolution `size`, as renders are at SDS time. The condition image is
`renderers.skeleton`'s occlusion-aware OpenPose drawing of the body alone (garments do not hide keypoints), from the
same camera, resampled the same way.

Chunks (`chunk_0000.npz`, ...) are a pure function of (seed, split, chunk index, chunk size), written atomically;
an interrupted `write_chunks` resumes. A chunk holds, for N samples:
    rgb, cond      N x size x size x 3 uint8 (image; OpenPose condition)
    labels         N x size x size uint8: what each pixel shows, an index into `garments.LABELS` (background, skin,
                   hair, then the spec's REGIONS: head, top, outer, full, bottom, feet, hands, back)
    specs          N JSON strings (`prompts.spec.Spec.to_json()`; `Spec.from_json` reads them back)
    views          N of "front" / "side" / "back" (`prompts.view_name` of the azimuth); azimuth N float32 degrees
    keypoints_uv   N x 18 x 2 float32 (OpenPose keypoints in pixels at `size`); visible N x 18 bool
    poses          N x 24 x 3 float32; body_index N int32 (the pool body)
"""

from __future__ import annotations

import logging
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from priors.tiny.prior import BACKGROUND
from training.synth.bodies import BodyPool
from training.synth.garments import LABELS, Dressed, dress
from training.synth.regions import BodyFacts, body_facts
from training.synth.shading import albedo, shade
from training.synth.specs import SPLITS, sample_spec

log = logging.getLogger(__name__)


@dataclass
class SynthConfig:
    seed: int = 0
    split: str = "train"  # "train", or "heldout": specs with colours training never sees (`specs` docstring)
    pool_size: int = 256  # bodies in the pool (its seed follows `seed` and `split`)
    render_size: int = 64  # rasterised here (what the NeRF renders), then area-resampled to `size`
    size: int = 32  # the prior's resolution
    radius: tuple[float, float] = (2.2, 3.0)
    polar_deg: tuple[float, float] = (70.0, 110.0)
    fov_deg: tuple[float, float] = (40.0, 50.0)
    background: list[float] = field(default_factory=lambda: list(BACKGROUND))  # the prior's (its config.json)
    batch: int = 32  # samples posed and drawn together


def sample_poses(n: int, g: torch.Generator) -> torch.Tensor:
    """n natural poses from `dreamavatar.motion.PoseSampler`, global orientation zeroed so the body faces +z."""
    from dreamavatar.motion import PoseSampler

    pose = PoseSampler().sample(n, generator=g).clone().float()
    pose[:, 0] = 0
    return pose


def skin_pieces(pieces_v: torch.Tensor, weights: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """Linear blend skinning of canonical garment vertices N x 3 with weights N x 24 and canonical -> posed joint
    transforms A (24 x 4 x 4). Returns N x 3."""
    T = torch.einsum("nj,jab->nab", weights, A[:, :3, :])
    return (T[..., :3] @ pieces_v.unsqueeze(-1)).squeeze(-1) + T[..., 3]


class SynthGenerator:
    """Makes chunks of samples (see the module docstring)."""

    def __init__(self, cfg: SynthConfig | None = None):
        self.cfg = cfg or SynthConfig()
        if self.cfg.split not in SPLITS:
            from dreamavatar.errors import UserError

            raise UserError(f"synth split {self.cfg.split!r}: use one of {', '.join(SPLITS)}")
        self.pool = BodyPool(self.cfg.seed * 2 + SPLITS.index(self.cfg.split) + 17, self.cfg.pool_size)
        self._facts: dict[int, BodyFacts] = {}

    def facts(self, i: int) -> BodyFacts:
        if i not in self._facts:
            pb = self.pool.get(i)
            self._facts[i] = body_facts(pb.canonical_vertices, self.pool.faces, pb.canonical_joints,
                                        pb.canonical_keypoints, self.pool.weights)  # fmt: skip
        return self._facts[i]

    def center_y(self, i: int) -> float:
        y = self.pool.get(i).canonical_vertices[:, 1]
        return float(y.max() + y.min()) / 2

    # ---- drawing ----------------------------------------------------------------------------------------------
    def render(self, idx: list[int], specs: list, poses: torch.Tensor, cams, rngs: list[random.Random]) -> dict:
        """Draw B samples: pool bodies idx, specs, poses B x 24 x 3, cameras at render size, one Random each.
        Returns rgb, cond (B x 3 x size x size in [0, 1]), labels (B x size x size long), keypoints_uv
        (B x 18 x 2 at size), visible (B x 18)."""
        from priors.tiny.prior import resize_to
        from renderers.cameras import project
        from renderers.raster import rasterize, vertex_normals
        from renderers.skeleton import render_skeletons

        cfg = self.cfg
        B = len(idx)
        with torch.no_grad():
            posed = self.pool.pose(idx, poses)
            # stand on the floor: the lowest posed vertex where the canonical soles are
            floor = torch.stack([self.pool.get(i).canonical_vertices[:, 1].min() for i in idx])
            lift = floor - posed.vertices[..., 1].amin(1)
            shift = torch.zeros(B, 3)
            shift[:, 1] = lift
            verts = posed.vertices + shift[:, None]
            kps = posed.keypoints + shift[:, None]
            faces = self.pool.faces
            normals = vertex_normals(verts, faces)
            cond, visible = render_skeletons(cams, kps, [(verts, faces)])
            uv = project(kps, cams.resized(cfg.size))[0]
            rgbs, labels = [], []
            bg = torch.tensor(cfg.background)
            for b in range(B):
                f = self.facts(idx[b])
                d: Dressed = dress(f, specs[b], rngs[b])
                vb = verts[b] + d.body_offset[:, None] * normals[b]
                all_v, all_f, all_slot, all_pos, all_n = [vb], [faces], [d.body_slot], [f.vertices], [normals[b]]
                k = vb.shape[0]
                for p in d.pieces:
                    pv = skin_pieces(p.vertices, p.weights, posed.joint_transforms[b]) + shift[b]
                    all_v.append(pv)
                    all_f.append(p.faces + k)
                    all_slot.append(torch.full((pv.shape[0],), p.slot, dtype=torch.long))
                    all_pos.append(p.vertices)
                    all_n.append(vertex_normals(pv[None], p.faces)[0])
                    k += pv.shape[0]
                V_, F_ = torch.cat(all_v), torch.cat(all_f)
                slot, pos, nrm = torch.cat(all_slot), torch.cat(all_pos), torch.cat(all_n)
                col, mat = albedo(d.looks, slot, pos)
                to_cam = torch.nn.functional.normalize(cams.centers[b][None] - V_, dim=-1)
                shaded = shade(col, mat, nrm, to_cam, pos)
                ras = rasterize(V_[None], F_, shaded, cams[b], background=bg, shading=False)
                rgbs.append(ras.rgb)
                slot_label = torch.tensor([lk.label for lk in d.looks])
                face_label = slot_label[slot[F_[:, 0]]]
                fid = ras.face[0]
                lab = torch.where(fid >= 0, face_label[fid.clamp(min=0)], torch.zeros_like(fid))
                labels.append(lab)
            rgb = torch.cat(rgbs)
            lab = torch.stack(labels)
        return {
            "rgb": resize_to(rgb, cfg.size),
            "cond": resize_to(cond, cfg.size),
            "labels": downsample_labels(lab, cfg.size),
            "keypoints_uv": uv,
            "visible": visible[0],
        }

    def chunk(self, index: int, n: int) -> dict:
        """Sample chunk `index` of `n` samples, a pure function of (cfg.seed, cfg.split, index, n)."""
        from prompts import view_name
        from renderers.cameras import CameraRanges, sample_cameras

        cfg = self.cfg
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + index * 2 + SPLITS.index(cfg.split))
        idx = torch.randint(len(self.pool), (n,), generator=g).tolist()
        specs = [sample_spec(g, cfg.split, body=self.pool.phenotypes[i]) for i in idx]
        rngs = [random.Random(int(s)) for s in torch.randint(2**62, (n,), generator=g).tolist()]
        poses = sample_poses(n, g)
        ranges = CameraRanges(cfg.radius, cfg.polar_deg, (0.0, 360.0), cfg.fov_deg)
        target = torch.tensor([[0.0, self.center_y(i), 0.0] for i in idx])
        cams, azimuth = sample_cameras(n, cfg.render_size, ranges, target=target, generator=g)
        parts = [self.render(idx[i : i + cfg.batch], specs[i : i + cfg.batch], poses[i : i + cfg.batch],
                             cams[i : i + cfg.batch], rngs[i : i + cfg.batch]) for i in range(0, n, cfg.batch)]  # fmt: skip
        r = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        return {
            "rgb": to_uint8(r["rgb"]),
            "cond": to_uint8(r["cond"]),
            "labels": r["labels"].numpy().astype(np.uint8),
            "specs": np.array([s.to_json() for s in specs]),
            "views": np.array([view_name(float(a)) for a in azimuth]),
            "azimuth": azimuth.numpy().astype(np.float32),
            "keypoints_uv": r["keypoints_uv"].numpy().astype(np.float32),
            "visible": r["visible"].numpy(),
            "poses": poses.numpy().astype(np.float32),
            "body_index": np.array(idx, dtype=np.int32),
        }


def downsample_labels(lab: torch.Tensor, size: int) -> torch.Tensor:
    """B x H x W label maps -> B x size x size: the most frequent label of each block (background loses ties)."""
    B, H, _ = lab.shape
    if H == size:
        return lab
    onehot = torch.nn.functional.one_hot(lab, len(LABELS)).permute(0, 3, 1, 2).float()
    onehot[:, 0] *= 0.99
    return torch.nn.functional.adaptive_avg_pool2d(onehot, size).argmax(1)


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """B x 3 x H x W in [0, 1] -> B x H x W x 3 uint8."""
    return (img.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def write_chunks(out_dir: str | Path, cfg: SynthConfig, num_chunks: int, chunk_size: int, gen=None,
                 progress: bool = True, only: list[int] | None = None) -> list[Path]:  # fmt: skip
    """Write chunks `chunk_0000.npz`, ... (atomically; existing ones are kept, so an interrupted run resumes).
    only: make just these chunk indices (parallel workers). Returns the paths of all num_chunks chunks."""
    from tqdm import tqdm

    from dreamavatar.io import atomic_json, atomic_write

    d = Path(out_dir)
    atomic_json(asdict(cfg), d / "synth_config.json")
    paths = [d / f"chunk_{i:04d}.npz" for i in range(num_chunks)]
    todo = [i for i, p in enumerate(paths) if not p.exists() and (only is None or i in only)]
    for i in tqdm(todo, desc="synth chunks", disable=not progress or not todo):
        gen = gen or SynthGenerator(cfg)
        data = gen.chunk(i, chunk_size)
        atomic_write(paths[i], lambda f, data=data: np.savez_compressed(f, **data))
        log.info("wrote %s", paths[i])
    return paths


def write_worker(args: tuple) -> int:
    """One of `workers` processes writing chunks k, k + workers, ... (one thread each); args = (out_dir, cfg,
    num_chunks, chunk_size, k, workers). Returns how many chunks it owns."""
    out, cfg, num_chunks, chunk_size, k, workers = args
    torch.set_num_threads(1)
    mine = [i for i in range(num_chunks) if i % workers == k]
    write_chunks(out, cfg, num_chunks, chunk_size, SynthGenerator(cfg), progress=False, only=mine)
    return len(mine)


def load_chunks(paths: list[Path]) -> dict[str, np.ndarray]:
    """Concatenate chunks into one dict of arrays."""
    parts = [dict(np.load(p)) for p in paths]
    return {k: np.concatenate([q[k] for q in parts]) for k in parts[0]}
