"""Writes pil_text.png, the independent reference for farm's PNG decoder:
PIL (the writer A1111 uses) stores a Latin-1 'parameters' value as tEXt and a
non-Latin-1 value as iTXt. Pixels are small exact integers the test spells out.

Run: /work/venv/bin/python tests/cli/data/make_pil_png.py
"""
from pathlib import Path

from PIL import Image, PngImagePlugin

W, H = 3, 2
pixels = [((x * 40 + y * 7) % 256, (255 - x * 50) % 256, (y * 100 + x) % 256) for y in range(H) for x in range(W)]
image = Image.new("RGB", (W, H))
image.putdata(pixels)
info = PngImagePlugin.PngInfo()
info.add_text("parameters", "caf\u00e9 au lait\nSteps: 20, Sampler: Euler a, CFG scale: 7.0, Seed: 1, Size: 3x2")
info.add_text("farm", "\u732b \u2713 emoji \U0001F600")
image.save(Path(__file__).with_name("pil_text.png"), pnginfo=info)
