// A1111 prompt syntax: the parser on A1111's documented examples and a table
// of edge cases, and the 75-token chunking, with expected values worked out
// by hand (weights as the products A1111 computes, in its order).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "farm/core/error.h"
#include "farm/text/clip_tokenizer.h"
#include "farm/text/prompt_attention.h"
#include "farm/text/prompt_chunks.h"

namespace farm::text {
namespace {

using Pieces = std::vector<PromptPiece>;
PromptPiece T(std::string t, double w) { return {std::move(t), w, false}; }
const PromptPiece kBreak{"", 1.0, true};
const double up = 1.1, down = 1 / 1.1;

TEST(PromptAttention, A1111DocumentedExamples) {
  EXPECT_EQ(parse_prompt_attention("normal text"), (Pieces{T("normal text", 1.0)}));
  EXPECT_EQ(parse_prompt_attention("an (important) word"),
            (Pieces{T("an ", 1.0), T("important", 1.1), T(" word", 1.0)}));
  EXPECT_EQ(parse_prompt_attention("(unbalanced"), (Pieces{T("unbalanced", 1.1)}));
  EXPECT_EQ(parse_prompt_attention("\\(literal\\]"), (Pieces{T("(literal]", 1.0)}));
  EXPECT_EQ(parse_prompt_attention("(unnecessary)(parens)"), (Pieces{T("unnecessaryparens", 1.1)}));
  // The docstring's last example, with the numbers A1111 prints (one '(' before
  // "house" stays open, so everything after it gets a last × 1.1).
  EXPECT_EQ(parse_prompt_attention("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky)))."),
            (Pieces{T("a ", 1.0), T("house", 1.5730000000000004), T(" ", 1.1), T("on", 1.0), T(" a ", 1.1),
                    T("hill", 0.55), T(", sun, ", 1.1), T("sky", 1.4641000000000006), T(".", 1.1)}));
}

TEST(PromptAttention, EdgeCases) {
  EXPECT_EQ(parse_prompt_attention(""), (Pieces{T("", 1.0)}));
  EXPECT_EQ(parse_prompt_attention("()"), (Pieces{T("", 1.0)}));
  EXPECT_EQ(parse_prompt_attention("(a:0)"), (Pieces{T("a", 0.0)}));
  EXPECT_EQ(parse_prompt_attention("(a:-1)"), (Pieces{T("a", -1.0)}));
  EXPECT_EQ(parse_prompt_attention("(a:+.5)"), (Pieces{T("a", 0.5)}));
  EXPECT_EQ(parse_prompt_attention("(a : 1.5 ) b"), (Pieces{T("a ", 1.5), T(" b", 1.0)}));
  // 1e3 is not a weight to A1111 (digits and dots only): ':' and "1e3" are text, ')' closes at 1.1.
  EXPECT_EQ(parse_prompt_attention("(a:1e3)"), (Pieces{T("a:1e3", 1.1)}));
  EXPECT_EQ(parse_prompt_attention("(a:1.5"), (Pieces{T("a:1.5", 1.1)}));       // no ')': text, closed at the end
  EXPECT_EQ(parse_prompt_attention("a:1.5) b"), (Pieces{T("a:1.5) b", 1.0)}));  // nothing open: all text
  EXPECT_EQ(parse_prompt_attention("[a:1.5]"), (Pieces{T("a:1.5", down)}));     // weights only close '('
  EXPECT_EQ(parse_prompt_attention("[[a]] b]"), (Pieces{T("a", down * down), T(" b]", 1.0)}));
  EXPECT_EQ(parse_prompt_attention("((a) b:2)"), (Pieces{T("a", 1.1 * 2.0), T(" b", 2.0)}));
  EXPECT_EQ(parse_prompt_attention("((a:2) b:3)"), (Pieces{T("a", 6.0), T(" b", 3.0)}));
  EXPECT_EQ(parse_prompt_attention("(a[b])"), (Pieces{T("a", up), T("b", down * up)}));
  EXPECT_EQ(parse_prompt_attention("x \\\\ y \\ z"), (Pieces{T("x \\ y  z", 1.0)}));  // a lone '\' is dropped
  EXPECT_EQ(parse_prompt_attention("(a)(b:1.1)"), (Pieces{T("ab", 1.1)}));  // equal weights merge
  EXPECT_EQ(parse_prompt_attention("time: 12:30"), (Pieces{T("time: 12:30", 1.0)}));
  EXPECT_EQ(parse_prompt_attention("smile :)"), (Pieces{T("smile :)", 1.0)}));
  EXPECT_THROW(parse_prompt_attention("(a:1.2.3)"), Error);
  EXPECT_THROW(parse_prompt_attention("(a:.)"), Error);
}

TEST(PromptAttention, Break) {
  EXPECT_EQ(parse_prompt_attention("a BREAK b"), (Pieces{T("a", 1.0), kBreak, T("b", 1.0)}));
  EXPECT_EQ(parse_prompt_attention("a  BREAK\n b"), (Pieces{T("a", 1.0), kBreak, T("b", 1.0)}));
  EXPECT_EQ(parse_prompt_attention("BREAK b"), (Pieces{T("", 1.0), kBreak, T("b", 1.0)}));
  EXPECT_EQ(parse_prompt_attention("a BREAK"), (Pieces{T("a", 1.0), kBreak, T("", 1.0)}));
  EXPECT_EQ(parse_prompt_attention("a BREAK BREAK b"), (Pieces{T("a", 1.0), kBreak, T("", 1.0), kBreak, T("b", 1.0)}));
  EXPECT_EQ(parse_prompt_attention("aBREAK b, BREAKs, break"), (Pieces{T("aBREAK b, BREAKs, break", 1.0)}));
  EXPECT_EQ(parse_prompt_attention("a,BREAK,b"), (Pieces{T("a,", 1.0), kBreak, T(",b", 1.0)}));
  // Inside brackets it still breaks (A1111 would tokenize the word there).
  EXPECT_EQ(parse_prompt_attention("(a BREAK b)"), (Pieces{T("a", up), kBreak, T("b", up)}));
}

TEST(PromptAttention, ExtraNetworkTags) {
  std::vector<ExtraNetworkTag> tags;
  EXPECT_EQ(strip_extra_networks("a <lora:film_grain:0.6> cat <lora:x> <hypernet:h:1>, <not a tag> <:x> <a:>", &tags),
            "a  cat  , <not a tag> <:x> <a:>");
  ASSERT_EQ(tags.size(), 3u);
  EXPECT_EQ(tags[0].kind, "lora");
  EXPECT_EQ(tags[0].args, (std::vector<std::string>{"film_grain", "0.6"}));
  EXPECT_EQ(tags[1].args, (std::vector<std::string>{"x"}));
  EXPECT_EQ(tags[2].kind, "hypernet");
}

class PromptChunking : public ::testing::Test {
 protected:
  void SetUp() override {
    tok1_ = std::make_unique<ClipTokenizer>(ClipTokenizer::from_folder(FARM_TEST_DATA "/tiny-sd1/tokenizer"));
    tok2_ = std::make_unique<ClipTokenizer>(ClipTokenizer::from_folder(FARM_TEST_DATA "/tiny-sd2/tokenizer"));
    cat_ = one_id("cat");
    comma_ = one_id(",");
  }
  int64_t one_id(const std::string& word) const {
    const auto ids = tok1_->token_ids(word);
    EXPECT_EQ(ids.size(), 1u) << word;
    return ids.at(0);
  }
  static std::string words(const std::string& w, int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += (i ? " " : "") + w;
    return s;
  }
  // BOS, `body`, then EOS to 77 (the pad after the first EOS for SD 2).
  std::vector<int64_t> chunk(const ClipTokenizer& t, std::vector<int64_t> body) const {
    std::vector<int64_t> c{t.bos_id()};
    c.insert(c.end(), body.begin(), body.end());
    c.push_back(t.eos_id());
    c.resize(77, t.pad_id());
    return c;
  }
  static std::vector<int64_t> repeat(int64_t id, int n) { return std::vector<int64_t>(static_cast<size_t>(n), id); }
  static std::vector<int64_t> join(std::vector<std::vector<int64_t>> parts) {
    std::vector<int64_t> out;
    for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
  }
  std::unique_ptr<ClipTokenizer> tok1_, tok2_;
  int64_t cat_ = 0, comma_ = 0;
};

TEST_F(PromptChunking, EmptyPromptIsOneEmptyChunk) {
  for (const auto* t : {tok1_.get(), tok2_.get()}) {
    const auto c = chunk_prompt(*t, parse_prompt_attention(""));
    EXPECT_EQ(c.count, 1);
    EXPECT_EQ(c.ids, chunk(*t, {}));
    EXPECT_EQ(c.ids, t->encode(""));  // what diffusers feeds for ""
    EXPECT_FALSE(c.weighted());
  }
}

TEST_F(PromptChunking, ShortPromptEqualsTheTokenizer) {
  for (const auto* t : {tok1_.get(), tok2_.get()}) {
    const std::string p = "a photo of a cat, highly detailed!";
    const auto c = chunk_prompt(*t, parse_prompt_attention(p));
    EXPECT_EQ(c.count, 1);
    EXPECT_EQ(c.ids, t->encode(p));
  }
}

TEST_F(PromptChunking, LongPromptsSplitAt75) {
  const auto c = chunk_prompt(*tok1_, parse_prompt_attention(words("cat", 80)));
  EXPECT_EQ(c.count, 2);
  EXPECT_EQ(c.prompt_tokens, 80);
  EXPECT_EQ(c.ids, join({chunk(*tok1_, repeat(cat_, 75)), chunk(*tok1_, repeat(cat_, 5))}));
  const auto exactly = chunk_prompt(*tok1_, parse_prompt_attention(words("cat", 75)));
  EXPECT_EQ(exactly.count, 1);
  const auto four = chunk_prompt(*tok2_, parse_prompt_attention(words("cat", 301)));
  EXPECT_EQ(four.count, 5);
  EXPECT_EQ(four.ids.size(), 5u * 77);
  EXPECT_EQ(std::vector<int64_t>(four.ids.begin() + 4 * 77, four.ids.end()), chunk(*tok2_, repeat(cat_, 1)));
}

TEST_F(PromptChunking, CommaBacktrack) {
  // 70 cats, a comma, 10 cats: the chunk fills at 75 with the comma 5 back,
  // so the 4 cats after it move on with the rest: 70 + ',' | 10 cats.
  const std::string p = words("cat", 70) + ", " + words("cat", 10);
  const auto c = chunk_prompt(*tok1_, parse_prompt_attention(p));
  EXPECT_EQ(c.count, 2);
  EXPECT_EQ(c.ids, join({chunk(*tok1_, join({repeat(cat_, 70), {comma_}})), chunk(*tok1_, repeat(cat_, 10))}));
  // A comma 25 back is beyond the 20-token backtrack: a plain cut at 75.
  const std::string far = words("cat", 50) + ", " + words("cat", 30);
  const auto f = chunk_prompt(*tok1_, parse_prompt_attention(far));
  EXPECT_EQ(f.ids, join({chunk(*tok1_, join({repeat(cat_, 50), {comma_}, repeat(cat_, 24)})),
                         chunk(*tok1_, repeat(cat_, 6))}));
  // Backtrack 0 turns it off.
  const auto off = chunk_prompt(*tok1_, parse_prompt_attention(p), 0);
  EXPECT_EQ(off.ids, join({chunk(*tok1_, join({repeat(cat_, 70), {comma_}, repeat(cat_, 4)})),
                           chunk(*tok1_, repeat(cat_, 6))}));
}

TEST_F(PromptChunking, BreakPadsTheChunk) {
  const auto c = chunk_prompt(*tok2_, parse_prompt_attention("cat BREAK cat cat"));
  EXPECT_EQ(c.count, 2);
  EXPECT_EQ(c.ids, join({chunk(*tok2_, {cat_}), chunk(*tok2_, {cat_, cat_})}));
  // BREAK right at a chunk boundary: 75 cats fill the chunk, BREAK closes it... and an empty one follows.
  const auto at = chunk_prompt(*tok1_, parse_prompt_attention(words("cat", 75) + " BREAK cat"));
  EXPECT_EQ(at.ids, join({chunk(*tok1_, repeat(cat_, 75)), chunk(*tok1_, {cat_})}));
  const auto twice = chunk_prompt(*tok1_, parse_prompt_attention("cat BREAK BREAK cat"));
  EXPECT_EQ(twice.ids, join({chunk(*tok1_, {cat_}), chunk(*tok1_, {}), chunk(*tok1_, {cat_})}));
}

TEST_F(PromptChunking, WeightsFollowTheirTokens) {
  const auto c = chunk_prompt(*tok1_, parse_prompt_attention("(cat:1.5) cat [cat]"));
  ASSERT_EQ(c.weights.size(), 77u);
  EXPECT_EQ(c.weights[0], 1.0f);
  EXPECT_EQ(c.weights[1], 1.5f);
  EXPECT_EQ(c.weights[2], 1.0f);
  EXPECT_EQ(c.weights[3], static_cast<float>(1 / 1.1));
  EXPECT_EQ(c.weights[4], 1.0f);
  EXPECT_TRUE(c.weighted());
}

TEST_F(PromptChunking, PadAndPlain) {
  auto c = chunk_prompt(*tok2_, parse_prompt_attention("cat"));
  pad_chunks(c, 3, *tok2_);
  EXPECT_EQ(c.count, 3);
  EXPECT_EQ(c.ids, join({chunk(*tok2_, {cat_}), chunk(*tok2_, {}), chunk(*tok2_, {})}));
  const auto plain = plain_prompt(*tok1_, "(cat) " + words("cat", 90));
  EXPECT_EQ(plain.count, 1);
  EXPECT_EQ(plain.prompt_tokens, 93);  // '(' 'cat' ')' as text
  EXPECT_EQ(plain.ids, tok1_->encode("(cat) " + words("cat", 90)));
}

}  // namespace
}  // namespace farm::text
