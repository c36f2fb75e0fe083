"""Reference images fitted to a tool's limits: padding to an aspect ratio, and a data URI
squeezed under a byte cap (Runway's 5 MB, here a small cap on a noisy image) without leaving
the aspect-ratio range on the way."""

from __future__ import annotations

import io
import random
from functools import partial

import pytest
from PIL import Image

from vidpipe.review.reference_sets.images import PAD_COLOUR, jpeg_within, pad_to_aspect


def noise(size: tuple[int, int], seed: int = 7) -> Image.Image:
    rng = random.Random(seed)
    return Image.frombytes(
        "RGB", size, bytes(rng.randrange(256) for _ in range(3 * size[0] * size[1]))
    )


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1000, 200), (1000, 500)),  # 5:1 -> 2:1, grey above and below
        ((201, 1000), (500, 1000)),  # 1:5 -> 1:2
        ((1001, 500), (1001, 501)),  # just over 2: one row of padding, ratio now below 2
        ((1000, 500), (1000, 500)),  # exactly 2: left as it is
        ((640, 480), (640, 480)),
    ],
)
def test_pad_to_aspect(size, expected):
    image = Image.new("RGB", size, (10, 200, 10))
    padded = pad_to_aspect(image, 0.5, 2.0)
    assert padded.size == expected
    assert 0.5 <= padded.width / padded.height <= 2.0
    if expected == size:
        assert padded is image
    else:  # the image whole, and grey exactly where it is not
        colours = dict((colour, count) for count, colour in padded.getcolors())
        assert colours == {
            (10, 200, 10): size[0] * size[1],
            PAD_COLOUR: expected[0] * expected[1] - size[0] * size[1],
        }


def test_jpeg_within_a_byte_cap_keeps_the_aspect_range():
    fit = partial(pad_to_aspect, min_ratio=0.5, max_ratio=2.0)
    image = fit(noise((601, 300)))  # 601x301: inside, barely; shrinking must keep it inside
    cap = 40_000
    first = jpeg_within(image, cap, 90, fit)
    assert len(first.data_uri()) <= cap
    with Image.open(io.BytesIO(first.data), formats=["JPEG"]) as decoded:
        assert decoded.size == (first.width, first.height)
        assert max(decoded.size) < 601  # noise at this cap needed a smaller image
        assert 0.5 <= decoded.width / decoded.height <= 2.0
    assert jpeg_within(image, cap, 90, fit).data == first.data  # the same steps every time
    # Under a cap it already meets, the image keeps its size and the first quality.
    roomy = jpeg_within(noise((200, 150)), 200_000, 90)
    assert (roomy.width, roomy.height) == (200, 150) and len(roomy.data_uri()) <= 200_000
