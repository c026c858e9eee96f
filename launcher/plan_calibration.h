// farm plan --calibrate: times each UNet block, the text encoder and the VAE
// decoder on this machine's CPU backend for a workload, to replace the FLOP
// estimates of the cost model with measurements.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "partition/cost_model.h"

namespace farm::launcher {

struct Calibration {
  std::vector<double> block_s;  // per UNet block, one micro-batch (all rows), one step
  double text_s = 0, vae_s = 0;  // per micro-batch
  double load_s = 0;
};

// Loads the weights of the model folder and times every part on random
// inputs of the workload's shapes: 1 warm-up run, then the median of
// `repeats`. `progress` (may be empty) gets a line per part.
Calibration calibrate_on_cpu(const std::string& model_dir, const partition::Workload& w, int repeats,
                             const std::function<void(const std::string&)>& progress);

// The same for a Z-Image folder: every DiT block on each row's state (rows run
// one after another, as the ring runs them), the Qwen3 encoder on every row's
// caption of w.text_len tokens, the VAE on the items. A config-only folder
// (no weights) is timed on weights drawn from a seed: the times are the same.
Calibration calibrate_dit_on_cpu(const std::string& model_dir, const partition::Workload& w, int repeats,
                                 const std::function<void(const std::string&)>& progress);

}  // namespace farm::launcher
