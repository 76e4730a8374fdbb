"""SMPL (`--body smpl`) from the user's own licensed model file, with linear blend skinning written here in torch.

Nothing of SMPL ships with dreamavatar: the user registers at https://smpl.is.tue.mpg.de, downloads the model and
points `smpl_dir=` (or `--smpl-dir`, or the DREAMAVATAR_SMPL_DIR environment variable) at a folder holding
SMPL_NEUTRAL.npz (or SMPL_MALE.npz / SMPL_FEMALE.npz). Official `.pkl` files need chumpy, which does not import on
Python 3.11: `convert_pkl_to_npz` (or `python -m dreamavatar.body.smpl_body FILE.pkl`) writes the `.npz` without it.

SMPL's frame is already ours (y up, faces +z, left +x); the body is shifted so that its rest pelvis joint is at the
origin. SMPL has no face rig: of the face curves it applies `jawOpen` only, as a rotation of its lower face about a
jaw hinge (`face.JawHinge`), and the head rotation; the other 51 curves and eye rotations are ignored.
"""

from __future__ import annotations

import os
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import roma
import torch

from dreamavatar.body.base import BodyModel, BodyOutput
from dreamavatar.body.face import CURVE_INDEX, FacePose, JawHinge, apply_head, fold_offsets
from dreamavatar.body.skeleton import NUM_JOINTS, PARENTS, a_pose, forward_kinematics
from dreamavatar.errors import UserError
from dreamavatar.io import atomic_write

ENV_VAR = "DREAMAVATAR_SMPL_DIR"
SMPL_URL = "https://smpl.is.tue.mpg.de"
NUM_VERTICES = 6890
REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")

# OpenPose COCO-18 keypoints: ("joint", SMPL joint ids averaged) or ("vertex", SMPL vertex id) for the face.
OPENPOSE_SOURCES: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("vertex", (332,)), ("joint", (16, 17)), ("joint", (17,)), ("joint", (19,)), ("joint", (21,)),
    ("joint", (16,)), ("joint", (18,)), ("joint", (20,)), ("joint", (2,)), ("joint", (5,)), ("joint", (8,)),
    ("joint", (1,)), ("joint", (4,)), ("joint", (7,)), ("vertex", (6260,)), ("vertex", (2800,)),
    ("vertex", (4071,)), ("vertex", (583,)),
)  # fmt: skip


def _missing_message(where: str) -> str:
    return (
        f"SMPL model not found ({where}): register at {SMPL_URL}, download the SMPL model, save it as "
        f"SMPL_NEUTRAL.npz (see the README's 'SMPL body' section for .pkl files) in a folder and pass that folder "
        f"with --smpl-dir (smpl_dir=) or set {ENV_VAR}; or use the free default body with --body anny"
    )


def find_model_file(smpl_dir: str | os.PathLike | None = None, gender: str = "neutral") -> Path:
    """The user's SMPL .npz: `smpl_dir` (a folder or the file itself) or $DREAMAVATAR_SMPL_DIR. Raises UserError."""
    given = smpl_dir if smpl_dir not in (None, "") else os.environ.get(ENV_VAR, "")
    if not given:
        raise UserError(_missing_message(f"no folder given and {ENV_VAR} is not set"))
    path = Path(given).expanduser()
    if path.is_file():
        if path.suffix == ".pkl":
            raise UserError(_pkl_message(path, f"SMPL_{gender.upper()}.npz"))
        return path
    if not path.is_dir():
        raise UserError(_missing_message(f"{path} does not exist"))
    stem = f"SMPL_{gender.upper()}"
    for folder in (path, path / "smpl"):
        if (folder / f"{stem}.npz").is_file():
            return folder / f"{stem}.npz"
    for folder in (path, path / "smpl"):
        pkls = sorted(folder.glob(f"{stem}.pkl")) + sorted(folder.glob("basic*odel*.pkl"))
        if pkls:
            raise UserError(_pkl_message(pkls[0], f"{stem}.npz"))
    raise UserError(_missing_message(f"no {stem}.npz in {path}"))


def _pkl_message(path: Path, npz_name: str) -> str:
    return (
        f"{path} is a .pkl SMPL file, which needs chumpy (broken on Python 3.11): convert it once with "
        f"`python -m dreamavatar.body.smpl_body {path} {path.parent / npz_name}` and use the .npz"
    )


def load_model_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read and normalise an SMPL .npz: posedirs to V x 3 x 207, J_regressor dense, kintree parents checked."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files if k in REQUIRED_KEYS}
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read SMPL model {path} ({e}): re-save it as a plain .npz of dense arrays") from None
    missing = [k for k in REQUIRED_KEYS if k not in arrays]
    if missing:
        raise UserError(f"SMPL model {path} lacks {missing}: use the official SMPL model converted to .npz")
    V = arrays["v_template"].shape[0]
    posedirs = arrays["posedirs"]
    if posedirs.ndim == 2:  # (207, V*3) as smplx stores it in memory, or (V*3, 207)
        posedirs = posedirs.T if posedirs.shape[0] == 207 else posedirs
        posedirs = posedirs.reshape(V, 3, -1)
    arrays["posedirs"] = posedirs
    if arrays["J_regressor"].shape != (NUM_JOINTS, V):
        raise UserError(f"SMPL model {path}: J_regressor has shape {arrays['J_regressor'].shape}, not 24 x {V}")
    parents = arrays["kintree_table"][0].astype(np.int64)
    parents[0] = -1
    if tuple(parents.tolist()) != PARENTS:
        raise UserError(f"SMPL model {path} is not the 24-joint SMPL chain: use an SMPL (not SMPL-X/H) model file")
    return arrays


class SMPLBody(BodyModel):
    """SMPL's LBS body (shape blend shapes, pose blend shapes, 24 joints) in torch, from the user's own model file."""

    name = "smpl"

    @dataclass
    class Config:
        smpl_dir: str = ""  # folder with SMPL_NEUTRAL.npz (or the file); empty: $DREAMAVATAR_SMPL_DIR
        gender: str = "neutral"  # neutral | male | female
        num_betas: int = 10

    def __init__(self, cfg: SMPLBody.Config | None = None, **overrides) -> None:
        super().__init__()
        cfg = cfg or SMPLBody.Config()
        for k, v in overrides.items():
            if not hasattr(cfg, k):
                raise UserError(f"unknown smpl option {k!r}: use smpl_dir, gender or num_betas")
            setattr(cfg, k, v)
        arrays = load_model_arrays(find_model_file(cfg.smpl_dir, cfg.gender))
        V = arrays["v_template"].shape[0]
        bad = [i for kind, ids in OPENPOSE_SOURCES if kind == "vertex" for i in ids if i >= V]
        if bad:
            raise UserError(f"SMPL model has {V} vertices, not {NUM_VERTICES}: use the official SMPL model file")
        f32 = torch.float32
        num_betas = min(cfg.num_betas, arrays["shapedirs"].shape[-1])
        self.register_buffer("v_template", torch.as_tensor(arrays["v_template"], dtype=f32), persistent=False)
        self.register_buffer(
            "shapedirs", torch.as_tensor(arrays["shapedirs"][..., :num_betas], dtype=f32), persistent=False
        )  # V x 3 x S
        self.register_buffer("posedirs", torch.as_tensor(arrays["posedirs"], dtype=f32), persistent=False)
        self.register_buffer("J_regressor", torch.as_tensor(arrays["J_regressor"], dtype=f32), persistent=False)
        self.register_buffer("weights", torch.as_tensor(arrays["weights"], dtype=f32), persistent=False)
        self.register_buffer("_faces", torch.as_tensor(arrays["f"].astype(np.int64)), persistent=False)
        self.num_betas = num_betas
        self.register_buffer("betas", torch.zeros(1, num_betas), persistent=False)
        rest, joints = self._shaped(self.betas)
        canon_inv, joint_canon_inv = self._canonical_inverse(rest.double(), joints.double())
        self.register_buffer("rest_vertices", rest[0], persistent=False)  # V x 3, pelvis at the origin
        self.register_buffer("rest_joints", joints[0], persistent=False)  # 24 x 3, T-pose
        self.register_buffer("_canonical_inv", canon_inv.to(f32), persistent=False)  # 1 x V x 4 x 4
        self.register_buffer("_canonical_joint_inv", joint_canon_inv.to(f32), persistent=False)  # 1 x 24 x 4 x 4
        nose = self.rest_vertices[OPENPOSE_SOURCES[0][1][0]]
        self.jaw = JawHinge.from_rest(self.rest_vertices, self.weights[:, 15], self.rest_joints[15], nose)

    @property
    def faces(self) -> torch.Tensor:  # F x 3
        return self._faces

    def _shaped(self, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Shaped rest vertices B x V x 3 and joints B x 24 x 3, shifted so the pelvis joint is at the origin."""
        v = self.v_template + torch.einsum("bs,vcs->bvc", betas, self.shapedirs)
        j = torch.einsum("jv,bvc->bjc", self.J_regressor, v)
        return v - j[:, :1], j - j[:, :1]

    def _pose_offsets(self, pose: torch.Tensor) -> torch.Tensor:
        """Pose blend shapes B x V x 3 from the 23 non-root joint rotations (R - I, row-major)."""
        R = roma.rotvec_to_rotmat(pose[:, 1:])
        feature = (R - torch.eye(3, dtype=R.dtype, device=R.device)).reshape(pose.shape[0], -1)  # B x 207
        return torch.einsum("bk,vck->bvc", feature, self.posedirs.to(R.dtype))

    def _skin(
        self, pose: torch.Tensor, joints: torch.Tensor, transl: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """LBS with the pose blend shapes folded into the per-vertex transform; joints: (B x) 24 x 3 rest joints.

        Returns (joints B x 24 x 3, joint transforms B x 24 x 4 x 4, per-vertex transforms B x V x 4 x 4 taking
        the shaped rest vertex (no pose offsets) to its posed place).
        """
        posed_joints, T = forward_kinematics(pose, joints, transl)
        A = torch.einsum("vj,bjik->bvik", self.weights.to(T.dtype), T)
        # A [I | P] = [A_R | A_t + A_R P]: the pose offsets P act before the blend
        shift = (A[..., :3, :3] @ self._pose_offsets(pose).unsqueeze(-1)).squeeze(-1)
        A = torch.cat([A[..., :3, :3], (A[..., :3, 3] + shift).unsqueeze(-1)], -1)
        bottom = torch.zeros_like(A[..., :1, :])
        bottom[..., 3] = 1
        return posed_joints, T, torch.cat([A, bottom], -2)

    def _canonical_inverse(self, rest: torch.Tensor, joints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inverses of the canonical (A-pose) per-vertex B x V x 4 x 4 and per-joint B x 24 x 4 x 4 transforms."""
        _, T, A = self._skin(a_pose(rest.shape[0]).to(rest), joints, None)
        return torch.linalg.inv(A), torch.linalg.inv(T)

    def forward(
        self,
        pose: torch.Tensor,
        transl: torch.Tensor | None = None,
        shape: torch.Tensor | None = None,
        face: FacePose | None = None,
    ) -> BodyOutput:
        """pose: B x 24 x 3 axis-angle; transl: B x 3; shape: betas B x S (default: the model's, zeros); face: the head
        rotation and `jawOpen` (the jaw hinge of the default shape) are applied, the rest of it ignored."""
        if pose.ndim != 3 or pose.shape[1:] != (NUM_JOINTS, 3):
            raise UserError(f"pose must be B x 24 x 3 axis-angle (SMPL order), got {tuple(pose.shape)}")
        pose = pose.to(self.v_template)
        transl = None if transl is None else transl.to(pose).reshape(-1, 3)
        face = None if face is None else face.to(pose)
        pose = apply_head(pose, None if face is None else face.head)
        if shape is None:
            rest, joints = self.rest_vertices[None], self.rest_joints
            canon_inv, joint_canon_inv = self._canonical_inv, self._canonical_joint_inv
        else:
            betas = shape.to(pose).reshape(-1, shape.shape[-1])[:, : self.num_betas]
            betas = torch.nn.functional.pad(betas, (0, self.num_betas - betas.shape[1])).expand(pose.shape[0], -1)
            rest, joints = self._shaped(betas)
            canon_inv, joint_canon_inv = self._canonical_inverse(rest, joints)
        posed_joints, T, A = self._skin(pose, joints, transl)
        if face is not None and face.curves is not None:
            jaw = face.curves.reshape(-1, len(CURVE_INDEX))[:, CURVE_INDEX["jawOpen"]].expand(pose.shape[0])
            A = fold_offsets(A, self.jaw.index, self.jaw.offsets(rest[0], jaw))
        vertices = (A[..., :3, :3] @ rest.unsqueeze(-1)).squeeze(-1) + A[..., :3, 3]
        return BodyOutput(
            vertices=vertices,
            faces=self._faces,
            joints=posed_joints,
            keypoints=self._keypoints(posed_joints, vertices),
            weights=self.weights,
            joint_transforms=T @ joint_canon_inv,
            vertex_transforms=A @ canon_inv,
        )

    def _keypoints(self, joints: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor:
        out = [(joints if kind == "joint" else vertices)[:, list(ids)].mean(1) for kind, ids in OPENPOSE_SOURCES]
        return torch.stack(out, 1)


class _PickledStub:
    """Stands in for chumpy's classes while unpickling an official SMPL .pkl, keeping their state."""

    def __init__(self, *args, **kwargs) -> None:
        self.args = args

    def __setstate__(self, state) -> None:
        self.state = state


class _NoChumpyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if module.startswith("chumpy"):
            return _PickledStub
        if module.startswith("scipy.sparse"):  # old pickles name private modules (scipy.sparse.csc)
            import scipy.sparse

            return getattr(scipy.sparse, name)
        return super().find_class(module, name)


def _as_array(value) -> np.ndarray:
    """A plain array from a numpy array, a scipy sparse matrix or a chumpy object's pickled state."""
    if isinstance(value, _PickledStub):
        state = getattr(value, "state", None)
        if isinstance(state, dict):
            for key in ("x", "a"):
                if isinstance(state.get(key), np.ndarray):
                    return state[key]
            arrays = [v for v in state.values() if isinstance(v, np.ndarray)]
            if len(arrays) == 1:
                return arrays[0]
        raise UserError("cannot read a chumpy value in the .pkl: convert it with chumpy installed (README, SMPL body)")
    if hasattr(value, "toarray"):  # scipy sparse (J_regressor)
        return value.toarray()
    return np.asarray(value)


def convert_pkl_to_npz(pkl_path: str | os.PathLike, npz_path: str | os.PathLike) -> Path:
    """Convert an official SMPL .pkl to the .npz SMPLBody reads, without chumpy. Returns the written path."""
    with open(pkl_path, "rb") as fh:
        data = _NoChumpyUnpickler(fh, encoding="latin1").load()
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise UserError(f"{pkl_path} lacks {missing}: is it an SMPL model file from {SMPL_URL}?")
    arrays = {k: _as_array(data[k]) for k in REQUIRED_KEYS}
    arrays["f"] = arrays["f"].astype(np.int64)
    arrays["kintree_table"] = arrays["kintree_table"].astype(np.int64)
    npz_path = Path(npz_path)
    return atomic_write(npz_path, lambda f: np.savez(f, **arrays))


if __name__ == "__main__":  # python -m dreamavatar.body.smpl_body SMPL.pkl SMPL_NEUTRAL.npz
    if len(sys.argv) != 3:
        print("usage: python -m dreamavatar.body.smpl_body MODEL.pkl OUT.npz", file=sys.stderr)
        raise SystemExit(2)
    try:
        print(convert_pkl_to_npz(sys.argv[1], sys.argv[2]))
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
