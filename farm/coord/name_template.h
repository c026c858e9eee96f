// Output file names from `--name-template`, as A1111 ("[seed]-[prompt]") and
// Fooocus users expect, but with names that every common file system takes and
// that never leave the output folder.
//
// A template is literal text and fields; ".png" is appended:
//   {index}    the item's 0-based position, zero-padded to 5 digits (wider past
//              99999); {index:N} pads to N digits (1..19) instead
//   {seed} {steps} {width} {height}   the item's values, in decimal
//   {sampler}  farm's sampler name (ddim, euler_a, ...), as a slug of at
//              most kMaxSamplerBytes
//   {prompt}   the prompt as a file-name slug (file_name_slug below)
//   {date}     YYYY-MM-DD as the caller passes it (the job's start date, so
//              that a rerun on another day finds the same names)
//   {{ }}      a literal brace
// The default "{index}-{seed}" gives exactly image_file_name's names.
//
// '/' separates folders (A1111's "directory name pattern" in the same
// string): "{date}/{index}-{prompt}". The result is always relative and
// never escapes the output folder, because the template is checked once:
//   * no leading '/', no empty component ("a//b", trailing '/');
//   * no component begins or ends with '.' or ' ' (rules out "." and "..",
//     hidden files, and the trailing dots and spaces Windows drops); fields
//     never render empty nor begin or end with those, so literal text at a
//     component's edges is all there is to check;
//   * literal text holds no control characters and none of < > : " \ | ? *
//     (reserved on Windows; ':' is also a drive or an NTFS stream, '\' a
//     separator there);
//   * {index} is required, so that every item has its own name, and may not
//     touch another field ("{index}{seed}" is ambiguous past 99999 items);
//   * no component can exceed kMaxComponentBytes, whatever the values.
// At render time a component whose stem (up to the first '.', trailing
// spaces dropped) is a Windows device name (CON, PRN, AUX, NUL, COM0-9,
// LPT0-9, COM¹²³, LPT¹²³; any case) gets a '_' in front: "_CON/00001-5.png".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "farm/coord/job.h"

namespace farm {

// Each path component, ".png" included, stays within 200 bytes: NAME_MAX is
// 255 on ext4, XFS, btrfs, APFS and (in UTF-16 units, never more than UTF-8
// bytes) NTFS, and write_file_atomic's temporary ".NAME.tmp.PID.N" adds up
// to 1 + 5 + 7 + 1 + 20 = 34 bytes to the file's name.
inline constexpr std::size_t kMaxComponentBytes = 200;
inline constexpr std::size_t kMaxSamplerBytes = 32;

// Text made safe as part of a file name, at most `max_bytes` (>= 1) long:
//   * runs of whitespace (ASCII and Unicode), control characters (C0, DEL,
//     C1), invisible direction and format marks (U+200B, U+200E-F,
//     U+202A-E, U+2060-4, U+2066-9, U+061C, U+180E, U+FEFF), U+FFFE/U+FFFF,
//     ill-formed UTF-8 and the reserved < > : " / \ | ? * each become one '_'
//     ("a cat / dog" -> "a_cat_dog"; A1111's [prompt] also writes '_');
//   * other characters are kept as they are, non-ASCII included (as A1111:
//     "猫", "é", emoji, ZWJ sequences), without Unicode normalisation;
//   * leading and trailing '.' and '_' are dropped ("../etc" -> "etc");
//   * cut to `max_bytes` at a code point boundary (a grapheme made of several
//     code points may lose its tail), then trailing '.' and '_' dropped again;
//   * nothing left (empty prompt, "...", "???") -> "_".
std::string file_name_slug(std::string_view text, std::size_t max_bytes);

class NameTemplate {
 public:
  static constexpr std::string_view kDefault = "{index}-{seed}";

  // Throws farm::Error naming `--name-template` and what was expected.
  explicit NameTemplate(std::string_view text);

  // The item's path relative to the output folder ('/'-separated, ending in
  // ".png"); the caller creates its folders. The item's seed must be fixed
  // (>= 0) and `date` YYYY-MM-DD. {prompt} takes what its component has left
  // (shared equally when a component has several).
  std::string file_name(const JobItem& item, std::string_view date) const;

  // file_name for every item, failing when two items would share a name
  // (compared ASCII-case-insensitively, as on Windows and macOS): a template
  // may be legal and still collide, e.g. "{prompt}-{index}-{prompt}".
  std::vector<std::string> file_names(const std::vector<JobItem>& items, std::string_view date) const;

  const std::string& text() const { return text_; }
  bool has_folders() const { return components_.size() > 1; }

  enum class Field { kLiteral, kIndex, kSeed, kPrompt, kSteps, kSampler, kWidth, kHeight, kDate };
  struct Piece {
    Field field = Field::kLiteral;
    std::string literal;  // kLiteral only
    int width = 0;        // kIndex only: zero-padding
  };

 private:
  std::string render_component(const std::vector<Piece>& pieces, bool last, const JobItem& item,
                               std::string_view date) const;

  std::string text_;
  std::vector<std::vector<Piece>> components_;  // split at '/'
};

}  // namespace farm
