#include "launcher/selftest_render.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "farm/core/error.h"
#include "farm/pipeline/txt2img.h"
#include "kernels/check/precision_bound.h"
#include "kernels/check/rounded_ref_ops.h"
#include "kernels/cuda/cuda_backend.h"

namespace farm::launcher {
namespace {

namespace fs = std::filesystem;

// models/tiny-shapes of the source tree the binary was built in (build/bin/farm), else of the working directory.
std::string shipped_model() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  for (const fs::path& base : {exe.parent_path().parent_path().parent_path(), fs::current_path(ec)})
    if (fs::exists(base / "models/tiny-shapes/model_index.json")) return (base / "models/tiny-shapes").string();
  fail("selftest: models/tiny-shapes not found beside the binary or in the working directory; give --model DIR");
}

Tensor render(const std::string& dir, kernels::Backend& be, const pipeline::Txt2ImgRequest& r) {
  const auto m = pipeline::SdModel::load(dir, be);
  return pipeline::decode_latents(m, pipeline::denoise(m, {r}));
}

}  // namespace

RenderSelftest run_render_selftest(const std::string& model_dir, kernels::cuda::DType dtype, int local_rank,
                                   int local_ranks, const std::string& host) {
  RenderSelftest out;
  try {
    const std::string dir = model_dir.empty() ? shipped_model() : model_dir;
    pipeline::Txt2ImgRequest r;
    r.prompt = "a small red circle on the left, blue background";
    r.seed = 42, r.steps = 4, r.guidance = 7.5f, r.sampler = "euler";
    r.width = r.height = 64;
    const Tensor want = render(dir, kernels::cpu_backend(), r);
    const auto rounded = kernels::make_host_backend(kernels::testing::rounded_ref_ops(dtype));
    const Tensor baseline = render(dir, *rounded, r);
    const auto device = kernels::make_cuda_backend(dtype, local_rank, local_ranks, host);
    const auto t0 = std::chrono::steady_clock::now();
    const Tensor got = render(dir, *device, r);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto c = kernels::testing::check_precision(got.data, want.data, baseline.data, dtype);
    out.ok = c.passes();
    out.report = cat("render ", fs::path(dir).filename().string(), " 64x64 4 steps ", kernels::cuda::dtype_name(dtype),
                     " on the device vs fp32 cpu: ", c.describe(), out.ok ? " ok" : " FAILED", " (", s, " s)\n");
  } catch (const std::exception& e) {
    out.ok = false;
    out.report = cat("render check FAILED: ", e.what(), "\n");
  }
  return out;
}

}  // namespace farm::launcher
