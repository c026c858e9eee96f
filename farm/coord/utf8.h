// UTF-8 checks and the Latin-1 transcoding PNG tEXt chunks need (tEXt holds
// ISO 8859-1 bytes; PIL, A1111 and exiftool read it that way).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace farm::utf8 {

// Byte offset of the first ill-formed sequence (overlong forms, surrogates and
// code points above U+10FFFF count as ill-formed), or nullopt when `s` is valid.
std::optional<std::size_t> first_invalid_byte(std::string_view s);

// The code point at byte `i` of `s` into `cp`; returns its length in bytes
// (1-4), or 0 when the sequence there is ill-formed (as first_invalid_byte).
std::size_t decode(std::string_view s, std::size_t i, char32_t& cp);

// The Latin-1 bytes of valid UTF-8 `s`, or nullopt when a code point is above U+00FF.
std::optional<std::string> to_latin1(std::string_view s);

std::string from_latin1(std::string_view s);

}  // namespace farm::utf8
