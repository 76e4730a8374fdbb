"""Body words -> anny's six phenotype values, on anny's own calibrated scales (pure Python).

anny's `age` is not linear in years. Its package calibrates it against WHO growth data (`anny/data/shape_calibration/
{boys,girls}.pth`, read by `anny.shape_distribution.SimpleShapeDistribution`): the piecewise-linear map below takes
years to anny's age (4 y = 0.215, 11 y = 0.415, 16 y = 0.67, 18 y = 0.77, 64 y = 0.83, 110 y = 1.0), so a child of 8
is 0.33, a teenager of 15 is 0.62, an adult of 30 is 0.79 and an old person of 75 is 0.87. The same files give, per
age and sex, Beta distributions of height, weight and muscle; their means are the starting body of a person of that
age ("a man" = gender 0, 30 years: 1.78 m; "a woman": 1.64 m), and words such as "tall" or "fat" shift from there.
A prompt that names nobody keeps the default body (0.5 everywhere, 1.63 m). gender: 0 = male, 1 = female (anny's
`PHENOTYPE_VARIATIONS` order; tests/test_body_words.py measures it on the mesh). tests/test_bodies.py checks these
tables against anny's files.
"""

from __future__ import annotations

from typing import Optional, Sequence

ADULT_YEARS = 30.0

# anny.shape_distribution.MorphologicalAgeMapping: years -> anny age (the same in boys.pth and girls.pth).
AGE_YEARS = (0.0, 1.0, 4.0, 11.0, 16.0, 18.0, 64.0, 110.0)
AGE_ANNY = (0.0, 0.05, 0.215, 0.415, 0.67, 0.77, 0.83, 1.0)

# Means alpha / (alpha + beta) of the calibrated Beta distributions at each anchor of anny's age (boys, girls).
_ANCHORS_HEIGHT = (0.0, 0.05, 0.215, 0.415, 0.67)
_ANCHORS = (0.0, 0.05, 0.215, 0.415, 0.67, 0.77, 0.83, 1.0)
MEANS = {
    "height": (_ANCHORS_HEIGHT, (0.269, 0.475, 0.326, 0.377, 0.391), (0.234, 0.471, 0.348, 0.470, 0.347)),
    "weight": (_ANCHORS, (0.615, 0.967, 0.429, 0.238, 0.255, 0.362, 0.587, 0.591),
               (0.634, 0.967, 0.712, 0.539, 0.565, 0.585, 0.730, 0.736)),
    "muscle": (_ANCHORS, (0.557, 0.033, 0.481, 0.192, 0.467, 0.338, 0.473, 0.548),
               (0.499, 0.035, 0.542, 0.478, 0.493, 0.437, 0.187, 0.189)),
}  # fmt: skip


def interp(x: float, xs: Sequence[float], ys: Sequence[float]) -> float:
    """Piecewise-linear interpolation, constant outside the anchors."""
    if x <= xs[0]:
        return float(ys[0])
    for i in range(1, len(xs)):
        if x <= xs[i]:
            t = (x - xs[i - 1]) / (xs[i] - xs[i - 1])
            return float(ys[i - 1] + t * (ys[i] - ys[i - 1]))
    return float(ys[-1])


def anny_age(years: float) -> float:
    """Years of age -> anny's age value in [0, 1]."""
    return interp(years, AGE_YEARS, AGE_ANNY)


def years_of(age: float) -> float:
    """anny's age value -> years (the inverse map)."""
    return interp(age, AGE_ANNY, AGE_YEARS)


def person_body(years: Optional[float], gender: Optional[float]) -> dict[str, float]:
    """The average body of a person of that age (years; None = an adult of 30) and gender (None = 0.5), in anny's
    values: gender, age, and the calibrated mean height, weight and muscle (boys' and girls' means mixed by gender)."""
    g = 0.5 if gender is None else min(max(float(gender), 0.0), 1.0)
    age = anny_age(ADULT_YEARS if years is None else float(years))
    body = {"gender": g, "age": age, "proportions": 0.5}
    for name, (xs, boys, girls) in MEANS.items():
        body[name] = (1 - g) * interp(age, xs, boys) + g * interp(age, xs, girls)
    return body


__all__ = ["ADULT_YEARS", "AGE_ANNY", "AGE_YEARS", "MEANS", "anny_age", "interp", "person_body", "years_of"]
