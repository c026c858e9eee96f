// Prints ClipTokenizer::encode throughput over the reference prompts, cold
// (empty BPE cache, first pass) and warm. Usage: tokenizer_throughput [reps]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "farm/text/clip_tokenizer.h"

namespace {
std::string data_path(const std::string& relative) { return std::string(FARM_TEST_DATA) + "/" + relative; }
}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 2000;
  const auto ref = nlohmann::json::parse(std::ifstream(data_path("tokenizer/clip_ids.json")));
  std::vector<std::string> prompts;
  for (const auto& e : ref["prompts"]) prompts.push_back(e["text"].get<std::string>());
  const farm::text::ClipTokenizer tok(data_path("clip-vocab/vocab.json"), data_path("clip-vocab/merges.txt"));

  using clock = std::chrono::steady_clock;
  auto run = [&](int n, const char* label) {
    size_t tokens = 0;
    int64_t sink = 0;
    const auto t0 = clock::now();
    for (int r = 0; r < n; ++r)
      for (const auto& p : prompts) {
        const auto ids = tok.token_ids(p);
        tokens += ids.size();
        sink += tok.encode(p)[1];
      }
    const double s = std::chrono::duration<double>(clock::now() - t0).count();
    // Each prompt is encoded twice per pass (token_ids + encode): count both.
    std::printf("%s: %d x %zu prompts, %.3f s, %.0f prompts/s, %.0f tokens/s (checksum %lld)\n", label, n,
                prompts.size(), s, 2.0 * n * prompts.size() / s, 2.0 * tokens / s, static_cast<long long>(sink));
  };
  run(1, "cold");
  run(reps, "warm");
  return 0;
}
