"""Face tracks from speech, text, emotions and face captures (ARKit's 52 curves, head and eye rotations).

`speech` (pocketsphinx phonemes -> visemes -> curves, blinks, head motion from loudness and pitch), `tts` (espeak-ng
text to speech), `emotion` (seven expression presets), `livelink` (Live Link Face CSV), `inputs` (the command-line
options that combine them with a body motion).
"""

FACE_FILES = ".csv (Live Link Face), .json or .npz (dreamavatar face curves)"  # what --face reads
