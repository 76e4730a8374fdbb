"""The prompt library: named prompt sets (YAML files shipped in this package), the view-dependent prompt rule, and
the outfit-and-body spec a prompt becomes (`prompts.spec`, parsed by `prompts.parse.parse_prompt` with the tables of
`prompts.lexicon`, `prompts.colors` and `prompts.bodies`).

    >>> view_prompt("a chef", 180)
    'back view of a chef'
    >>> [p.text for p in load_prompt_set("avatars").subset("iou")][:1]
    ['a man in a black business suit']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

from prompts.errors import PromptError

PROMPT_DIR = Path(__file__).parent
VIEWS = ("front", "side", "back")
VIEW_AZIMUTH: dict[str, float] = {"front": 0.0, "side": 90.0, "back": 180.0}  # a camera for each named view


# ---- view-dependent prompts ---------------------------------------------------------------------------------------
def view_name(azimuth_deg: float) -> str:
    """"front" for azimuth mod 360 in [-45, 45), "back" in [135, 225), "side" otherwise (0 = facing the camera).

    The one view rule: SDS prompts, the tiny prior's training captions and the command line's named views
    (`VIEW_AZIMUTH`) all follow it."""
    a = float(azimuth_deg) % 360.0
    if a >= 315.0 or a < 45.0:
        return "front"
    if 135.0 <= a < 225.0:
        return "back"
    return "side"


def view_prompt(prompt: str, azimuth_deg: float) -> str:
    """"front view of P", "side view of P" or "back view of P" for a camera at `azimuth_deg` around the body."""
    return f"{view_name(azimuth_deg)} view of {prompt}"


def view_prompts(prompt: str, azimuths_deg: Iterable[float]) -> list[str]:
    """One view prompt per camera azimuth (accepts a tensor, array or list of degrees)."""
    return [view_prompt(prompt, float(a)) for a in azimuths_deg]


# ---- prompt sets --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prompt:
    """text: the prompt. iou: fits the silhouette-IoU benchmark (no skirt, dress, long hair or loose coat that
    leaves the body's silhouette). top/bottom: named garment colours, for the colour benchmark. tags: free labels."""

    text: str
    iou: bool = False
    top: Optional[str] = None
    bottom: Optional[str] = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class PromptSet:
    name: str
    description: str
    prompts: tuple[Prompt, ...] = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.prompts)

    def __iter__(self) -> Iterator[Prompt]:
        return iter(self.prompts)

    @property
    def texts(self) -> list[str]:
        return [p.text for p in self.prompts]

    def subset(self, flag_or_tag: str) -> "PromptSet":
        """The prompts with a true boolean field of that name (e.g. "iou") or carrying that tag."""
        keep = tuple(p for p in self.prompts if getattr(p, flag_or_tag, None) is True or flag_or_tag in p.tags)
        return PromptSet(f"{self.name}:{flag_or_tag}", self.description, keep)


def list_prompt_sets() -> list[str]:
    """Names of the built-in prompt sets."""
    return sorted(p.stem for p in PROMPT_DIR.glob("*.yaml"))


def _parse_entry(entry: object, where: str) -> Prompt:
    if isinstance(entry, str):
        entry = {"text": entry}
    if not isinstance(entry, dict) or not isinstance(entry.get("text"), str) or not entry["text"].strip():
        raise PromptError(f"{where}: each prompt is a string or a mapping with a non-empty `text`")
    unknown = set(entry) - {"text", "iou", "top", "bottom", "tags"}
    if unknown:
        raise PromptError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}: use text, iou, top, bottom, tags")
    return Prompt(
        text=entry["text"].strip(),
        iou=bool(entry.get("iou", False)),
        top=entry.get("top"),
        bottom=entry.get("bottom"),
        tags=tuple(entry.get("tags", ()) or ()),
    )


def load_prompt_set(name_or_path: str) -> PromptSet:
    """A built-in set by name (see `list_prompt_sets`) or a YAML file with `name`, `description` and `prompts`."""
    import yaml

    path = Path(name_or_path)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        path = PROMPT_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise PromptError(
            f"no prompt set {name_or_path!r}: use one of {', '.join(list_prompt_sets())} or a .yaml file path"
        )
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise PromptError(f"{path} is not valid YAML ({str(e).splitlines()[0]}): fix the file") from None
    if not isinstance(data, dict) or not isinstance(data.get("prompts"), list) or not data["prompts"]:
        raise PromptError(f"{path}: expected a mapping with a non-empty `prompts` list")
    prompts = tuple(_parse_entry(e, f"{path} prompt {i}") for i, e in enumerate(data["prompts"]))
    return PromptSet(str(data.get("name", path.stem)), str(data.get("description", "")), prompts)


def prompt_texts(name_or_path: str, subset: Optional[str] = None) -> list[str]:
    """Shortcut: the prompt strings of a set (optionally a subset, e.g. "iou")."""
    s = load_prompt_set(name_or_path)
    return (s.subset(subset) if subset else s).texts


__all__: Sequence[str] = (
    "Prompt", "PromptError", "PromptSet", "VIEWS", "VIEW_AZIMUTH", "list_prompt_sets", "load_prompt_set",
    "prompt_texts", "view_name", "view_prompt", "view_prompts",
)  # fmt: skip
