#!/usr/bin/env python3
"""A tiny Qwen2-style tokenizer and reference ids for farm's Qwen2 BPE
tokenizer (tests/text/qwen_tokenizer_test.cpp).

The real Qwen3 vocabulary (151,643 BPE tokens) cannot be fetched here, so this
trains a small byte-level BPE with the `tokenizers` library on the prompts of
make_tokenizer_reference.py, with Qwen2's own pre-tokenizer (the class's
regex, ByteLevel without its regex), wraps it in transformers'
Qwen2Tokenizer, adds Qwen3's added tokens (<|endoftext|>, <|im_start|>,
<|im_end|> special; <think>, </think> not) and Qwen3's chat template, and
saves it with save_pretrained.

Writes:
  tests/data/tiny-zimage/tokenizer/ the tokenizer folder of the tiny Z-Image
                                    pipeline (tokenizer.json,
                                    tokenizer_config.json, and vocab.json +
                                    merges.txt as older folders ship them)
  tests/data/tokenizer/qwen_ids.json  for each prompt: the text after
                    apply_chat_template(add_generation_prompt=True,
                    enable_thinking=True) and the ids diffusers' ZImagePipeline
                    gets (max_length=512, truncation=True, real tokens only),
                    and the plain ids of the prompt itself (no template, no
                    truncation)
  tests/data/tokenizer/qwen_regex_classes.json  per code point, the class
                    Oniguruma (the tokenizers library's regex engine) gives
                    it: L \\p{L}, N \\p{N}, R \\r or \\n, S other \\s, O the rest,
                    U surrogate; as runs [first code point, class]

Run: /work/venv/bin/python tools/reference/make_qwen_tokenizer.py
(made with transformers 5.24.0, tokenizers 0.23.3).
"""
import json
import os
import random
import shutil
import sys

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
import transformers
from transformers import AutoTokenizer, Qwen2Tokenizer
from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT_DIR = os.path.join(ROOT, "tests", "data", "tokenizer")
sys.path.insert(0, HERE)
import make_tokenizer_reference as clip_ref  # noqa: E402

MAX_LENGTH = 512  # ZImagePipeline's max_sequence_length
VOCAB_SIZE = 1500

# Qwen3's chat template (tokenizer_config.json of the Qwen3 family).
CHAT_TEMPLATE = open(os.path.join(HERE, "qwen3_chat_template.jinja")).read()

EXTRA_TEXT = [
    "一只猫坐在窗台上，阳光明媚。", "山水画，水墨风格，高清细节", "東京の夜景、ネオン、雨", "ラーメンを食べる猫",
    "서울의 밤거리, 네온 사인", "Ein Foto von einem Hund im Schnee, Größe 4K", "Un château en Provence, été",
    "Фотография кота на диване", "Ελληνικός ναός στο ηλιοβασίλεμα", "قطة على السطح", "एक बिल्ली छत पर बैठी है",
    "😀😃🐱🚀🎨 emoji 👩‍👩‍👧‍👦 family 🇯🇵 flag", "digits 0123456789 ١٢٣ ٤٥٦ ०१२ ½ ² Ⅻ", "I'm, you're, we've, they'll, he'd, it's, don't",
    "A photo of an astronaut riding a horse on mars, 4k, highly detailed, trending on artstation",
    "portrait of a woman, oil painting, by rembrandt, dramatic lighting\n\nnegative: blurry",
]

FIXED_PROMPTS = [
    "", " ", "a", "A photo of a cat", "a photo of a cat ", "  leading spaces", "trailing spaces   ",
    "tabs\tand\t\ttabs", "line\nbreak", "crlf\r\nline", "blank\n\n\nlines", "\n", "\r", "\r\n\r\n", " \n ",
    "spaces  \n  around", "mixed \t\n\t end\t", "I'm here", "I'M HERE", "it'S", "we'VE", "you'Re", "she'LL",
    "they'D", "don't", "'s alone", "x's", "O'Neil's", "ſ'ſ", "it'ſ", "it\u2019s curly", "rock'n'roll",
    "12345", "3.14159", "1,000,000", "v2.1", "year 2024", "١٢٣", "०१२", "½ and ¾", "x² + y³", "Ⅻ", "①②",
    "一只猫", "一只猫，坐在窗台上。", "東京の夜景", "서울", "Größe", "café", "cafe\u0301", "e\u0301\u0301",
    "Å vs A\u030a", "ﬁne ligature", "ＦＵＬＬ ｗｉｄｔｈ", "\u00a0nbsp\u00a0", "ideographic\u3000space",
    "nel\u0085char", "vt\u000bff\u000c", "zero\u200bwidth", "bom\ufeffhere", "soft\u00adhyphen",
    "👩‍👩‍👧‍👦", "🇯🇵🇺🇸", "😀 smile", "emoji😀glued", "a🐱b", "Hindi: एक बिल्ली", "Arabic: قطة",
    "Thai: แมวนั่ง", "Hebrew: חתול", "math: ∑∫√∞ ≤ ≥", "arrows → ← ↔", "quotes “double” ‘single’",
    "dash — and – and -", "ellipsis…", "!!!???", "(((masterpiece)))", "[[weight:1.2]]", "a, b; c: d.",
    "path/to/file.png", "https://example.com/a?b=c", "user@example.com", "#hashtag @mention", "C++ & C#",
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>", "a<|im_end|>b", "<|im_start|user",
    "<|endoftext|><|endoftext|>", "<think>reason</think>answer", " <|im_end|> ", "<|IM_START|>",
    "\u0000nul", "bell\u0007", "del\u007f", "private\ue000use", "unassigned\U000e0080x", "astral 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "combining a\u0300\u0301\u0302", "<think>\u0338", "a>\u0338b", "<|im_end|>\u0338", "=\u0338", "Devanagari क़ ख़", "Korean jamo \u1100\u1161\u11a8", "한국어 NFC",
]


def corpus():
    lines = list(clip_ref.PROMPTS) + list(clip_ref.FTFY_PROMPTS) + list(clip_ref.MOJIBAKE_SOURCES) + EXTRA_TEXT
    return [l for l in lines if isinstance(l, str)] * 3


def train():
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator(corpus(), trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    vocab = model["vocab"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return vocab, merges


def random_prompts(n, seed=1234):
    """Strings drawn from a pool of every kind of code point the regex tells apart."""
    rng = random.Random(seed)
    pool = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") + list("0123456789") +
            list(" \t\n\r\u000b\u000c\u0085\u00a0\u2028\u3000") + list("'''sStTdDmMlLvVrReE") +
            list(".,;:!?()[]{}<>|/\\\"@#$%^&*-_=+~`") + list("猫犬山水日本語한국") + ["😀", "🐱", "👩‍👧", "🇯🇵"] +
            list("éüßÅſ\u0301\u0300\u093c") + list("١٢٣½²Ⅻ") + ["<|im_start|>", "<|im_end|>", "<think>", "<|endoftext|>"])
    out = []
    for _ in range(n):
        out.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 40))))
    return out


def long_prompts():
    long = " ".join(clip_ref.PROMPTS[:40])
    return [long, long + " 一只猫" * 200, "word " * 600, "😀" * 300, "1" * 700]


def regex_classes():
    """Runs [first code point, class] under Oniguruma's \\p{L}, \\p{N}, \\s."""
    def isolated(pattern):
        return pre_tokenizers.Split(Regex(pattern), behavior="removed", invert=False)
    letter, number, space = isolated(r"\p{L}"), isolated(r"\p{N}"), isolated(r"\s")
    runs, prev = [], None
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            k = "U"
        else:
            c = chr(cp)
            if c in "\r\n":
                k = "R"
            elif not space.pre_tokenize_str(c):
                k = "S"
            elif not letter.pre_tokenize_str(c):
                k = "L"
            elif not number.pre_tokenize_str(c):
                k = "N"
            else:
                k = "O"
        if k != prev:
            runs.append([cp, k])
            prev = k
    return runs


def main():
    vocab, merges = train()
    vocab = dict(vocab)
    for t in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]:
        vocab[t] = len(vocab)  # Qwen's specials follow the BPE vocabulary
    tok = Qwen2Tokenizer(vocab=vocab, merges=merges)
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    # Not special and matched before normalization, as in Qwen3's tokenizer.json.
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in ["<think>", "</think>"]])
    tok.chat_template = CHAT_TEMPLATE
    tok.model_max_length = 131072
    folder = os.path.join(ROOT, "tests", "data", "tiny-zimage", "tokenizer")
    shutil.rmtree(folder, ignore_errors=True)
    tok.save_pretrained(folder)
    # Older folders (and the real Qwen3 one) also ship vocab.json + merges.txt.
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({t: i for t, i in vocab.items() if i < len(vocab) - 3}, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")

    tok = AutoTokenizer.from_pretrained(folder)
    slow = Qwen2Tokenizer(vocab=os.path.join(folder, "vocab.json"), merges=os.path.join(folder, "merges.txt"))
    print(type(tok).__name__, len(tok), "tokens")
    cases = []
    prompts = FIXED_PROMPTS + random_prompts(300) + long_prompts()
    for p in prompts:
        text = tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                       add_generation_prompt=True, enable_thinking=True)
        assert text == "<|im_start|>user\n" + p + "<|im_end|>\n<|im_start|>assistant\n", repr(text)
        enc = tok([text], padding="max_length", max_length=MAX_LENGTH, truncation=True)
        ids = [i for i, m in zip(enc.input_ids[0], enc.attention_mask[0]) if m]
        plain = tok(p).input_ids
        if not any(t in p for t in ["<|im_start|>", "<|im_end|>", "<think>", "</think>"]):
            assert slow(p).input_ids == plain, "vocab.json + merges.txt disagree with tokenizer.json"
        cases.append({"prompt": p, "text": text, "ids": ids, "plain": plain})
    with open(os.path.join(OUT_DIR, "qwen_ids.json"), "w", encoding="utf-8") as f:
        json.dump({"transformers": transformers.__version__, "max_length": MAX_LENGTH,
                   "special": {t: tok.convert_tokens_to_ids(t) for t in
                               ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]},
                   "cases": cases}, f, ensure_ascii=False, indent=0)
    print(len(cases), "cases;", sum(len(c["ids"]) == MAX_LENGTH for c in cases), "truncated")
    runs = regex_classes()
    with open(os.path.join(OUT_DIR, "qwen_regex_classes.json"), "w") as f:
        json.dump({"engine": "tokenizers " + __import__("tokenizers").__version__ + " (Oniguruma)",
                   "classes": "L letter, N number, R CR/LF, S other whitespace, O other, U surrogate",
                   "runs": runs}, f, separators=(",", ":"))
    print(len(runs), "runs")


if __name__ == "__main__":
    main()
