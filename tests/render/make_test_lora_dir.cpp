// make_test_lora_dir SRC DST: the LoRA folder of the render tests
// (lora_files.h) for the mpirun layouts, which run the farm binary alone.
#include <cstdio>
#include <exception>

#include "tests/render/lora_files.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_test_lora_dir SRC_DIR DST_DIR (SRC_DIR: tests/data/lora/tiny-sd1)\n");
    return 2;
  }
  try {
    farm::test::make_lora_dir(argv[1], argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_test_lora_dir: %s\n", e.what());
    return 1;
  }
  return 0;
}
