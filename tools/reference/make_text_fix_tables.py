#!/usr/bin/env python3
"""Data tables of ftfy 6.3.1's fix_text for farm/text/text_fix*.cpp.

Writes farm/text/text_fix_tables.cpp and text_fix_entities.cpp (generated, do not edit): the code
tables of the single-byte encodings ftfy tries when it repairs mojibake, its
regexes (badness, UTF-8 detector, altered/lossy UTF-8, A-grave word) turned
into ICU regex syntax, its HTML entity table (html5 names plus its upper-case
forms), Python's html.unescape charref tables, and its ligature, character
width and control-character maps. Everything is read from the installed ftfy
and Python; nothing is typed by hand, so a new ftfy version is one re-run.

    nice /tmp/venv-tok4/bin/python tools/reference/make_text_fix_tables.py

Made with ftfy 6.3.1, Python 3.11.7 (unicodedata 14.0.0). The script checks
that each converted text regex, compiled back with the `regex` module (which
reads the same \\U escapes), finds what ftfy's finds on sample strings; the
C++ tests then compare fix_text with ftfy.fix_text on ~1000 strings.
"""
import html
import html.entities
import os
import re
import sys
import unicodedata

import ftfy
import ftfy.badness
import ftfy.bad_codecs  # noqa: F401  registers the sloppy-* codecs
import ftfy.chardata as cd
import ftfy.fixes

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(ROOT, "farm", "text", "text_fix_tables.cpp")
OUT_ENTITIES = os.path.join(ROOT, "farm", "text", "text_fix_entities.cpp")  # the HTML entity table alone

# Python str.isspace(), which is what `\s` means in a str pattern of `re`.
PY_SPACE = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())


def icu_char(c, in_class):
    o = ord(c)
    if o < 0x20 or o >= 0x7F:
        return "\\U%08X" % o
    if in_class and not c.isalnum() and c not in "-":
        return "\\" + c
    return c


def to_icu(pattern, verbose):
    """Python `re` syntax (as ftfy uses it) -> ICU regex syntax."""
    out, i, in_class, class_start = [], 0, False, False
    space_class = "".join(icu_char(c, True) for c in PY_SPACE)
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            e = pattern[i + 1]
            if e == "s":
                out.append(space_class if in_class else "[" + space_class + "]")
                i += 2
            elif e == "w":
                assert not in_class
                out.append("[\\p{L}\\p{N}_]")  # str.isalnum() or '_'
                i += 2
            elif e == "x":
                out.append("\\U%08X" % int(pattern[i + 2:i + 4], 16))
                i += 4
            elif e in "d|[]().?*+^$\\-{}":
                out.append("\\" + e)
                i += 2
            else:
                raise ValueError(f"escape \\{e} not handled")
            class_start = False
            continue
        if in_class:
            if c == "]" and not class_start:
                in_class = False
                out.append("]")
            elif c == "^" and class_start:
                out.append("^")
            else:
                out.append(icu_char(c, True))
            class_start = False
        elif verbose and c.isspace():
            pass
        elif verbose and c == "#":
            while i < len(pattern) and pattern[i] != "\n":
                i += 1
        elif c == "[":
            in_class, class_start = True, True
            out.append("[")
        elif c == ".":
            out.append("[^\\n]")  # ICU's '.' also stops at \r, U+2028...
        else:
            out.append(icu_char(c, False))
        i += 1
    assert not in_class
    return "".join(out)


def bytes_to_icu(pattern):
    """A bytes pattern over Latin-1 code points 0..255 (one per byte)."""
    return to_icu(pattern.decode("latin-1"), verbose=False)


def cpp_string(s):
    """An ASCII C++ literal of an (ASCII) ICU pattern."""
    assert all(ord(c) < 0x80 for c in s)
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cpp_utf8(s):
    out = []
    for b in s.encode("utf-8"):
        if 0x20 <= b < 0x7F and chr(b) not in '"\\?':
            out.append(chr(b))
        else:
            out.append("\\%03o" % b)
    return '"' + "".join(out) + '"'


def table(values, per_line=12, fmt="0x{:X}"):
    lines = []
    for k in range(0, len(values), per_line):
        lines.append("    " + ", ".join(fmt.format(v) for v in values[k:k + per_line]) + ",")
    return "\n".join(lines)


def charmap(encoding):
    out = []
    for b in range(256):
        try:
            out.append(ord(bytes([b]).decode(encoding)))
        except UnicodeDecodeError:
            out.append(0xFFFFFFFF)
    return out


def check_regex(py, icu_pattern, samples):
    """The converted pattern, compiled with `regex`, finds what ftfy's does."""
    import regex
    back = regex.compile(icu_pattern, regex.VERSION0)
    for s in samples:
        assert [m.span() for m in py.finditer(s)] == [m.span() for m in back.finditer(s)], (s, icu_pattern)


def main():
    assert ftfy.__version__ == "6.3.1", ftfy.__version__
    header = ("// Generated by tools/reference/make_text_fix_tables.py from ftfy %s, Python %s\n"
              "// (unicodedata %s). Do not edit.\n"
              '#include "farm/text/text_fix_tables.h"\n\n#include <iterator>\n\nnamespace farm::text::ftfy_data {\n'
              % (ftfy.__version__, sys.version.split()[0], unicodedata.unidata_version))
    parts = [header]

    # Single-byte encodings, in ftfy's order.
    parts.append("const Charmap kCharmaps[kCharmapCount] = {\n")
    for enc in cd.CHARMAP_ENCODINGS:
        parts.append('  {"%s", {\n%s\n  }},\n' % (enc, table(charmap(enc))))
    parts.append("};\n\n")
    parts.append("const Charmap kWindows1252 = {\"windows-1252\", {\n%s\n}};\n\n" % table(charmap("windows-1252")))
    assert len(cd.CHARMAP_ENCODINGS) == 10

    # Regexes.
    samples = ["cafÃ©", "Ã la mode", "â€œhelloâ€\x9d", "×²", "ГўВЂВ a", " Ã¡ x", "ÂÂ", "a Â ",
               "voilÃ\xa0 le", "ØªØ§Ø±ÙŠØ®", "œ1", "√±", "Ê°", "ăƒ", "\u0085", "x\ty", "Ã\n"]
    regexes = {
        "kBadnessPattern": (ftfy.badness.BADNESS_RE, True),
        "kUtf8DetectorPattern": (cd.UTF8_DETECTOR_RE, True),
    }
    for name, (rx, verbose) in regexes.items():
        icu = to_icu(rx.pattern, verbose)
        check_regex(rx, icu, samples)
        parts.append("const char* const %s =\n    %s;\n" % (name, cpp_string(icu)))
    byte_regexes = {
        "kAlteredUtf8Pattern": cd.ALTERED_UTF8_RE,
        "kLossyUtf8Pattern": cd.LOSSY_UTF8_RE,
        "kAGraveWordPattern": ftfy.fixes.A_GRAVE_WORD_RE,
    }
    for name, rx in byte_regexes.items():
        icu = bytes_to_icu(rx.pattern)
        parts.append("const char* const %s =\n    %s;\n" % (name, cpp_string(icu)))
    parts.append("\n")

    # HTML entities: "&name;" -> text, sorted by name (bytewise) for binary search.
    ents = sorted(cd.HTML_ENTITIES.items(), key=lambda kv: kv[0].encode())
    entities = [header, "const HtmlEntity kHtmlEntities[] = {\n"]
    for k in range(0, len(ents), 6):
        entities.append("    " + " ".join("{%s, %s}," % (cpp_utf8(n), cpp_utf8(v)) for n, v in ents[k:k + 6]) + "\n")
    entities.append("};\nconst size_t kHtmlEntitiesCount = std::size(kHtmlEntities);\n\n")
    entities.append("}  // namespace farm::text::ftfy_data\n")

    inv = html._invalid_charrefs
    parts.append("const CharrefFix kInvalidCharrefs[] = {\n%s\n};\n"
                 % table([f"{{0x{k:X}, 0x{ord(v):X}}}" for k, v in sorted(inv.items())], 6, "{}"))
    parts.append("const char32_t kInvalidCodepoints[] = {\n%s\n};\n\n"
                 % table(sorted(html._invalid_codepoints)))

    # Ligatures (to UTF-8), width map, control characters.
    parts.append("const CharMapping kLigatures[] = {\n%s\n};\n"
                 % "\n".join("    {0x%X, %s}," % (k, cpp_utf8(v)) for k, v in sorted(cd.LIGATURES.items())))
    parts.append("const CharMapping kWidthMap[] = {\n%s\n};\n"
                 % table([f"{{0x{k:X}, {cpp_utf8(v)}}}" for k, v in sorted(cd.WIDTH_MAP.items())], 6, "{}"))
    parts.append("const char32_t kControlChars[] = {\n%s\n};\n\n"
                 % table(sorted(cd.CONTROL_CHARS)))
    parts.append("}  // namespace farm::text::ftfy_data\n")

    counts = {"kInvalidCharrefs": len(inv),
              "kInvalidCodepoints": len(html._invalid_codepoints), "kLigatures": len(cd.LIGATURES),
              "kWidthMap": len(cd.WIDTH_MAP), "kControlChars": len(cd.CONTROL_CHARS)}
    parts.insert(-1, "".join("const size_t %sCount = std::size(%s);\n" % (n, n) for n in counts) + "\n")
    text = "".join(parts)
    with open(OUT, "w") as f:
        f.write(text)
    with open(OUT_ENTITIES, "w") as f:
        f.write("".join(entities))
    print(OUT, counts, OUT_ENTITIES, len(ents))


if __name__ == "__main__":
    main()
