// A .safetensors file (header and data): open it and read every tensor.
#include <ATen/ATen.h>

#include "fuzz_support.h"
#include "shadowpeft/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = shadowpeft::fuzz::write_file("model.safetensors", {reinterpret_cast<const char*>(data), size});
  shadowpeft::fuzz::expect_only_library_errors([&] {
    const auto file = shadowpeft::io::SafetensorsFile::open(path);
    for (const auto& info : file.tensors()) {
      const at::Tensor t = file.tensor(info.name);
      if (t.numel() > 0) (void)t.flatten()[0].item();  // touch the data
    }
  });
  return 0;
}
