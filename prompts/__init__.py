"""The prompt library: named prompt sets (YAML files shipped in this package), the view-dependent prompt rule, and
the outfit-and-body spec a prompt becomes (`prompts.spec`, parsed by `prompts.parse.parse_prompt` with the tables of
`prompts.lexicon`, `prompts.colors` and `prompts.bodies`).

    >>> view_prompt("a chef", 180)
    'back view of a chef'
    >>> [p.text for p in load_prompt_set("avatars").subset("iou")][:1]
    ['a man in a black business suit']

A prompt set is a YAML file (`name`, `description`, `prompts`: each a string or a mapping with `text` and optional
`iou`, `top`, `bottom`, `tags`) or a plain text file (one prompt a line; blank lines and lines starting with `#` are
skipped). A tool may allow keys of its own in the mappings (`extra_keys`): they are kept, uninterpreted, in
`Prompt.extras` (`dreamavatar batch` reads seed, steps, motion and the like from there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence

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
    leaves the body's silhouette). top/bottom: named garment colours, for the colour benchmark. tags: free labels.
    extras: the entry's keys that the loader was told to keep (`load_prompt_set(..., extra_keys=...)`)."""

    text: str
    iou: bool = False
    top: Optional[str] = None
    bottom: Optional[str] = None
    tags: tuple[str, ...] = ()
    extras: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


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


_KEYS = ("text", "iou", "top", "bottom", "tags")


def _parse_entry(entry: object, where: str, extra_keys: Sequence[str] = ()) -> Prompt:
    if isinstance(entry, str):
        entry = {"text": entry}
    if not isinstance(entry, dict) or not isinstance(entry.get("text"), str) or not entry["text"].strip():
        raise PromptError(f"{where}: each prompt is a string or a mapping with a non-empty `text`")
    unknown = set(entry) - set(_KEYS) - set(extra_keys)
    if unknown:
        raise PromptError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}: use {', '.join((*_KEYS, *extra_keys))}"
        )
    return Prompt(
        text=entry["text"].strip(),
        iou=bool(entry.get("iou", False)),
        top=entry.get("top"),
        bottom=entry.get("bottom"),
        tags=tuple(entry.get("tags", ()) or ()),
        extras={k: entry[k] for k in extra_keys if k in entry},
    )


def _load_text(path: Path) -> PromptSet:
    """One prompt a line; blank lines and `#` comments skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise PromptError(f"{path} is not a readable text file ({e}): give a UTF-8 file, one prompt a line") from None
    texts = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not texts:
        raise PromptError(f"{path} holds no prompts: write one prompt a line")
    return PromptSet(path.stem, f"prompts from {path.name}", tuple(Prompt(t) for t in texts))


def load_prompt_set(name_or_path: str, extra_keys: Sequence[str] = ()) -> PromptSet:
    """A built-in set by name (see `list_prompt_sets`), a YAML file with `name`, `description` and `prompts`, or a
    plain text file (any other existing file: one prompt a line). `extra_keys`: keys allowed in the YAML entries
    besides the prompt library's own, kept in `Prompt.extras`."""
    import yaml

    path = Path(name_or_path)
    if path.is_file() and path.suffix not in (".yaml", ".yml"):
        return _load_text(path)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        path = PROMPT_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise PromptError(
            f"no prompt set {name_or_path!r}: use one of {', '.join(list_prompt_sets())}, a .yaml file or a text "
            "file (one prompt a line)"
        )
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise PromptError(f"{path} is not valid YAML ({str(e).splitlines()[0]}): fix the file") from None
    if not isinstance(data, dict) or not isinstance(data.get("prompts"), list) or not data["prompts"]:
        raise PromptError(f"{path}: expected a mapping with a non-empty `prompts` list")
    prompts = tuple(_parse_entry(e, f"{path} prompt {i}", extra_keys) for i, e in enumerate(data["prompts"]))
    return PromptSet(str(data.get("name", path.stem)), str(data.get("description", "")), prompts)


def prompt_texts(name_or_path: str, subset: Optional[str] = None) -> list[str]:
    """Shortcut: the prompt strings of a set (optionally a subset, e.g. "iou")."""
    s = load_prompt_set(name_or_path)
    return (s.subset(subset) if subset else s).texts


__all__: Sequence[str] = (
    "Prompt", "PromptError", "PromptSet", "VIEWS", "VIEW_AZIMUTH", "list_prompt_sets", "load_prompt_set",
    "prompt_texts", "view_name", "view_prompt", "view_prompts",
)  # fmt: skip
