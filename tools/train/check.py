#!/usr/bin/env python3
"""Judges whether a 64x64 image shows what its shapes.py caption says.

The rules are deliberately plain so that a C++ port gives the same verdicts
(pixel coordinates: x right, y down; colours sRGB 0..255; all thresholds in
fractions of the image width W):

 1. bg_rgb  = per-channel median of the 1-pixel outer ring (4W-4 pixels;
    medians of an even count average the two middle values).
    background = the nearest entry of shapes.BACKGROUNDS (Euclidean RGB).
 2. fg      = pixels with ||rgb - bg_rgb|| > FG_DISTANCE (60).
    mask    = the largest 4-connected component of fg (ties: the first found
    scanning rows top to bottom, pixels left to right).
    If the mask has fewer than MIN_AREA (12) pixels, nothing is found: every
    shape attribute (colour, position, size, shape) is judged wrong.
 3. colour  = nearest entry of shapes.SHAPE_COLOURS to the per-channel median
    of the mask's pixels.
 4. position: cx = mean of (x + 0.5) over the mask, divided by W.
    left if cx < 0.385, right if cx > 0.615, else center.
 5. size:   side = max(bbox width, bbox height) / W (bbox in whole pixels,
    inclusive). small if side < 0.31, else large.
 6. shape:  taper = (mask pixels in row y0 + floor(h/4)) /
    max(1, mask pixels in row y0 + floor(3h/4)), with y0 the bbox's top row
    and h its height (a triangle, apex up, is narrow on top: ~0.33; circle and
    square ~1). fill = mask pixels / (bbox width * bbox height).
    triangle if taper < 0.78; else square if fill >= 0.88; else circle.
    (Taper instead of fill for triangles: blur, as from a VAE, rounds a small
    triangle's fill up to 0.8 while its taper stays under 0.75.)

Usage: check.py selftest                  every scene x 4 jitters, expects 100 %
       check.py IMAGE.png "caption"       prints the verdict as JSON
"""
import json
import re
import sys

import numpy as np

import os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes  # noqa: E402

FG_DISTANCE = 60.0
MIN_AREA = 12
LEFT_BELOW, RIGHT_ABOVE = 0.385, 0.615
SMALL_BELOW = 0.31
TRIANGLE_TAPER, SQUARE_FILL = 0.78, 0.88
ATTRIBUTES = ("background", "colour", "position", "size", "shape")

CAPTION_RE = re.compile(r"^a (small|large) (\w+) (circle|square|triangle) "
                        r"(on the left|in the center|on the right), (\w+) background$")


def parse_caption(text):
    m = CAPTION_RE.match(text)
    if not m:
        raise ValueError(f"caption {text!r} is not in the shapes.py form")
    size, colour, shape, where, bg = m.groups()
    position = {v: k for k, v in shapes.POSITION_WORDS.items()}[where]
    return {"background": bg, "colour": colour, "position": position, "size": size, "shape": shape}


def nearest(rgb, table):
    names = list(table)
    d = [np.sum((np.asarray(table[n], float) - rgb) ** 2) for n in names]
    return names[int(np.argmin(d))]


def largest_component(fg):
    """Largest 4-connected component of a bool [H, W] array (first found wins ties)."""
    h, w = fg.shape
    label = np.zeros((h, w), dtype=np.int32)
    best, best_size, n = 0, 0, 0
    for y in range(h):
        for x in range(w):
            if not fg[y, x] or label[y, x]:
                continue
            n += 1
            label[y, x] = n
            stack, size = [(y, x)], 0
            while stack:
                cy, cx = stack.pop()
                size += 1
                for ny, nx in ((cy - 1, cx), (cy + 1, cx), (cy, cx - 1), (cy, cx + 1)):
                    if 0 <= ny < h and 0 <= nx < w and fg[ny, nx] and not label[ny, nx]:
                        label[ny, nx] = n
                        stack.append((ny, nx))
            if size > best_size:
                best, best_size = n, size
    return label == best if best else np.zeros_like(fg)


def analyse(img):
    """img: uint8 [H, W, 3] (H == W). Returns the judged attributes (None where
    nothing was found) and the measurements behind them."""
    img = np.asarray(img, dtype=np.float64)[..., :3]
    h, w, _ = img.shape
    ring = np.concatenate([img[0, :], img[h - 1, :], img[1:h - 1, 0], img[1:h - 1, w - 1]])
    bg_rgb = np.median(ring, axis=0)
    out = {"background": nearest(bg_rgb, shapes.BACKGROUNDS), "bg_rgb": bg_rgb.round(1).tolist()}
    fg = np.sqrt(np.sum((img - bg_rgb) ** 2, axis=2)) > FG_DISTANCE
    mask = largest_component(fg)
    area = int(mask.sum())
    out["area"] = area
    if area < MIN_AREA:
        out.update(colour=None, position=None, size=None, shape=None)
        return out
    ys, xs = np.nonzero(mask)
    shape_rgb = np.median(img[mask], axis=0)
    cx = (xs.mean() + 0.5) / w
    bw, bh = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    side = max(bw, bh) / w
    fill = area / (bw * bh)
    y0 = ys.min()
    taper = mask[y0 + bh // 4].sum() / max(1, mask[y0 + (3 * bh) // 4].sum())
    out.update(
        colour=nearest(shape_rgb, shapes.SHAPE_COLOURS),
        position="left" if cx < LEFT_BELOW else "right" if cx > RIGHT_ABOVE else "center",
        size="small" if side < SMALL_BELOW else "large",
        shape="triangle" if taper < TRIANGLE_TAPER else "square" if fill >= SQUARE_FILL else "circle",
        shape_rgb=shape_rgb.round(1).tolist(), cx=round(cx, 4), side=round(side, 4),
        fill=round(fill, 4), taper=round(float(taper), 4))
    return out


def judge(img, caption):
    """Per-attribute verdicts {attr: bool} plus the analysis."""
    want = parse_caption(caption)
    got = analyse(img)
    return {a: got[a] == want[a] for a in ATTRIBUTES}, got


def summarise(verdicts):
    """verdicts: list of {attr: bool}. Per-attribute %, mean %, all-correct %."""
    n = len(verdicts)
    per = {a: 100.0 * sum(v[a] for v in verdicts) / n for a in ATTRIBUTES}
    per["mean"] = sum(per[a] for a in ATTRIBUTES) / len(ATTRIBUTES)
    per["all"] = 100.0 * sum(all(v.values()) for v in verdicts) / n
    return per


def selftest():
    rng = np.random.Generator(np.random.PCG64(7))
    verdicts, bad = [], []
    for scene in shapes.all_scenes():
        for k in range(4):
            # k == 0: no jitter; otherwise random jitter, extremes included.
            img = shapes.render(scene, None if k == 0 else rng)
            v, got = judge(img, shapes.caption(*scene))
            verdicts.append(v)
            if not all(v.values()):
                bad.append((shapes.caption(*scene), got))
    # The extreme corners of the jitter box.
    class Corner:
        def __init__(self, s):
            self.s = s

        def uniform(self, lo, hi, size):
            return np.asarray(self.s, float)
    for scene in shapes.all_scenes():
        for s in ((1, 1, 1), (-1, -1, -1), (1, -1, -1), (-1, 1, 1)):
            v, got = judge(shapes.render(scene, Corner(s)), shapes.caption(*scene))
            verdicts.append(v)
            if not all(v.values()):
                bad.append((shapes.caption(*scene), got))
    s = summarise(verdicts)
    print(f"selftest: {len(verdicts)} ground-truth images, " +
          ", ".join(f"{k} {v:.1f}%" for k, v in s.items()))
    for cap, got in bad[:10]:
        print("  WRONG:", cap, got)
    return 0 if not bad else 1


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "selftest":
        sys.exit(selftest())
    if len(sys.argv) == 3:
        from PIL import Image
        v, got = judge(np.asarray(Image.open(sys.argv[1]).convert("RGB")), sys.argv[2])
        print(json.dumps({"verdict": v, "analysis": got}))
        sys.exit(0 if all(v.values()) else 1)
    print(__doc__)
    sys.exit(2)


if __name__ == "__main__":
    main()
