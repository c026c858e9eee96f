// The cost model of a DiT (Z-Image): per-block FLOPs, parameters, working
// memory and the ring's messages, from configs alone, in the ModelCosts the
// partitioner, simulator and `farm plan` read for any model.
//
// Per row (one prompt, or its negative: CFG doubles the rows), with image
// tokens Ni = (h/2)·(w/2) and caption tokens Nc (the templated prompt), both
// padded to 32, and N = Ni + Nc: a transformer block over n tokens is
// 2·n·(4·D² + 3·D·F) in its linears plus 4·n²·D in attention (QKᵀ and PV);
// noise refiners run on Ni, context refiners on Nc, main layers on N (1.77
// TFLOP at 1024² with a 128-token caption for Z-Image-Turbo, as torch's FLOP
// counter measures). The Qwen3 encoder runs once per micro-batch (its rows at
// admission), the VAE once per item.
//
// The ring's state at a cut (zimage_ring.h) is the adaLN input plus either
// both padded streams (before the first main layer) or the unified sequence,
// [rows, N, D] at the device's element size; the return to stage 0 is the
// items' latents in fp32. No skips, no context messages: captions stay on
// stage 0, where the embed block reads them.
#pragma once

#include "partition/cost_model.h"

namespace farm::partition {

ModelCosts estimate_dit_costs(const ModelShape& m, const Workload& w, const DeviceProfile& d);

}  // namespace farm::partition
