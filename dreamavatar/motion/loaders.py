"""Read motion files into `Motion`: AMASS npz, AIST++ pkl, SMPL-X 265-column npy, BVH and the project's own npz/json.

The project's own files and AMASS SMPL-X files (jaw -> `jawOpen`, eye rotations) also give the motion a face track.
Every loader returns world-frame motions (y up, the body faces +z) in SMPL's 24-joint axis-angle format.
Translation convention (all formats): x and z are made relative to the first frame, so a clip starts above the
origin; y is shifted once for the whole clip so its lowest sole point stands on the floor of the rest skeleton
(vertical motion such as jumps is kept). Formats without a translation (SMPL-X arrays) are grounded frame by frame
instead, since nothing records where the body was.
"""

from __future__ import annotations

import logging
import math
import pickle
from pathlib import Path
from typing import Any, Callable

import numpy as np
import roma
import torch

from dreamavatar.errors import UserError
from dreamavatar.motion.face import track_from_arrays
from dreamavatar.motion.ground import anchor_translation, ground_each_frame
from dreamavatar.motion.motion import DEFAULT_FPS, Motion, single_thread

log = logging.getLogger(__name__)

AIST_FPS = 60.0
SMPLX_COLUMNS = 265
FORMATS = "a built-in name, .npz (AMASS or dreamavatar), .json (dreamavatar), .pkl (AIST++), .npy (SMPL-X 265 columns) or .bvh"
SMPLX_AMASS_COLUMNS = 165  # AMASS SMPL-X poses: root 0:3, body 3:66, jaw 66:69, eyes 69:75, hands 75:165


def load_motion(spec: str | Path, fps: float | None = None) -> Motion:
    """A built-in motion by name, or a motion file by path (format from extension and keys).

    fps: frame rate of files that do not record one (SMPL-X arrays); default 30. Recorded rates are kept: use
    `Motion.resample` to change them.
    """
    from dreamavatar.motion.builtin import builtin_motions

    if fps is not None and not float(fps) > 0:  # also NaN
        raise UserError(f"--fps {fps} is not positive: give the file's frame rate, e.g. --fps 30")
    spec = str(spec)
    builtins = builtin_motions()
    if spec in builtins:
        return builtins[spec].make()
    path = Path(spec).expanduser()
    if not path.is_file():
        raise UserError(
            f"motion {spec!r} is neither a built-in motion nor an existing file: "
            f"run `dreamavatar motions` for the built-in names, or give the path of {FORMATS}"
        )
    loader = _LOADERS.get(path.suffix.lower())
    if loader is None:
        raise UserError(f"motion file {path} has an unknown format {path.suffix!r}: give {FORMATS}")
    with single_thread():
        motion = loader(path, DEFAULT_FPS if fps is None else float(fps))
    if len(motion) == 0:
        raise UserError(f"motion file {path} holds no frames: give a file with at least one frame")
    _check_finite(path, "poses", motion.poses)
    _check_finite(path, "translation", motion.transl)
    return motion


# ---------------------------------------------------------------- npz: AMASS or dreamavatar


def _load_npz(path: Path, fps: float) -> Motion:
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as e:  # zip errors, pickled object arrays, truncated files
        raise UserError(f"motion file {path} is not a readable npz ({e}): give an AMASS or dreamavatar npz") from None
    poses = data.get("poses")
    if poses is not None and poses.ndim == 3 and "transl" in data and "fps" in data:
        return _from_project(path, data)
    if poses is not None and "trans" in data:
        return _from_amass(path, data, fps)
    if "face_curves" in data:
        raise UserError(f"motion file {path} holds face curves but no body poses: give it with --face instead")
    raise UserError(
        f"motion file {path} has keys {sorted(data)}: expected AMASS keys (poses F x >=66, trans F x 3, "
        "mocap_framerate) or dreamavatar keys (poses F x 24 x 3, transl F x 3, fps, name)"
    )


def _from_project(path: Path, data: dict[str, np.ndarray]) -> Motion:
    poses = _array(path, "poses", data["poses"], (None, 24, 3))
    transl = _array(path, "transl", data["transl"], (poses.shape[0], 3))
    name = str(data["name"]) if "name" in data else path.stem
    fps = float(np.asarray(data["fps"]))
    if not math.isfinite(fps) or fps <= 0:
        raise UserError(f"motion file {path} has fps {fps}: expected a positive frame rate")
    return Motion(poses, transl, fps, name, track_from_arrays(path, data, fps))


def _load_json(path: Path, fps: float) -> Motion:
    import json

    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"motion file {path} is not readable JSON ({e}): fix it or write it with Motion.save") from None
    if not isinstance(data, dict) or "poses" not in data:
        hint = "give it with --face instead" if isinstance(data, dict) and "face" in data else "see the README"
        raise UserError(f"motion file {path} has no `poses` (F x 24 x 3): {hint}")
    try:
        arrays = {k: np.asarray(data[k], dtype=np.float64) for k in ("poses", "transl") if k in data}
    except (TypeError, ValueError):
        raise UserError(f"motion file {path}: poses/transl must be lists of numbers") from None
    arrays.setdefault("transl", np.zeros((len(arrays["poses"]), 3)))
    rest = {k: v for k, v in data.items() if k not in arrays}
    return _from_project(path, {**rest, **arrays, "fps": data.get("fps", fps)})


def _from_amass(path: Path, data: dict[str, np.ndarray], fps: float) -> Motion:
    raw = _array(path, "poses", data["poses"], (None, None))
    if raw.shape[1] < 66:
        raise UserError(
            f"motion file {path}: poses has {raw.shape[1]} columns, expected F x >=66 (SMPL, SMPL-H or SMPL-X)"
        )
    transl = _array(path, "trans", data["trans"], (raw.shape[0], 3))
    poses = _smpl_from_columns(raw, 72 if raw.shape[1] == 72 else 66)
    rate = data.get("mocap_framerate", data.get("mocap_frame_rate"))
    if rate is None:
        log.warning("%s records no mocap_framerate: assuming %g fps", path, fps)
    else:
        fps = float(rate)
    # AMASS is z-up: -90 degrees about x takes z-up to y-up, for the body's orientation and its path alike.
    R = roma.rotvec_to_rotmat(torch.tensor([-math.pi / 2, 0.0, 0.0], dtype=torch.float64))
    poses[:, 0] = roma.rotmat_to_rotvec(R @ roma.rotvec_to_rotmat(poses[:, 0]))
    transl = transl @ R.T
    motion = _finish(poses, transl, fps, path.stem)
    motion.face = _amass_face(path, data, raw, fps)
    return motion


def _amass_face(path: Path, data: dict[str, np.ndarray], raw: torch.Tensor, fps: float):
    """SMPL-X's jaw (rotation about +x opens it) as `jawOpen` and its eye rotations, or None for SMPL/SMPL-H."""
    from dreamavatar.body.face import CURVE_INDEX, JAW_OPEN_ANGLE, NUM_CURVES
    from dreamavatar.motion.face import FaceTrack

    F = raw.shape[0]
    if "pose_jaw" in data:
        jaw = _array(path, "pose_jaw", data["pose_jaw"], (F, 3))
        eyes = _array(path, "pose_eye", data["pose_eye"], (F, 6)) if "pose_eye" in data else None
    elif raw.shape[1] == SMPLX_AMASS_COLUMNS:
        jaw, eyes = raw[:, 66:69], raw[:, 69:75]
    else:
        return None
    curves = torch.zeros(F, NUM_CURVES, dtype=torch.float64)
    curves[:, CURVE_INDEX["jawOpen"]] = (jaw[:, 0] / JAW_OPEN_ANGLE).clamp(0, 1)
    return FaceTrack(curves, fps, None, None if eyes is None else eyes.reshape(F, 2, 3))


# ---------------------------------------------------------------- pkl: AIST++


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only, so a motion file cannot run code."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("collections", "OrderedDict"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a motion file")


def _load_pkl(path: Path, fps: float) -> Motion:
    try:
        with open(path, "rb") as f:
            data = _ArrayUnpickler(f).load()
    except Exception as e:
        raise UserError(f"motion file {path} is not a readable AIST++ pkl ({e}): give a dict of numpy arrays") from None
    if not isinstance(data, dict) or not {"smpl_poses", "smpl_trans"} <= set(data):
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise UserError(
            f"motion file {path} has {keys}: expected an AIST++ dict with smpl_poses F x 72, smpl_trans F x 3, "
            "smpl_scaling"
        )
    raw = _array(path, "smpl_poses", np.asarray(data["smpl_poses"]), (None, 72))
    transl = _array(path, "smpl_trans", np.asarray(data["smpl_trans"]), (raw.shape[0], 3))
    scaling = np.asarray(data.get("smpl_scaling", 1.0), dtype=np.float64).reshape(-1)
    if scaling.size != 1 or not np.isfinite(scaling).all() or scaling[0] <= 0:
        raise UserError(f"motion file {path}: smpl_scaling is {scaling.tolist()}, expected one positive number")
    return _finish(_smpl_from_columns(raw, 72), transl / float(scaling[0]), AIST_FPS, path.stem)


# ---------------------------------------------------------------- npy: SMPL-X 265 columns


def _load_npy(path: Path, fps: float) -> Motion:
    try:
        raw = np.load(path, allow_pickle=False)
    except Exception as e:
        raise UserError(f"motion file {path} is not a readable npy ({e}): give a float array F x 265") from None
    if raw.ndim != 2 or raw.shape[1] != SMPLX_COLUMNS:
        raise UserError(
            f"motion file {path} has shape {tuple(raw.shape)}: expected SMPL-X parameters F x {SMPLX_COLUMNS} "
            "(9:12 global orientation, 12:75 body pose)"
        )
    raw = _array(path, "array", raw, (None, SMPLX_COLUMNS))
    poses = torch.zeros(raw.shape[0], 24, 3, dtype=torch.float64)
    poses[:, 0] = raw[:, 9:12]
    poses[:, 1:22] = raw[:, 12:75].reshape(-1, 21, 3)  # SMPL-X body joints 1..21 = SMPL's; no joints 22-23
    transl = ground_each_frame(poses, torch.zeros(raw.shape[0], 3, dtype=torch.float64))
    return Motion(poses, transl, fps, path.stem)


def _load_bvh(path: Path, fps: float) -> Motion:
    from dreamavatar.motion.bvh import load_bvh

    return load_bvh(path)


# ---------------------------------------------------------------- helpers

_LOADERS: dict[str, Callable[[Path, float], Motion]] = {
    ".npz": _load_npz,
    ".json": _load_json,
    ".pkl": _load_pkl,
    ".pickle": _load_pkl,
    ".npy": _load_npy,
    ".bvh": _load_bvh,
}


def _array(path: Path, key: str, a: np.ndarray, shape: tuple[int | None, ...]) -> torch.Tensor:
    """`a` as float64 after checking its shape (None = any size) and values."""
    ok = a.ndim == len(shape) and all(s is None or s == n for s, n in zip(shape, a.shape))
    if not ok or not np.issubdtype(a.dtype, np.number):
        want = " x ".join("F" if s is None else str(s) for s in shape)
        raise UserError(f"motion file {path}: {key} has shape {tuple(a.shape)} ({a.dtype}), expected {want} numbers")
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))
    _check_finite(path, key, t)
    return t


def _check_finite(path: Path | str, key: str, t: torch.Tensor) -> None:
    if not torch.isfinite(t).all():
        raise UserError(f"motion file {path}: {key} contains NaN or infinite values; give a file with finite numbers")


def _smpl_from_columns(raw: torch.Tensor, ncols: int) -> torch.Tensor:
    """F x 24 x 3 from the first `ncols` (66 or 72) axis-angle columns; missing hand joints stay zero."""
    poses = torch.zeros(raw.shape[0], 24, 3, dtype=torch.float64)
    poses.view(raw.shape[0], 72)[:, :ncols] = raw[:, :ncols]
    return poses


def _finish(poses: torch.Tensor, transl: torch.Tensor, fps: float, name: str) -> Motion:
    return Motion(poses, anchor_translation(poses, transl), fps, name)
