#!/usr/bin/env python3
"""Weighted, chunked text conditioning as AUTOMATIC1111's web UI computes it, for farm's
conditioning test: tests/data/prompt_syntax/{tiny-sd1,tiny-sd2}.safetensors + cases.json.

The rule (A1111 modules/prompt_parser.py parse_prompt_attention, sd_hijack_clip.py
tokenize_line / process_tokens, sd_emphasis.py "Original"), written here from its
documentation and behaviour, in Python, independently of farm's C++:
  * parse (text)/[text]/(text:w)/escapes/BREAK into (text, weight) pieces, merging
    neighbours of equal weight;
  * tokenize each piece alone (no special tokens); fill chunks of 75 tokens; when a chunk
    is full and a comma lies within the last 20 tokens, move the tokens after it to the
    next chunk; BREAK closes the chunk; pad with EOS, wrap in BOS ... EOS; where the pad
    token differs from EOS (SD 2.x), every id after the first EOS becomes the pad id;
  * each chunk through transformers' CLIPTextModel alone (clip_skip 1: last_hidden_state;
    n > 1: final_layer_norm(hidden_states[-n])), z *= weights, z *= mean(z_before)/mean(z);
  * chunks concatenated along the sequence; the rows of a case (a prompt and its negative)
    padded with the encoding of "" to the same chunk count.
Text encoder and tokenizer are transformers' (an independent implementation); the prompts
are ASCII, where its fast CLIP tokenizer and the slow one with ftfy agree.

Usage (repository root, /work/venv):
  nice python tools/reference/make_prompt_reference.py
Versions: torch 2.15.0, transformers 5.24.0, safetensors 0.8.0, Python 3.11.7 (recorded in cases.json).
"""
import json
import os
import re
import sys

import torch
from safetensors.torch import save_file
from transformers import CLIPTextModel, CLIPTokenizer

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
OUT = os.path.join(ROOT, "tests", "data", "prompt_syntax")

LONG = ", ".join(["a lighthouse on a cliff", "(stormy sea:1.2)", "dramatic clouds", "oil painting",
                  "[muted colors]", "highly detailed", "golden hour light", "seagulls", "wet rocks",
                  "((crashing waves))", "cinematic composition", "wide angle", "volumetric fog",
                  "by a famous painter", "trending on an art site", "sharp focus", "matte finish",
                  "a small boat in the distance", "rain", "lightning over the horizon",
                  "(red roof:0.8)", "old stone walls", "moss", "a winding path", "lanterns"] * 2)
WORDS70 = " ".join(["cat"] * 70) + ", " + " ".join(["dog"] * 10)  # comma backtrack at the boundary

# (name, [row prompts], clip_skip): rows are what one item's UNet rows read (prompt, negative).
CASES = [
    ("weights", ["a (red:1.5) circle, [blue] square, ((green)) triangle"], 1),
    ("nesting", ["a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).", "\\(literal\\) (a:0) (b:-0.5)"], 1),
    ("long", [LONG], 1),
    ("break", ["portrait of a woman BREAK (red hair:1.2), blue eyes BREAK city background"], 1),
    ("empty", [""], 1),
    ("negative_padded", [LONG, "(blurry:1.4), lowres, [bad hands]"], 1),
    ("clip_skip2", ["a (cozy:1.3) cabin in the woods, [snow]", "ugly"], 2),
    ("comma_backtrack", [WORDS70], 1),
]

re_attention = re.compile(r"""\\\(|\\\)|\\\[|\\]|\\\\|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|]|[^\\()\[\]:]+|:""", re.X)
re_break = re.compile(r"\s*\bBREAK\b\s*", re.S)


def parse(text):
    res, rounds, squares = [], [], []

    def mul(start, m):
        for p in range(start, len(res)):
            if res[p][1] is not None:
                res[p][1] *= m

    for m in re_attention.finditer(text):
        t, w = m.group(0), m.group(1)
        if t.startswith("\\"):
            res.append([t[1:], 1.0])
        elif t == "(":
            rounds.append(len(res))
        elif t == "[":
            squares.append(len(res))
        elif w is not None and rounds:
            mul(rounds.pop(), float(w))
        elif t == ")" and rounds:
            mul(rounds.pop(), 1.1)
        elif t == "]" and squares:
            mul(squares.pop(), 1 / 1.1)
        else:
            for i, part in enumerate(re.split(re_break, t)):
                if i > 0:
                    res.append(["BREAK", None])  # None: a break, never weighted
                res.append([part, 1.0])
    for p in rounds:
        mul(p, 1.1)
    for p in squares:
        mul(p, 1 / 1.1)
    if not res:
        res = [["", 1.0]]
    out = []
    for t, w in res:
        if out and w is not None and out[-1][1] is not None and out[-1][1] == w:
            out[-1][0] += t
        else:
            out.append([t, w])
    return out


def chunks(tok, text):
    L = tok.model_max_length - 2
    bos, eos = tok.bos_token_id, tok.eos_token_id
    pad = tok.pad_token_id
    comma = tok.get_vocab().get(",</w>")
    result, ids, ws, last_comma = [], [], [], -1

    def close():
        nonlocal ids, ws, last_comma
        body = ids + [eos] * (L - len(ids))
        c = [bos] + body + [eos]
        if pad != eos:
            first = c.index(eos)
            c = c[:first + 1] + [pad] * (len(c) - first - 1)
        result.append((c, [1.0] + ws + [1.0] * (L - len(ws)) + [1.0]))
        ids, ws, last_comma = [], [], -1

    for text_piece, w in parse(text):
        if w is None:
            close()
            continue
        for t in tok(text_piece, add_special_tokens=False, truncation=False)["input_ids"]:
            if t == comma:
                last_comma = len(ids)
            elif len(ids) == L and last_comma != -1 and len(ids) - last_comma <= 20:
                cut = last_comma + 1
                moved_ids, moved_ws = ids[cut:], ws[cut:]
                ids, ws = ids[:cut], ws[:cut]
                close()
                ids, ws = moved_ids, moved_ws
            if len(ids) == L:
                close()
            ids.append(t)
            ws.append(w)
    if ids or not result:
        close()
    return result


@torch.no_grad()
def encode_chunk(te, ids, weights, clip_skip):
    out = te(torch.tensor([ids]), output_hidden_states=True)
    final_ln = te.final_layer_norm if hasattr(te, "final_layer_norm") else te.text_model.final_layer_norm
    z = out.last_hidden_state if clip_skip == 1 else final_ln(out.hidden_states[-clip_skip])
    w = torch.asarray(weights)  # float32, as A1111's torch.asarray of Python floats
    before = z.mean()
    z = z * w.reshape(w.shape + (1,)).expand(z.shape[1:])
    z = z * (before / z.mean())
    return z[0]


def main():
    import safetensors
    import transformers
    cases_json = {"versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                               "safetensors": safetensors.__version__, "python": sys.version.split()[0]},
                  "rule": __doc__.split("Usage")[0].strip(), "cases": []}
    for name, rows, clip_skip in CASES:
        cases_json["cases"].append({"name": name, "prompts": rows, "clip_skip": clip_skip})
    os.makedirs(OUT, exist_ok=True)
    for model in ["tiny-sd1", "tiny-sd2"]:
        folder = os.path.join(ROOT, "tests", "data", model)
        tok = CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer")
        te = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder").float().eval()
        empty = chunks(tok, "")[0]
        tensors = {}
        for name, rows, clip_skip in CASES:
            per_row = [chunks(tok, p) for p in rows]
            count = max(len(c) for c in per_row)
            encoded = []
            for c in per_row:
                c = c + [empty] * (count - len(c))
                encoded.append(torch.cat([encode_chunk(te, ids, ws, clip_skip) for ids, ws in c], dim=0))
            tensors[f"{name}.z"] = torch.stack(encoded).contiguous()  # [rows, 77·C, D]
            tensors[f"{name}.ids"] = torch.tensor([[i for ids, _ in c + [empty] * (count - len(c)) for i in ids]
                                                   for c in per_row], dtype=torch.int64)
            print(model, name, "chunks", count, tuple(tensors[f"{name}.z"].shape))
        save_file(tensors, os.path.join(OUT, f"{model}.safetensors"))
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases_json, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
