// Files written by Python `safetensors` load in C++ with the same dtype, shape, bytes and metadata.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "shadowpeft/core/error.h"
#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/safetensors.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

using io::SafetensorsFile;
namespace fs = std::filesystem;

const fs::path& dtype_dir() {
  static const fs::path dir = test::fixtures_dir() / "safetensors";
  return dir;
}

// Python's torch dtype names (from the manifest) for each safetensors dtype.
std::string torch_name(io::DType dtype) {
  static const std::map<std::string, std::string> names = {
      {"F64", "float64"}, {"F32", "float32"}, {"F16", "float16"}, {"BF16", "bfloat16"},
      {"I64", "int64"},   {"I32", "int32"},   {"I16", "int16"},   {"I8", "int8"},
      {"U8", "uint8"},    {"U16", "uint16"},  {"U32", "uint32"},  {"U64", "uint64"},
      {"BOOL", "bool"},   {"F8_E4M3", "float8_e4m3fn"}, {"F8_E5M2", "float8_e5m2"}};
  return names.at(std::string(io::dtype_name(dtype)));
}

TEST(SafetensorsRead, EveryDtypeMatchesPythonBytes) {
  const auto file = SafetensorsFile::open(dtype_dir() / "all_dtypes.safetensors");
  const io::Json manifest = io::read_json_file(dtype_dir() / "manifest.json");
  ASSERT_EQ(file.tensors().size(), manifest["tensors"].size());
  for (const auto& [name, expected] : manifest["tensors"].items()) {
    SCOPED_TRACE(name);
    const io::TensorInfo* info = file.find(name);
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(torch_name(info->dtype), expected["dtype"].get<std::string>());
    EXPECT_EQ(info->shape, expected["shape"].get<std::vector<int64_t>>());

    const std::string raw = test::read_file_bytes(dtype_dir() / "raw" / (name + ".bin"));
    const at::Tensor t = file.tensor(name);
    EXPECT_EQ(t.scalar_type(), io::to_scalar_type(info->dtype));
    EXPECT_EQ(t.sizes().vec(), info->shape);
    ASSERT_EQ(static_cast<std::size_t>(t.numel() * t.element_size()), raw.size());
    if (!raw.empty()) EXPECT_EQ(std::memcmp(t.contiguous().data_ptr(), raw.data(), raw.size()), 0);  // empty: no data pointer
  }
}

TEST(SafetensorsRead, MetadataMatchesPython) {
  const auto file = SafetensorsFile::open(dtype_dir() / "all_dtypes.safetensors");
  const io::Json manifest = io::read_json_file(dtype_dir() / "manifest.json");
  io::Metadata expected;
  for (const auto& [k, v] : manifest["metadata"].items()) expected[k] = v.get<std::string>();
  EXPECT_EQ(file.metadata(), expected);
}

TEST(SafetensorsRead, AlignedTensorsViewTheMappingWithoutCopying) {
  const auto file = SafetensorsFile::open(dtype_dir() / "all_dtypes.safetensors");
  const at::Tensor t = file.tensor("f32");
  EXPECT_EQ(t.data_ptr(), static_cast<const void*>(file.bytes("f32").data()));
}

TEST(SafetensorsRead, MisalignedTensorIsCopiedWithCorrectValues) {
  // Other writers need not pad the header: here the F32 data starts at an odd file offset.
  std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  if (header.size() % 2 == 0) header += ' ';
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  const float values[2] = {1.5f, -2.0f};
  bytes += header + std::string(reinterpret_cast<const char*>(values), sizeof values);
  const fs::path path = test::scratch_dir("read_misaligned") / "odd.safetensors";
  std::ofstream(path, std::ios::binary) << bytes;

  const at::Tensor t = io::SafetensorsFile::open(path).tensor("a");
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.data_ptr()) % alignof(float), 0u);
  EXPECT_EQ(t[0].item<float>(), 1.5f);
  EXPECT_EQ(t[1].item<float>(), -2.0f);
}

TEST(SafetensorsRead, TensorsOutliveTheFileObject) {
  at::Tensor t;
  at::Tensor expected;
  {
    const auto file = SafetensorsFile::open(dtype_dir() / "all_dtypes.safetensors");
    t = file.tensor("f64");
    expected = t.clone();
  }
  EXPECT_TRUE(at::equal(t.nan_to_num(), expected.nan_to_num()));
}

TEST(SafetensorsRead, WritingToALoadedTensorLeavesTheFileUnchanged) {
  const fs::path copy = test::scratch_dir("read_cow") / "copy.safetensors";
  fs::copy_file(dtype_dir() / "all_dtypes.safetensors", copy);
  const std::string before = test::read_file_bytes(copy);
  {
    const auto file = SafetensorsFile::open(copy);
    file.tensor("f32").fill_(42.0f);
    EXPECT_EQ(file.tensor("f32").mul(0).sum().item<float>(), 0.0f);
  }
  EXPECT_EQ(test::read_file_bytes(copy), before);
}

TEST(SafetensorsRead, UnknownTensorNameIsAnErrorNamingFileAndTensor) {
  const auto file = SafetensorsFile::open(dtype_dir() / "all_dtypes.safetensors");
  try {
    file.tensor("nope");
    FAIL() << "expected LoadError";
  } catch (const LoadError& e) {
    EXPECT_NE(std::string(e.what()).find("all_dtypes.safetensors"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'nope'"), std::string::npos) << e.what();
  }
}

TEST(SafetensorsRead, MissingFileIsAnErrorNamingIt) {
  EXPECT_THROW(
      {
        try {
          SafetensorsFile::open(dtype_dir() / "absent.safetensors");
        } catch (const LoadError& e) {
          EXPECT_NE(std::string(e.what()).find("absent.safetensors"), std::string::npos);
          throw;
        }
      },
      LoadError);
}

}  // namespace
}  // namespace shadowpeft
