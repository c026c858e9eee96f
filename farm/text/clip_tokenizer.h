// The CLIP tokenizer of Stable Diffusion 1.x/2.x: prompt -> 77 token ids,
// identical to what diffusers' StableDiffusionPipeline gets from transformers'
// slow CLIPTokenizer (transformers 4.x) with padding="max_length",
// max_length=77, truncation=True: by default as with ftfy installed (the
// original CLIP tokenizer's text fixing, what A1111 gets), or, with
// fix_text = false, as without ftfy (BasicTokenizer; CJK split apart).
//
// Pipeline: split off added tokens typed literally (bos/eos/unk/pad strings,
// matched case-sensitively), pre-tokenize the rest (clip_pretokenizer.h), BPE
// each word (clip_bpe.h), keep the first max_length-2 ids, wrap them in
// BOS ... EOS and pad.
//
// Note SD 2.x pads with "!": being an added token there, a '!' typed in the
// prompt also becomes id 0 on its own, never "!</w>" (256) or "!!</w>";
// transformers does the same.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "farm/text/clip_bpe.h"

namespace farm::text {

struct ClipTokenizerOptions {
  std::string bos_token = "<|startoftext|>";
  std::string eos_token = "<|endoftext|>";
  std::string unk_token = "<|endoftext|>";
  std::string pad_token = "<|endoftext|>";  // SD 2.x: "!"
  int max_length = 77;
  // true: ftfy.fix_text + whitespace_clean (transformers with ftfy, original
  // CLIP). false: transformers' fallback without ftfy. See clip_pretokenizer.h.
  bool fix_text = true;
};

class ClipTokenizer {
 public:
  ClipTokenizer(const std::string& vocab_path, const std::string& merges_path,
                ClipTokenizerOptions options = {});
  // A tokenizers file (tokenizer.json) for the vocabulary and merges.
  static ClipTokenizer from_tokenizer_json(const std::string& path, ClipTokenizerOptions options = {});

  // A diffusers `tokenizer/` folder: vocab.json and merges.txt, or only
  // tokenizer.json (as transformers 5 saves a tokenizer), and the special
  // tokens and model_max_length from special_tokens_map.json (preferred, as in
  // transformers) or tokenizer_config.json, where present, over `defaults`
  // (which alone give fix_text).
  static ClipTokenizer from_folder(const std::string& dir, ClipTokenizerOptions defaults = {});

  // Exactly max_length ids: BOS, up to max_length-2 prompt ids, EOS, padding.
  std::vector<int64_t> encode(std::string_view utf8) const { return encode(utf8, options_.fix_text); }
  std::vector<int64_t> encode(std::string_view utf8, bool fix_text) const;

  // The prompt's ids with no BOS/EOS, no truncation, no padding (for
  // long-prompt chunking).
  std::vector<int64_t> token_ids(std::string_view utf8) const { return token_ids(utf8, options_.fix_text); }
  // With ftfy's text fixing or without, whatever the options say (a job's choice).
  std::vector<int64_t> token_ids(std::string_view utf8, bool fix_text) const;

  // Bytes of the ids without special tokens; '</w>' ends a word with a space,
  // the result is trimmed (transformers' convert_tokens_to_string, without its
  // UTF-8 repair: a cut multi-byte character stays cut).
  std::string decode(const std::vector<int64_t>& ids) const;

  int64_t bos_id() const { return bos_id_; }
  int64_t eos_id() const { return eos_id_; }
  int64_t pad_id() const { return pad_id_; }
  int max_length() const { return options_.max_length; }
  const ClipTokenizerOptions& options() const { return options_; }

 private:
  ClipTokenizer(std::unique_ptr<ClipBpe> bpe, const std::string& source, ClipTokenizerOptions options);
  std::unique_ptr<ClipBpe> bpe_;
  ClipTokenizerOptions options_;
  AddedTokenSplitter added_;
  int64_t bos_id_ = -1;
  int64_t eos_id_ = -1;
  int64_t unk_id_ = -1;
  int64_t pad_id_ = -1;
};

}  // namespace farm::text
