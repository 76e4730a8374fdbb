"""Slot-structured text conditioning for the tiny prior: a word vocabulary, a tiny caption parser and an encoder.

A caption such as "front view of a woman with long black hair wearing a red t-shirt and blue trousers" is parsed
into fixed slots (view, subject, hair kind/colour, top kind/colour, bottom kind/colour, shoes colour, skin), each
filled with one vocabulary word (or NONE). Every word of the prompt also fills one of `free_tokens` free positions
in order, so words outside the slot grammar still reach the model; unknown words map to UNK. The encoder turns the
B x L ids into B x L x D embeddings (slot embedding + word embedding, then a small MLP), which the UNet cross-attends.
Binding colours to the noun they modify is what makes unseen colour combinations compose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn

COLORS: tuple[str, ...] = (
    "black", "white", "gray", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "cyan",
)  # fmt: skip
VIEWS: tuple[str, ...] = ("front", "side", "back")
SUBJECTS: tuple[str, ...] = ("man", "woman", "person")
HAIR_KINDS: tuple[str, ...] = ("bald", "short", "long")
TOP_KINDS: tuple[str, ...] = ("t-shirt", "long-sleeved", "tank")
BOTTOM_KINDS: tuple[str, ...] = ("trousers", "shorts", "skirt")
SKINS: tuple[str, ...] = ("light", "tan", "dark")

# Words that name a garment slot -> (slot whose colour a preceding colour word fills, kind value or None).
NOUNS: dict[str, tuple[str, str | None]] = {
    "hair": ("hair", None),
    "t-shirt": ("top", "t-shirt"), "tshirt": ("top", "t-shirt"), "shirt": ("top", "long-sleeved"),
    "sweater": ("top", "long-sleeved"), "top": ("top", "tank"),
    "trousers": ("bottom", "trousers"), "pants": ("bottom", "trousers"), "jeans": ("bottom", "trousers"),
    "shorts": ("bottom", "shorts"), "skirt": ("bottom", "skirt"),
    "shoes": ("shoes", None), "sneakers": ("shoes", None), "boots": ("shoes", None),
}  # fmt: skip
SYNONYMS = {"grey": "gray", "blond": "yellow", "blonde": "yellow", "men": "man", "women": "woman", "girl": "woman",
            "boy": "man", "backside": "back", "lady": "woman", "guy": "man", "people": "person"}  # fmt: skip

SLOTS: tuple[str, ...] = (
    "view", "subject", "hair_kind", "hair_color", "top_kind", "top_color", "bottom_kind", "bottom_color",
    "shoes_color", "skin",
)  # fmt: skip
PAD, UNK, NONE = "<pad>", "<unk>", "<none>"
_FILLER = ("view", "of", "a", "an", "the", "with", "wearing", "and", "in", "skin", "sleeves", "long", "short")


def build_vocab() -> list[str]:
    """The fixed word list (ids are positions). Special tokens first."""
    words = [PAD, UNK, NONE]
    for group in (VIEWS, SUBJECTS, HAIR_KINDS, COLORS, TOP_KINDS, BOTTOM_KINDS, SKINS, tuple(NOUNS), _FILLER):
        words += [w for w in group if w not in words]
    return words


def tokenize(prompt: str) -> list[str]:
    """Lower-case words (hyphenated words kept whole), synonyms folded."""
    words = re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", prompt.lower())
    return [SYNONYMS.get(w, w) for w in words]


def parse_slots(prompt: str) -> dict[str, str]:
    """Fill the slots from a caption; a colour word binds to the next garment noun within three words."""
    words = tokenize(prompt)
    slots: dict[str, str] = {}
    for i, w in enumerate(words):
        if w in VIEWS and i + 1 < len(words) and words[i + 1] == "view":
            slots["view"] = w
        elif w in SUBJECTS and "subject" not in slots:
            slots["subject"] = w
        elif w in SKINS and i + 1 < len(words) and words[i + 1] == "skin":
            slots["skin"] = w
        elif w == "bald":
            slots["hair_kind"] = "bald"
        elif w in NOUNS:
            slot, kind = NOUNS[w]
            if slot == "hair":
                prev = words[max(0, i - 3) : i]
                slots["hair_kind"] = "long" if "long" in prev else "short"
            elif kind is not None:
                if kind == "t-shirt" or w != "shirt":
                    slots[f"{slot}_kind"] = kind
                else:  # "shirt": "long-sleeved shirt" or a plain shirt -> long sleeves
                    slots[f"{slot}_kind"] = "long-sleeved"
            for c in reversed(words[max(0, i - 3) : i]):
                if c in COLORS:
                    slots[f"{slot}_color"] = c
                    break
        elif w == "long-sleeved" and "top_kind" not in slots:
            slots["top_kind"] = "long-sleeved"
        elif w == "tank":
            slots["top_kind"] = "tank"
    return slots


@dataclass
class TextConfig:
    dim: int = 64  # embedding width D (the UNet's cross-attention dim)
    free_tokens: int = 24  # word positions after the slots


class TinyTextEncoder(nn.Module):
    """Prompts -> B x (len(SLOTS) + free_tokens) x dim embeddings. Deterministic, made by the project, no download."""

    def __init__(self, cfg: TextConfig | None = None):
        super().__init__()
        self.cfg = cfg or TextConfig()
        self.vocab = build_vocab()
        self.index = {w: i for i, w in enumerate(self.vocab)}
        d = self.cfg.dim
        self.word = nn.Embedding(len(self.vocab), d)
        self.position = nn.Embedding(len(SLOTS) + self.cfg.free_tokens, d)
        self.mlp = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 2 * d), nn.SiLU(), nn.Linear(2 * d, d))

    @property
    def length(self) -> int:
        return len(SLOTS) + self.cfg.free_tokens

    def token_id(self, word: str) -> int:
        """Vocabulary id of a (folded) word; unknown words -> UNK."""
        return self.index.get(SYNONYMS.get(word, word), self.index[UNK])

    def ids(self, prompts: list[str]) -> torch.Tensor:
        """Prompts -> B x L long ids: slot values (NONE where empty) then the prompt's words (PAD after the end)."""
        rows = []
        for p in prompts:
            slots = parse_slots(p)
            row = [self.token_id(slots[s]) if s in slots else self.index[NONE] for s in SLOTS]
            words = [self.token_id(w) for w in tokenize(p)][: self.cfg.free_tokens]
            row += words + [self.index[PAD]] * (self.cfg.free_tokens - len(words))
            rows.append(row)
        return torch.tensor(rows, dtype=torch.long)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids: B x L -> B x L x D."""
        pos = torch.arange(ids.shape[1], device=ids.device)
        h = self.word(ids) + self.position(pos)[None]
        return h + self.mlp(h)
