#!/usr/bin/env python3
"""Reference token ids for farm's CLIP tokenizer (tests/text/test_tokenizer.cpp).

Writes into tests/data/tokenizer/:
  clip_ids.json     prompts and the ids transformers' *slow* CLIPTokenizer
                    gives for them *without* ftfy (its fallback), padded to
                    77 the SD 1.x way (<|endoftext|>) and the SD 2.x way
                    ("!"), plus what the fast tokenizers say where they
                    disagree.
  char_classes.json per code point, what the fallback's text clean-up and
                    regex do with it, as runs [first_code_point, class].
  clip_ids_ftfy.json  PROMPTS + FTFY_PROMPTS (CJK, emoji, fullwidth,
                    ligatures, quotes, HTML entities, mojibake, accents,
                    control characters): ids of the slow CLIPTokenizer *with*
                    ftfy (ids_sd1/ids_sd2; the original CLIP behaviour, what
                    A1111 gets), of the same tokenizer without ftfy
                    (nofix_sd1/nofix_sd2), and ftfy.fix_text(text) itself.
  fix_text_cases.json  mojibake made from MOJIBAKE_SOURCES in every codec
                    ftfy knows, and ftfy.fix_text of each.
  regex_classes.json  per code point, what the ftfy path's whitespace_clean
                    and regex do with it (runs, as char_classes.json).
  sd1/, sd2/        tokenizer_config.json and special_tokens_map.json as the
                    runwayml/stable-diffusion-v1-5 and
                    stabilityai/stable-diffusion-2-1 `tokenizer/` folders
                    ship them (vocab.json/merges.txt are tests/data/clip-vocab).

The slow tokenizer only exists in transformers < 5 (5.x's CLIPTokenizer is
the Rust `tokenizers` one), so run this with a 4.x environment, e.g.
  python3 -m venv /tmp/venv-tok4 && /tmp/venv-tok4/bin/pip install transformers==4.57.1 ftfy==6.3.1
  /tmp/venv-tok4/bin/python tools/reference/make_tokenizer_reference.py \
      --v5-python /work/venv/bin/python
The slow tokenizer picks its path when it is built: with `import ftfy`
failing (blocked below while the fallback tokenizers are made) it takes the
documented fallback BasicTokenizer(strip_accents=False,
do_split_on_punc=False); with ftfy importable it uses ftfy.fix_text.
--v5-python (optional) runs this file again under transformers 5 to record
its CLIPTokenizer too. --ftfy-only writes only clip_ids_ftfy.json,
fix_text_cases.json and regex_classes.json (leaves the fallback files as they are).

The ftfy files were made with transformers 4.57.1, ftfy 6.3.1, regex
2026.11.19, Python 3.11.7 (unicodedata 14.0.0):
  nice /tmp/venv-tok4/bin/python tools/reference/make_tokenizer_reference.py --ftfy-only
"""
import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unicodedata



@contextlib.contextmanager
def ftfy_blocked():
    """`import ftfy` fails inside: CLIPTokenizer takes the BasicTokenizer path."""
    saved = sys.modules.get("ftfy")
    sys.modules["ftfy"] = None
    try:
        yield
    finally:
        if saved is None:
            del sys.modules["ftfy"]
        else:
            sys.modules["ftfy"] = saved

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
VOCAB_DIR = os.path.join(ROOT, "tests", "data", "clip-vocab")
OUT_DIR = os.path.join(ROOT, "tests", "data", "tokenizer")
MAX_LENGTH = 77


def added(content):
    return {"__type": "AddedToken", "content": content, "lstrip": False, "normalized": True,
            "rstrip": False, "single_word": False}


def tokenizer_config():
    # Same for SD 1.5 and SD 2.1; special_tokens_map.json overrides pad_token.
    return {"add_prefix_space": False, "bos_token": added("<|startoftext|>"), "do_lower_case": True,
            "eos_token": added("<|endoftext|>"), "errors": "replace", "model_max_length": MAX_LENGTH,
            "name_or_path": "openai/clip-vit-large-patch14", "pad_token": "<|endoftext|>",
            "special_tokens_map_file": "./special_tokens_map.json", "tokenizer_class": "CLIPTokenizer",
            "unk_token": added("<|endoftext|>")}


def special_tokens_map(pad):
    return {"bos_token": added("<|startoftext|>"), "eos_token": added("<|endoftext|>"), "pad_token": pad,
            "unk_token": added("<|endoftext|>")}


PADS = {"sd1": "<|endoftext|>", "sd2": "!"}

LONG = ("a highly detailed matte painting of a sprawling futuristic city at dusk, neon lights reflecting "
        "on wet streets, flying cars, towering skyscrapers with holographic billboards, crowds of people "
        "in raincoats, volumetric fog, cinematic lighting, octane render, trending on artstation, by greg "
        "rutkowski and alphonse mucha, 8k, ultra wide angle, sharp focus, intricate details, masterpiece")

PROMPTS = [
    "a photograph of an astronaut riding a horse",
    "A Photograph Of An ASTRONAUT riding a HORSE",
    "",
    " ",
    "     ",
    "\t\n\r",
    "a cat, a dog; a bird: a fish. the end!",
    "hello!",
    "wow!!! what?! really?? yes... no!!",
    "!",
    "!!!",
    "fashion of the 1920s, 3.14 and 100% and 2,000,000 and -42 and 1e10",
    "café naïve Ærøskøbing",
    "cafe\u0301 nai\u0308ve (decomposed accents)",
    "Straße STRASSE groß ẞ",
    "İstanbul ıi İI",
    "ΟΔΟΣ ΣΟΦΙΑΣ Σ σ ς",
    "猫の写真",
    "一只猫在窗台上睡觉",
    "고양이 사진",
    "\u1100\u1161\u11a8 (decomposed hangul)",
    "фотография кошки на Красной площади",
    "صورة قطة",
    "תמונה של חתול",
    "नमस्ते दुनिया",
    "ภาพแมว",
    "a cat 🐱 with sunglasses 😎",
    "family 👨\u200d👩\u200d👧\u200d👦 and 🏳️\u200d🌈",
    "thumbs up 👍🏽 👋🏿 skin tones",
    "flags 🇯🇵 🇺🇸 🇩🇪 🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
    "new emoji 🫨 🩷 (unicode 15)",
    "tabs\tand\nnewlines\r\nand    multiple   spaces",
    "nbsp\u00a0here ideographic\u3000space en\u2002space",
    "line\u2028separator and paragraph\u2029separator",
    "control\x00chars\x07bell\x1bescape\x7fdel\x85nel",
    "soft\u00adhyphen zero\u200bwidth bom\ufeffmark replacement\ufffdchar",
    "don't it's we'll I'M THEY'RE you've she'd",
    "don’t it’s we’ll (curly quotes)",
    "'quoted' \"double\" ''s rock'n'roll",
    "'ſ long s ſtart",
    "a<|endoftext|>b",
    "<|endoftext|>",
    "<|startoftext|>a photo<|endoftext|><|endoftext|>",
    "!<|endoftext|> x<|ENDOFTEXT|>y <|EndOfText|>",
    "hello!<|endoftext|>!",
    "https://example.com/path?query=1&x=y#frag",
    "user@example.com #hashtag @mention",
    "(masterpiece:1.2), [bad], {best|worst}, ((extra)), \\(escaped\\), <lora:name:0.8>",
    "masterpiece, best quality, 1girl, solo, long hair, blue eyes, looking at viewer",
    "ＡＢＣ１２３ fullwidth",
    "x² H₂O ½ Ⅻ ①",
    "ǅemal ǆ Ǆ titlecase",
    "K Kelvin Å Angstrom Ω Ohm",
    "a\u0345b ypogegrammeni",
    "\u0301 lone combining mark",
    "\uf900 compatibility ideograph",
    "supercalifragilisticexpialidocious pneumonoultramicroscopicsilicovolcanoconiosis",
    "x" * 300,
    "photo " * 100,
    LONG,
    LONG + ", " + LONG,
    "a1b2c3 abc123def 0.5x 4k 8k 16:9",
    "$100 €50 £20 ¥1000 ©2024 ™ ® °C",
    "emoji🐱between😎letters",
    "¡Hola! ¿Qué tal? «bonjour» „hallo“",
    "日本語とEnglishのmix",
    "lowres, bad anatomy, bad hands, text, error, missing fingers, extra digit, worst quality",
    "portrait of a woman, (detailed face:1.3), 85mm, f/1.8, bokeh BREAK city background",
    "snake_case kebab-case tilde~x pipe|y back`tick caret^z",
    "“smart quotes” — em dash – en dash … ellipsis",
    "ﬁne ﬂour ligatures and Ⓐ circled and 𝔣𝔯𝔞𝔨𝔱𝔲𝔯 math letters",
    "ÅNGSTRÖM vs Ångström vs A\u030angstro\u0308m",
    "猫\u0301 then 𠀀 (CJK ext B) and ⺀ radical",
    "<|endoftext| <|startoftext|> |endoftext|> <<|endoftext|>>",
]

# More prompts where ftfy changes the ids (clip_ids_ftfy.json only).
FTFY_PROMPTS = [
    # CJK: runs stay together with ftfy, ideographs split apart without it
    "一只可爱的猫坐在窗台上，阳光明媚",
    "中国山水画，水墨，高山流水",
    "東京の夜景、ネオンが輝く街並み",
    "かわいい猫のイラスト",
    "アニメスタイルの少女、青い髪",
    "ｶﾀｶﾅ halfwidth katakana ﾊﾞｲｸ ｢brackets｣ ･",
    "서울의 밤거리, 네온사인",
    "한국 전통 한옥 마을 풍경",
    "masterpiece, 1girl, 猫耳, 着物, cherry blossoms 桜",
    "中文English混合Prompt测试123",
    "「引用」『二重』【括弧】〜",
    # emoji: ZWJ sequences, skin tones, variation selectors, keycaps
    "🔥🔥🔥 fire emoji",
    "woman technologist 👩\u200d💻 and man firefighter 👨🏿\u200d🚒",
    "heart on fire ❤️\u200d🔥 and keycaps 1️⃣ #️⃣",
    "couple 👩🏻\u200d❤️\u200d💋\u200d👨🏼",
    "pirate flag 🏴\u200d☠️ and rainbow 🌈",
    "skin tones 👍🏻👍🏼👍🏽👍🏾👍🏿",
    "text vs emoji style ☺︎ ☺️ ♥ ❤",
    # fullwidth and other width forms
    "ＭＡＳＴＥＲＰＩＥＣＥ，　ｂｅｓｔ　ｑｕａｌｉｔｙ",
    "（ｍａｓｔｅｒｐｉｅｃｅ：１．２）",
    "Ｈｅｌｌｏ！　Ｗｏｒｌｄ？",
    "fullwidth won ￦ yen ￥ cent ￠ arrows ￩￫",
    # ligatures and digraphs
    "ﬁre ﬂower oﬃce waﬄe ﬀ ﬅ ﬆ",
    "Ĳsselmeer ĳs ǆungla Ǳ ǈ ŉ",
    # curly quotes
    "‘single’ “double” ‚low‘ „low“ ‛reversed‟ modifierʼs",
    "it’s a dog’s life, isn’t it? we’ll see",
    # HTML entities ("auto": off from the first line holding a literal '<')
    "cats &amp; dogs",
    "&lt;tag&gt; &quot;quoted&quot; &#39;apos&#39;",
    "caf&eacute; &ntilde; &NTILDE; &Eacute;COLE &copy; 2024",
    "&#x41;&#66;&#x1F600; &#128512; &#0; &#x110000; &#59; &#x80;",
    "&amp;lt;double&amp;gt; escaped",
    "a < b &amp; c",
    "&notanentity; &amp &hellip; &mdash; &nbsp;x &frac12;",
    "line one &amp;\n<b>line two &amp;</b>\nline three &amp;",
    # mojibake: UTF-8 read as Windows-1252 / Latin-1 (and others)
    "cafÃ© crÃ¨me brÃ»lÃ©e",
    "â€œsmart quotesâ€\x9d and itâ€™s",
    "Ã la mode, voilÃ  le travail",
    "MÃ¼nchen ZÃ¼rich GrÃ¶ÃŸe",
    "Ð¿Ñ€Ð¸Ð²ÐµÑ‚ Ð¼Ð¸Ñ€",
    "æ—¥æœ¬èªž",
    "ðŸ˜€ emoji mojibake",
    "mixed: café and cafÃ©",
    "Â£100 Â© 2024",
    "â€” dash and â€¦ ellipsis",
    # accents, composed and decomposed
    "résumé naïve Zoë Björk (composed)",
    "re\u0301sume\u0301 nai\u0308ve Zoe\u0308 (decomposed)",
    "\u212bngstr\u00f6m sign vs \u00c5ngstr\u00f6m",
    "Vietnamese: Tiếng Việt, phở",
    # control characters, tabs, newlines
    "bell\x07 null\x00 esc\x1b[31mred\x1b[0m text",
    "tabs\tbetween\twords\nand\r\nlines\rhere",
    "c1 \x80 \x85 \x91quote\x92 \x9d",
    "zero\u200bwidth soft\u00adhyphen bom\ufeff word\u2060joiner rtl\u200fmark",
    "nbsp\u00a0and\u2003em\u3000ideographic",
    "\u2028line sep\u2029para sep\x85nel",
    "replacement \ufffd char, object\ufffcreplacement interlinear\ufff9x\ufffb",
    "µ micro ℃ ㎏ ① ⅰ",
]


def char_classes():
    """Runs of (first code point, class) for what the slow tokenizer does to a
    lone code point: D dropped by clean-up, S whitespace, C CJK (split into its
    own word; a letter), then the regex's class: L letter run, N digit,
    O other run, X matched by none (skipped), U surrogate (not text)."""
    import regex
    from transformers.models.clip.tokenization_clip import BasicTokenizer
    from transformers.tokenization_utils import _is_control, _is_whitespace
    basic = BasicTokenizer()
    flags = regex.IGNORECASE
    letter = regex.compile(r"[\p{L}]", flags)
    number = regex.compile(r"[\p{N}]", flags)
    other = regex.compile(r"[^\s\p{L}\p{N}]", flags)
    runs, prev = [], None
    for cp in range(0x110000):
        c = chr(cp)
        if 0xD800 <= cp <= 0xDFFF:
            k = "U"
        elif cp == 0 or cp == 0xFFFD or _is_control(c):
            k = "D"
        elif _is_whitespace(c) or c.isspace():
            k = "S"
        elif basic._is_chinese_char(cp):
            k = "C"
        elif letter.fullmatch(c):
            k = "L"
        elif number.fullmatch(c):
            k = "N"
        elif other.fullmatch(c):
            k = "O"
        else:
            k = "X"
        if k != prev:
            runs.append([cp, k])
            prev = k
    return runs


def make_folders(root):
    dirs = {}
    for name, pad in PADS.items():
        d = os.path.join(root, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump(tokenizer_config(), f, indent=2)
            f.write("\n")
        with open(os.path.join(d, "special_tokens_map.json"), "w") as f:
            json.dump(special_tokens_map(pad), f, indent=2)
            f.write("\n")
        dirs[name] = d
    return dirs


def with_vocab(dirs, tmp):
    """Copies of the folders with vocab.json/merges.txt, for from_pretrained."""
    out = {}
    for name, d in dirs.items():
        t = os.path.join(tmp, name)
        shutil.copytree(d, t)
        for f in ("vocab.json", "merges.txt"):
            shutil.copy(os.path.join(VOCAB_DIR, f), t)
        out[name] = t
    return out


def encode_all(cls, folders, prompts=PROMPTS, fix_text=None):
    """fix_text: for the slow tokenizer, True/False asserts which path it took."""
    res = {}
    for name, d in folders.items():
        tok = cls.from_pretrained(d)
        assert tok.model_max_length == MAX_LENGTH and tok.pad_token == PADS[name]
        if fix_text is not None:
            assert (tok.fix_text is not None) == fix_text, "unexpected ftfy/BasicTokenizer path"
        # Exactly what diffusers' StableDiffusionPipeline.encode_prompt does.
        res[name] = [tok(p, padding="max_length", max_length=MAX_LENGTH, truncation=True).input_ids
                     for p in prompts]
    return res


def regex_classes():
    """Runs of (first code point, class) for what the ftfy path does to a lone
    code point after ftfy: S whitespace (re's \\s, which whitespace_clean
    turns into ' '), then the CLIP regex's class: L letter run, N digit,
    O other run, X matched by none, U surrogate."""
    import regex
    flags = regex.IGNORECASE
    letter = regex.compile(r"[\p{L}]", flags)
    number = regex.compile(r"[\p{N}]", flags)
    other = regex.compile(r"[^\s\p{L}\p{N}]", flags)
    space = re.compile(r"\s")
    runs, prev = [], None
    for cp in range(0x110000):
        c = chr(cp)
        if 0xD800 <= cp <= 0xDFFF:
            k = "U"
        elif space.fullmatch(c):
            k = "S"
        elif letter.fullmatch(c):
            k = "L"
        elif number.fullmatch(c):
            k = "N"
        elif other.fullmatch(c):
            k = "O"
        else:
            k = "X"
        if k != prev:
            runs.append([cp, k])
            prev = k
    return runs


MOJIBAKE_SOURCES = [
    "café", "naïve", "Größe", "São Paulo", "Ærøskøbing", "Kraków", "İstanbul", "привет мир", "Ελληνικά",
    "日本語", "中文", "한국어", "😀 emoji", "“quotes” — dash…", "½ price ©®™", "façade", "Ångström",
    "smörgåsbord", "crème brûlée", "piñata", "Zürich", "Łódź", "Dvořák", "€100", "à la mode", "Şişli",
    "¿qué?", "ﬁne", "× ÷ ±", "Ǆ ŉ", "ē ī ū", "ß", "ő ű", "\xa0nbsp\xa0",
]
MOJIBAKE_CODECS = ["latin-1", "sloppy-windows-1252", "sloppy-windows-1251", "sloppy-windows-1250",
                   "sloppy-windows-1253", "sloppy-windows-1254", "sloppy-windows-1257", "iso-8859-2",
                   "macroman", "cp437", "windows-1252"]


def mojibake_cases():
    """UTF-8 read in each codec ftfy knows (and strict windows-1252, whose
    unmapped bytes become U+FFFD), twice-encoded, with A0 turned into a
    space, embedded in clean text: [text, ftfy.fix_text(text)]."""
    import ftfy
    import ftfy.bad_codecs  # noqa: F401
    cases = []
    for src in MOJIBAKE_SOURCES:
        for enc in MOJIBAKE_CODECS:
            m = src.encode("utf-8").decode(enc, errors="replace")
            cases += [m, "a photo of " + m + ", 4k", m.replace("\xa0", " "), "plain café and " + m]
        twice = src.encode("utf-8").decode("sloppy-windows-1252").encode("utf-8").decode("sloppy-windows-1252")
        cases.append(twice)
    cases = list(dict.fromkeys(cases))
    return [[c, ftfy.fix_text(c)] for c in cases]


def write_ftfy(folders):
    """clip_ids_ftfy.json and regex_classes.json."""
    import ftfy
    import regex
    import transformers
    from transformers import CLIPTokenizer
    prompts = PROMPTS + FTFY_PROMPTS
    assert len(prompts) == len(set(prompts))
    fixed = encode_all(CLIPTokenizer, folders, prompts, fix_text=True)
    with ftfy_blocked():
        plain = encode_all(CLIPTokenizer, folders, prompts, fix_text=False)
    entries, same = [], 0
    for i, p in enumerate(prompts):
        e = {"text": p, "fix_text": ftfy.fix_text(p), "ids_sd1": fixed["sd1"][i], "ids_sd2": fixed["sd2"][i],
             "nofix_sd1": plain["sd1"][i], "nofix_sd2": plain["sd2"][i]}
        same += e["ids_sd1"] == e["nofix_sd1"]
        entries.append(e)
    meta = {
        "made_by": "tools/reference/make_tokenizer_reference.py",
        "reference": "transformers CLIPTokenizer (slow): ids_* with ftfy importable (ftfy.fix_text + "
                     "whitespace_clean), nofix_* with ftfy blocked (BasicTokenizer path); fix_text = "
                     "ftfy.fix_text(text) of the whole text",
        "transformers": transformers.__version__, "ftfy": ftfy.__version__, "regex": regex.__version__,
        "python": sys.version.split()[0], "unicodedata": unicodedata.unidata_version, "max_length": MAX_LENGTH,
        "first_ftfy_only_prompt": len(PROMPTS),
    }
    with open(os.path.join(OUT_DIR, "clip_ids_ftfy.json"), "w", encoding="utf-8") as f:
        f.write('{"meta": ' + json.dumps(meta, ensure_ascii=False) + ',\n "prompts": [\n')
        f.write(",\n".join("  " + json.dumps(e, ensure_ascii=False) for e in entries))
        f.write("\n]}\n")
    cases = mojibake_cases()
    with open(os.path.join(OUT_DIR, "fix_text_cases.json"), "w", encoding="utf-8") as f:
        f.write('{"meta": ' + json.dumps({"made_by": meta["made_by"], "ftfy": ftfy.__version__,
                                          "what": "[text, ftfy.fix_text(text)]"}) + ',\n "cases": [\n')
        f.write(",\n".join("  " + json.dumps(c, ensure_ascii=False) for c in cases))
        f.write("\n]}\n")
    runs = regex_classes()
    with open(os.path.join(OUT_DIR, "regex_classes.json"), "w") as f:
        json.dump({"unicodedata": unicodedata.unidata_version, "regex": regex.__version__,
                   "classes": "S space, L letter, N number, O other, X none, U surrogate", "runs": runs},
                  f, separators=(",", ":"))
        f.write("\n")
    print(f"ftfy: {len(cases)} fix_text cases ({sum(a != b for a, b in cases)} changed by ftfy), "
          f"{len(entries)} prompts ({len(prompts) - same} with other sd1 ids than without ftfy), "
          f"{len(runs)} code point runs")


def emit_v5():
    """Runs under transformers 5: its CLIPTokenizer is the tokenizers one."""
    import transformers
    from transformers import CLIPTokenizer
    with tempfile.TemporaryDirectory() as tmp:
        folders = with_vocab(make_folders(os.path.join(tmp, "cfg")), os.path.join(tmp, "full"))
        ids = encode_all(CLIPTokenizer, folders)
    sys.stdout.write("\n" + json.dumps({"version": transformers.__version__, "ids": ids}) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--v5-python", help="a python with transformers 5 (optional)")
    ap.add_argument("--emit-v5", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--ftfy-only", action="store_true", help="write only the ftfy-path files")
    args = ap.parse_args()
    if args.emit_v5:
        return emit_v5()

    import regex
    import tokenizers
    import transformers
    from transformers import CLIPTokenizer, CLIPTokenizerFast
    assert int(transformers.__version__.split(".")[0]) < 5, "needs the slow tokenizer (transformers 4.x)"
    assert len(PROMPTS) == len(set(PROMPTS))

    dirs = make_folders(OUT_DIR)
    with tempfile.TemporaryDirectory() as tmp:
        folders = with_vocab(dirs, tmp)
        write_ftfy(folders)
        if args.ftfy_only:
            return
        with ftfy_blocked():
            slow = encode_all(CLIPTokenizer, folders, fix_text=False)
        fast = encode_all(CLIPTokenizerFast, folders)
    v5 = None
    if args.v5_python:
        out = subprocess.run([args.v5_python, os.path.abspath(__file__), "--emit-v5"], check=True,
                             capture_output=True, text=True).stdout
        v5 = json.loads(out.splitlines()[-1])  # the Rust side prints warnings to stdout

    entries, differ = [], []
    for i, p in enumerate(PROMPTS):
        e = {"text": p, "ids_sd1": slow["sd1"][i], "ids_sd2": slow["sd2"][i]}
        for tag, res in (("hf4_fast", fast), ("hf5", v5["ids"] if v5 else None)):
            if res is None:
                continue
            for name in PADS:
                if res[name][i] != slow[name][i]:
                    e[f"{tag}_{name}"] = res[name][i]
                    differ.append((i, tag, name))
        assert all(len(e[k]) == MAX_LENGTH for k in e if k != "text")
        entries.append(e)

    meta = {
        "made_by": "tools/reference/make_tokenizer_reference.py",
        "reference": "transformers CLIPTokenizer (slow), ftfy not importable -> BasicTokenizer path",
        "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
        "transformers_v5": v5["version"] if v5 else None,
        "python": sys.version.split()[0], "unicodedata": unicodedata.unidata_version,
        "regex": regex.__version__, "max_length": MAX_LENGTH,
        "note": "hf4_fast_* = CLIPTokenizerFast (same transformers), hf5_* = transformers 5 "
                "CLIPTokenizer; present only where they differ from the slow ids",
    }
    with open(os.path.join(OUT_DIR, "clip_ids.json"), "w", encoding="utf-8") as f:
        f.write('{"meta": ' + json.dumps(meta, ensure_ascii=False) + ',\n "prompts": [\n')
        f.write(",\n".join("  " + json.dumps(e, ensure_ascii=False) for e in entries))
        f.write("\n]}\n")
    runs = char_classes()
    with open(os.path.join(OUT_DIR, "char_classes.json"), "w") as f:
        json.dump({"unicodedata": unicodedata.unidata_version, "regex": regex.__version__,
                   "classes": "D dropped, S space, C cjk, L letter, N number, O other, X none, U surrogate",
                   "runs": runs}, f, separators=(",", ":"))
        f.write("\n")
    print(f"{len(entries)} prompts, {len(runs)} code point runs")
    for i, tag, name in differ:
        print(f"differs: {tag} {name} prompt {i}: {PROMPTS[i]!r}")


if __name__ == "__main__":
    main()
