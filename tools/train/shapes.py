#!/usr/bin/env python3
"""Captioned toy scenes for the tiny-shapes model: one flat shape on a flat
background, 64x64 RGB, drawn at 4x and box-filtered down (anti-aliased edges).

A scene is (shape, colour, size, position, background); its caption is
    "a small red circle on the left, blue background"
    "a large green square in the center, white background"
Every attribute comes from the fixed tables below; the shape colour never
equals the background colour. Images carry a little jitter (position, size)
so no two training images of one caption are identical.

HELD-OUT captions (see heldout_captions()) never appear in training; they are
chosen by a fixed seed so that every attribute value still occurs in training,
and are listed in tools/train/heldout_captions.txt.

Everything is deterministic from the seed (numpy PCG64); PIL draws the shapes.

Usage: python tools/train/shapes.py sheet OUT.png   (a grid of samples)
       python tools/train/shapes.py heldout          (print held-out captions)
"""
import itertools
import sys

import numpy as np
from PIL import Image, ImageDraw

SIZE = 64          # output image side, pixels
SUPER = 4          # drawn at SUPER*SIZE, then box-filtered down

# sRGB 0..255. Hues far apart so the checker's nearest-colour rule is robust.
SHAPE_COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 170, 40),
    "blue": (30, 60, 220),
    "yellow": (240, 220, 30),
    "purple": (140, 40, 180),
    "orange": (250, 140, 20),
}
BACKGROUNDS = {
    "white": (245, 245, 245),
    "black": (15, 15, 15),
    "gray": (128, 128, 128),
    "blue": (30, 60, 220),
    "green": (30, 170, 40),
}
SHAPES = ("circle", "square", "triangle")
SIZES = {"small": 0.22, "large": 0.40}                        # bbox side / SIZE
POSITIONS = {"left": 0.27, "center": 0.50, "right": 0.73}     # centre x / SIZE
POSITION_WORDS = {"left": "on the left", "center": "in the center", "right": "on the right"}

# Jitter (fractions of SIZE): keeps every shape >= 2 px inside the border.
JITTER_X = 0.025
JITTER_Y = 0.05
JITTER_SIZE = 0.02

N_HELDOUT = 48
HELDOUT_SEED = 20261123


def caption(shape, colour, size, position, background):
    return f"a {size} {colour} {shape} {POSITION_WORDS[position]}, {background} background"


def all_scenes():
    """Every valid (shape, colour, size, position, background), fixed order."""
    out = []
    for shape, colour, size, position, bg in itertools.product(
            SHAPES, SHAPE_COLOURS, SIZES, POSITIONS, BACKGROUNDS):
        if colour != bg:
            out.append((shape, colour, size, position, bg))
    return out


def heldout_scenes():
    """N_HELDOUT scenes drawn with a fixed seed; training never sees them."""
    scenes = all_scenes()
    rng = np.random.Generator(np.random.PCG64(HELDOUT_SEED))
    idx = sorted(rng.choice(len(scenes), size=N_HELDOUT, replace=False).tolist())
    held = [scenes[i] for i in idx]
    train = [s for s in scenes if s not in held]
    # Each attribute value must still be seen in training.
    for k in range(5):
        assert {s[k] for s in train} == {s[k] for s in scenes}
    return held


def train_scenes():
    held = set(heldout_scenes())
    return [s for s in all_scenes() if s not in held]


def heldout_captions():
    return [caption(*s) for s in heldout_scenes()]


def render(scene, rng=None):
    """Draws one scene as a uint8 [SIZE, SIZE, 3] array. rng=None: no jitter."""
    shape, colour, size, position, bg = scene
    jx = jy = js = 0.0
    if rng is not None:
        jx, jy, js = rng.uniform(-1, 1, size=3)
    big = SIZE * SUPER
    cx = (POSITIONS[position] + JITTER_X * jx) * big
    cy = (0.5 + JITTER_Y * jy) * big
    side = (SIZES[size] + JITTER_SIZE * js) * big
    x0, y0, x1, y1 = cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2
    img = Image.new("RGB", (big, big), BACKGROUNDS[bg])
    draw = ImageDraw.Draw(img)
    fill = SHAPE_COLOURS[colour]
    if shape == "circle":
        draw.ellipse([x0, y0, x1, y1], fill=fill)
    elif shape == "square":
        draw.rectangle([x0, y0, x1, y1], fill=fill)
    else:  # isosceles, apex up, base = height = side
        draw.polygon([(cx, y0), (x1, y1), (x0, y1)], fill=fill)
    img = img.resize((SIZE, SIZE), Image.BOX)
    return np.asarray(img, dtype=np.uint8)


def make_dataset(n, seed, scenes=None):
    """n images cycling over `scenes` (default: training scenes) in a seeded
    random order. Returns (uint8 [n, SIZE, SIZE, 3], list of captions)."""
    scenes = train_scenes() if scenes is None else scenes
    rng = np.random.Generator(np.random.PCG64(seed))
    images = np.empty((n, SIZE, SIZE, 3), dtype=np.uint8)
    caps = []
    order = []
    while len(order) < n:
        order.extend(rng.permutation(len(scenes)).tolist())
    for i in range(n):
        s = scenes[order[i]]
        images[i] = render(s, rng)
        caps.append(caption(*s))
    return images, caps


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "heldout":
        print("\n".join(heldout_captions()))
        return
    if len(sys.argv) >= 3 and sys.argv[1] == "sheet":
        imgs, caps = make_dataset(48, seed=1)
        grid = imgs.reshape(6, 8, SIZE, SIZE, 3).transpose(0, 2, 1, 3, 4).reshape(6 * SIZE, 8 * SIZE, 3)
        Image.fromarray(grid).resize((8 * SIZE * 2, 6 * SIZE * 2), Image.NEAREST).save(sys.argv[2])
        print("\n".join(caps[:8]))
        return
    print(__doc__)
    sys.exit(2)


if __name__ == "__main__":
    main()
