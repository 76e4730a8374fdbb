"""Phonemes with timings from speech, offline, by pocketsphinx 5 (its English acoustic model, phone language model and
pronouncing dictionary ship inside its wheel): phoneme recognition, or forced alignment of a known transcript.

Phones are CMU/ARPAbet symbols (AA, AE, ..., ZH) plus SIL for silence; times in seconds. pocketsphinx is optional:
`pip install 'dreamavatar[speech]'` (or `pip install pocketsphinx`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from dreamavatar.errors import UserError
from dreamavatar.face.audio import SPEECH_RATE, Audio

FRAME_RATE = 100  # pocketsphinx frames per second
INSTALL = "pip install 'dreamavatar[speech]'  (or: pip install pocketsphinx)"


@dataclass(frozen=True)
class Phone:
    phone: str  # ARPAbet without stress digits, or SIL
    start: float  # seconds
    end: float


@dataclass(frozen=True)
class RecognizerConfig:
    """pocketsphinx's phone-loop search settings: narrower beams and fewer Gaussians per frame are faster; these keep
    about 10x real time on 2 busy cores with the phones of the wide-beam settings nearly unchanged."""

    beam: float = 1e-20
    pbeam: float = 1e-10
    topn: int = 3
    lw: float = 2.0  # phone language-model weight
    pip: float = 0.3  # phone insertion probability


def _pocketsphinx():
    try:
        import pocketsphinx
    except ImportError:
        raise UserError(f"speech needs pocketsphinx, which is not installed: {INSTALL}") from None
    return pocketsphinx


@functools.lru_cache(maxsize=2)
def _phone_decoder(cfg: RecognizerConfig):
    ps = _pocketsphinx()
    return ps.Decoder(
        hmm=ps.get_model_path("en-us/en-us"), allphone=ps.get_model_path("en-us/en-us-phone.lm.bin"), lm=None,
        lw=cfg.lw, pip=cfg.pip, beam=cfg.beam, pbeam=cfg.pbeam, topn=cfg.topn, loglevel="FATAL",
    )  # fmt: skip


@functools.lru_cache(maxsize=1)
def _align_decoder():
    ps = _pocketsphinx()
    # bestpath off: pocketsphinx's own phone-alignment test needs it for a second pass to succeed; wide beams: with
    # the default ones a sentence of several seconds with pauses often finds no path through the whole transcript
    return ps.Decoder(bestpath=False, lm=None, beam=1e-200, pbeam=1e-200, wbeam=1e-200, loglevel="FATAL")


@functools.lru_cache(maxsize=1)
def dictionary() -> dict[str, tuple[str, ...]]:
    """CMU pronouncing dictionary of the wheel: lower-case word -> phones (first pronunciation)."""
    ps = _pocketsphinx()
    out: dict[str, tuple[str, ...]] = {}
    with open(ps.get_model_path("en-us/cmudict-en-us.dict"), encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and "(" not in parts[0]:
                out.setdefault(parts[0].lower(), tuple(parts[1:]))
    return out


def _clean(phone: str) -> str:
    p = re.sub(r"\d", "", phone.upper())
    return "SIL" if p in ("SIL", "+NSN+", "+SPN+", "+BREATH+", "+COUGH+", "+NOISE+", "+UM+", "+UH+", "") else p


def _decode(decoder, audio: Audio) -> None:
    import warnings

    with warnings.catch_warnings():
        # pocketsphinx calls this deprecated, but without it the cepstral-mean estimate carries over from the last
        # utterance the decoder heard, and the same sound gives slightly different phones depending on history
        warnings.simplefilter("ignore", DeprecationWarning)
        decoder.start_stream()
    decoder.start_utt()
    decoder.process_raw(audio.at_rate(SPEECH_RATE).pcm16(), no_search=False, full_utt=True)
    decoder.end_utt()


def recognize(audio: Audio, cfg: RecognizerConfig | None = None) -> list[Phone]:
    """Phones heard in `audio` (no transcript needed), in time order."""
    decoder = _phone_decoder(cfg or RecognizerConfig())
    _decode(decoder, audio)
    return [Phone(_clean(s.word), s.start_frame / FRAME_RATE, (s.end_frame + 1) / FRAME_RATE) for s in decoder.seg()]


def transcript_words(text: str) -> list[str]:
    """The words of a transcript as the dictionary spells them; UserError naming words it does not know."""
    words = re.findall(r"[a-z0-9']+", text.lower().replace("-", " "))
    words = [w.strip("'") for w in words if w.strip("'")]
    if not words:
        raise UserError(f"transcript {text!r} has no words: give the sentence that is spoken, e.g. --transcript "
                        "\"hello there\"")  # fmt: skip
    known = dictionary()
    unknown = sorted({w for w in words if w not in known})
    if unknown:
        raise UserError(f"transcript words {unknown[:6]} are not in pocketsphinx's English dictionary: spell them as "
                        "common English words, or leave out --transcript to recognise the phonemes")  # fmt: skip
    return words


def align(audio: Audio, text: str) -> list[Phone]:
    """Forced alignment of the transcript `text` to `audio`: every phone of its words, with SIL where there are
    pauses. UserError if the words cannot be fitted to the sound."""
    words = transcript_words(text)
    decoder = _align_decoder()
    try:
        decoder.set_align_text(" ".join(words))
        _decode(decoder, audio)
        decoder.set_alignment()
        _decode(decoder, audio)
        alignment = decoder.get_alignment()
    except RuntimeError as e:
        raise UserError(f"could not align the transcript to the speech ({e}): check that --transcript is what is "
                        "said, or leave it out") from None  # fmt: skip
    phones = [] if alignment is None else [
        Phone(_clean(p.name), p.start / FRAME_RATE, (p.start + p.duration) / FRAME_RATE) for p in alignment.phones()
    ]  # fmt: skip
    if not any(p.phone != "SIL" for p in phones):
        raise UserError("could not align the transcript to the speech: check that --transcript is what is said")
    return phones


def phones_for(audio: Audio, transcript: str | None = None, cfg: RecognizerConfig | None = None) -> list[Phone]:
    """Aligned phones with a transcript, recognised phones without."""
    return align(audio, transcript) if transcript else recognize(audio, cfg)


__all__ = ["Phone", "RecognizerConfig", "recognize", "align", "phones_for", "dictionary", "transcript_words", "INSTALL"]
