#include "farm/coord/png.h"

#include <png.h>

#include <csetjmp>
#include <cstring>
#include <optional>

#include "farm/coord/atomic_file.h"
#include "farm/coord/utf8.h"
#include "farm/core/error.h"

namespace farm {
namespace {

// libpng reports errors by longjmp. Everything live across the setjmp in the
// functions below is trivially destructible or owned by the caller, so the
// jump skips no destructor; the message is copied here and thrown afterwards.
struct PngErrorState {
  std::jmp_buf jump;
  char message[256];
};

[[noreturn]] void on_png_error(png_structp png, png_const_charp msg) {
  auto* state = static_cast<PngErrorState*>(png_get_error_ptr(png));
  std::strncpy(state->message, msg, sizeof state->message - 1);
  state->message[sizeof state->message - 1] = '\0';
  std::longjmp(state->jump, 1);
}

void on_png_warning(png_structp, png_const_charp) {}

void append_bytes(png_structp png, png_bytep data, png_size_t size) {
  auto* out = static_cast<std::vector<std::uint8_t>*>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + size);
}

void flush_nothing(png_structp) {}

struct ReadCursor {
  const std::uint8_t* data;
  std::size_t size, pos;
};

void read_bytes(png_structp png, png_bytep dst, png_size_t size) {
  auto* cur = static_cast<ReadCursor*>(png_get_io_ptr(png));
  if (size > cur->size - cur->pos) png_error(png, "file is truncated");
  std::memcpy(dst, cur->data + cur->pos, size);
  cur->pos += size;
}

bool valid_key(const std::string& key) {
  if (key.empty() || key.size() > 79 || key.front() == ' ' || key.back() == ' ') return false;
  for (std::size_t i = 0; i < key.size(); ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (!((c >= 32 && c <= 126) || c >= 161)) return false;
    if (c == ' ' && key[i + 1] == ' ') return false;
  }
  return true;
}

// Latin-1 tEXt or UTF-8 iTXt, per chunk; `storage` keeps the bytes alive
// until png_write_info copied them.
struct TextChunks {
  std::vector<std::string> storage;
  std::vector<png_text> chunks;
};

TextChunks prepare_text(const PngText& text) {
  TextChunks t;
  t.storage.reserve(text.size() * 2);  // no reallocation: chunks point into it
  t.chunks.resize(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto& [key, value] = text[i];
    FARM_ASSERT(valid_key(key), "PNG text key '", key, "' is not 1..79 printable Latin-1 characters");
    FARM_ASSERT(!utf8::first_invalid_byte(value), "PNG text '", key, "' is not valid UTF-8");
    FARM_ASSERT(value.find('\0') == std::string::npos, "PNG text '", key, "' contains NUL");
    png_text& c = t.chunks[i];
    std::memset(&c, 0, sizeof c);
    t.storage.push_back(key);
    c.key = t.storage.back().data();
    if (std::optional<std::string> latin1 = utf8::to_latin1(value)) {
      c.compression = PNG_TEXT_COMPRESSION_NONE;
      t.storage.push_back(std::move(*latin1));
      c.text = t.storage.back().data();
      c.text_length = t.storage.back().size();
    } else {
      c.compression = PNG_ITXT_COMPRESSION_NONE;
      t.storage.push_back(value);
      c.text = t.storage.back().data();
      c.itxt_length = t.storage.back().size();
      c.lang = nullptr;  // empty language tag and translated keyword
      c.lang_key = nullptr;
    }
  }
  return t;
}

// Returns false with state.message set when libpng failed.
bool write_png(PngErrorState& state, std::vector<std::uint8_t>* out, int width, int height, int zlib_level,
               png_bytep* rows, png_text* chunks, int n_chunks) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &state, on_png_error, on_png_warning);
  if (!png) {
    std::strcpy(state.message, "out of memory");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (!info || setjmp(state.jump)) {
    png_destroy_write_struct(&png, info ? &info : nullptr);
    return false;
  }
  png_set_write_fn(png, out, append_bytes, flush_nothing);
  png_set_compression_level(png, zlib_level);
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8,
               PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  // Text before IDAT, where readers that stop at the image data still see it.
  if (n_chunks > 0) png_set_text(png, info, chunks, n_chunks);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

// `rows` belongs to the caller so that no object with a destructor lives in
// this frame across the setjmp.
bool read_png(PngErrorState& state, ReadCursor* cursor, DecodedPng* out, std::vector<png_bytep>* rows) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, on_png_error, on_png_warning);
  if (!png) {
    std::strcpy(state.message, "out of memory");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  png_infop end_info = info ? png_create_info_struct(png) : nullptr;
  if (!end_info || setjmp(state.jump)) {
    png_destroy_read_struct(&png, info ? &info : nullptr, end_info ? &end_info : nullptr);
    return false;
  }
  png_set_read_fn(png, cursor, read_bytes);
  png_read_info(png, info);
  png_set_expand(png);
  png_set_strip_16(png);
  png_set_strip_alpha(png);
  png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  if (png_get_rowbytes(png, info) != std::size_t{w} * 3) png_error(png, "unexpected row size after conversion to RGB8");
  out->width = static_cast<int>(w);
  out->height = static_cast<int>(h);
  out->rgb.resize(std::size_t{w} * h * 3);
  rows->resize(h);
  for (png_uint_32 y = 0; y < h; ++y) (*rows)[y] = out->rgb.data() + std::size_t{y} * w * 3;
  png_read_image(png, rows->data());
  png_read_end(png, end_info);
  for (png_infop part : {info, end_info}) {
    png_textp text = nullptr;
    int n = 0;
    png_get_text(png, part, &text, &n);
    for (int i = 0; i < n; ++i) {
      const bool itxt = text[i].compression == PNG_ITXT_COMPRESSION_NONE ||
                        text[i].compression == PNG_ITXT_COMPRESSION_zTXt;
      const std::string_view raw(text[i].text, itxt ? text[i].itxt_length : text[i].text_length);
      out->text.emplace_back(utf8::from_latin1(text[i].key), itxt ? std::string(raw) : utf8::from_latin1(raw));
    }
  }
  png_destroy_read_struct(&png, &info, &end_info);
  return true;
}

}  // namespace

std::vector<std::uint8_t> encode_png(int width, int height, const std::uint8_t* rgb, const PngText& text,
                                     int zlib_level) {
  FARM_ASSERT(width > 0 && height > 0, "PNG size ", width, "x", height);
  FARM_ASSERT(zlib_level >= 0 && zlib_level <= 9, "zlib level ", zlib_level);
  TextChunks chunks = prepare_text(text);
  std::vector<png_bytep> rows(static_cast<std::size_t>(height));
  for (int y = 0; y < height; ++y) {
    rows[static_cast<std::size_t>(y)] = const_cast<png_bytep>(rgb) + static_cast<std::size_t>(y) * width * 3;
  }
  std::vector<std::uint8_t> out;
  PngErrorState state{};
  if (!write_png(state, &out, width, height, zlib_level, rows.data(), chunks.chunks.data(),
                 static_cast<int>(chunks.chunks.size()))) {
    fail("PNG encoding failed: ", state.message);
  }
  return out;
}

DecodedPng decode_png(const std::vector<std::uint8_t>& bytes, const std::string& name) {
  static constexpr std::uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (bytes.size() < 8 || std::memcmp(bytes.data(), kSignature, 8) != 0) fail(name, ": not a PNG file");
  ReadCursor cursor{bytes.data(), bytes.size(), 0};
  DecodedPng out;
  PngErrorState state{};
  std::vector<png_bytep> rows;
  if (!read_png(state, &cursor, &out, &rows)) fail(name, ": invalid PNG: ", state.message);
  return out;
}

DecodedPng decode_png_file(const std::string& path) { return decode_png(read_file_bytes(path), path); }

}  // namespace farm
