// --backend NAME -> the op table; a clear error when this build or this
// node cannot run it.
#pragma once

#include <string>

#include "kernels/ops.h"

namespace farm::launcher {

const kernels::Ops* select_backend(const std::string& name);

}  // namespace farm::launcher
