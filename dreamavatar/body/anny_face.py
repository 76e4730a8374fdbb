"""anny's 52 ARKit facial actions as per-vertex offsets in our world axes, read once per shape and cached on disk.

anny builds its facial actions (`anny/models/facial_actions.py`, targets under `anny/data/faceunits01/`) as linear
blend shapes added to the rest mesh before skinning. Building a model with `facial_actions="all"` costs a separate
first build (about 20 s, once per machine, in anny's own cache); its rest mesh with all curves at 0 is the body
`AnnyBody` already uses, so the offset of action k is rest(curve k = 1) - rest(all 0), turned into our axes. Only the
vertices any action moves are kept (about a fifth of the mesh), so applying the curves is a small matrix product.
The offsets are in the rest frame (world axes, before skinning); the body folds them into its skinning transforms.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from pathlib import Path

import torch

from dreamavatar.body.face import ARKIT_NAMES

log = logging.getLogger(__name__)

MOVES = 1e-5  # metres: an offset below this is no offset


Frame = tuple[tuple[float, float, float], ...]  # anny -> world rotation, rows


def _build(phenotype: tuple[float, ...], names: tuple[str, ...], to_world: Frame) -> dict[str, torch.Tensor]:
    """index K (vertices any action moves), basis 52 x K x 3 (metres, world axes, rest frame), float32.
    phenotype: anny's phenotype values named by `names`."""
    import anny

    log.warning("building anny's facial actions once (about 20 s; cached under anny's cache folder)")
    model = anny.Anny(rig="cmu_mb", skinning_method="lbs", facial_actions="all")
    labels = list(model.facial_action_labels)
    if tuple(labels) != ARKIT_NAMES:
        raise RuntimeError(f"anny's facial actions changed ({labels[:4]}...): update dreamavatar.body.face.ARKIT_NAMES")
    kwargs = dict(zip(names, phenotype, strict=True))
    with torch.no_grad():
        base = model(phenotype_kwargs=kwargs)["rest_vertices"][0]
        basis = torch.stack([
            model(phenotype_kwargs=kwargs, facial_actions={name: 1.0})["rest_vertices"][0] - base for name in labels
        ]) @ torch.tensor(to_world, dtype=base.dtype).T  # fmt: skip
    index = torch.nonzero((basis.norm(dim=-1) > MOVES).any(0)).squeeze(-1)
    return {"index": index.long(), "basis": basis[:, index].to(torch.float32).contiguous()}


def _cache_file(phenotype: tuple[float, ...]) -> Path:
    import anny
    from anny.paths import get_anny_cache_path

    shape = hashlib.sha1(repr(phenotype).encode()).hexdigest()[:8]
    code = hashlib.sha1((anny.__version__ + Path(__file__).read_text()).encode()).hexdigest()[:12]
    return get_anny_cache_path() / "dreamavatar" / f"anny_face_{shape}_{code}.pt"


@functools.lru_cache(maxsize=4)
def anny_face_data(phenotype: tuple[float, ...], names: tuple[str, ...], to_world: Frame) -> dict[str, torch.Tensor]:
    """`_build`, cached on disk (see `dreamavatar.io.cached_tensors`)."""
    from dreamavatar.io import cached_tensors

    return cached_tensors(_cache_file(phenotype), lambda: _build(phenotype, names, to_world), "anny face")
