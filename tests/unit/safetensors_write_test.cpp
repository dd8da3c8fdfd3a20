// Our writer: round-trips every dtype bit-exact, writes files byte-identical to Python's
// `safetensors`, and never leaves a partial file behind. And what loading does with the mapped
// pages once it copied a tensor (release_mapped_pages).
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>

#include "shadowpeft/core/error.h"
#include "shadowpeft/io/safetensors.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;
using io::SafetensorsFile;

TEST(SafetensorsWrite, RoundTripsEveryDtypeBitExact) {
  const auto original = SafetensorsFile::open(test::fixtures_dir() / "safetensors" / "all_dtypes.safetensors");
  const fs::path out = test::scratch_dir("write_roundtrip") / "copy.safetensors";
  io::save_safetensors(out, original.load_all(), original.metadata());
  const auto copy = SafetensorsFile::open(out);
  EXPECT_EQ(copy.metadata(), original.metadata());
  ASSERT_EQ(copy.tensors().size(), original.tensors().size());
  for (const io::TensorInfo& t : original.tensors())
    EXPECT_TENSOR_BITWISE_EQ(copy.tensor(t.name), original.tensor(t.name), t.name);
}

TEST(SafetensorsWrite, IsByteIdenticalToPythonSafetensors) {
  // transformers wrote this file through safetensors.torch.save_file with metadata {"format": "pt"}.
  const fs::path python_file = test::fixtures_dir() / "tiny_llama" / "model.safetensors";
  const auto original = SafetensorsFile::open(python_file);
  const fs::path out = test::scratch_dir("write_identical") / "model.safetensors";
  io::save_safetensors(out, original.load_all(), original.metadata());
  EXPECT_EQ(test::read_file_bytes(out), test::read_file_bytes(python_file));
}

TEST(SafetensorsWrite, HeaderIsPaddedToEightBytes) {
  const fs::path out = test::scratch_dir("write_padding") / "x.safetensors";
  io::save_safetensors(out, {{"abc", at::ones({3}, at::kByte)}});
  const std::string bytes = test::read_file_bytes(out);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + n + 3);
}

TEST(SafetensorsWrite, NonContiguousAndNonCpuLayoutsAreWrittenAsValues) {
  const at::Tensor base = at::arange(12, at::kFloat).reshape({3, 4});
  const at::Tensor transposed = base.t();
  const fs::path out = test::scratch_dir("write_layout") / "t.safetensors";
  io::save_safetensors(out, {{"t", transposed}, {"slice", base.index({at::indexing::Slice(), 1})}});
  const auto file = SafetensorsFile::open(out);
  EXPECT_TRUE(at::equal(file.tensor("t"), transposed));
  EXPECT_TRUE(at::equal(file.tensor("slice"), base.index({at::indexing::Slice(), 1})));
}

TEST(SafetensorsWrite, FailedWriteLeavesExistingFileAndNoTemporaries) {
  const fs::path dir = test::scratch_dir("write_atomic");
  const fs::path out = dir / "keep.safetensors";
  io::save_safetensors(out, {{"a", at::ones({2})}});
  const std::string before = test::read_file_bytes(out);
  EXPECT_THROW(io::save_safetensors(out, {{"a", at::ones({2})}, {"b", at::Tensor()}}), ConfigError);
  EXPECT_THROW(io::save_safetensors(out, {{"c", at::ones({2}, at::kComplexFloat)}}), UnsupportedError);
  EXPECT_EQ(test::read_file_bytes(out), before);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
}

TEST(SafetensorsWrite, MissingDirectoryIsAnError) {
  const fs::path out = test::scratch_dir("write_nodir") / "absent" / "x.safetensors";
  EXPECT_THROW(io::save_safetensors(out, {{"a", at::ones({1})}}), LoadError);
}

// Writes files that tests/reference/verify_cpp_outputs.py then loads with Python safetensors.
// A mapped tensor's released pages leave this process: the next read maps the file's pages again.
// A write into the private mapping is what tells: released, it is gone (while not released, it
// stays). Tensors of other storage keep what was written into them.
TEST(ReleaseMappedPages, DropsTheMappedPagesOfATensorAndOnlyOfMappedOnes) {
  const at::Tensor values = at::arange(3 * 4096, at::kFloat);  // 12 pages of 4 KiB (3 of 64 KiB)
  const fs::path file = test::scratch_dir("release_pages") / "pages.safetensors";
  io::save_safetensors(file, {{"values", values}});
  const auto mapped = SafetensorsFile::open(file);
  at::Tensor t = mapped.tensor("values");
  t.fill_(-1.0f);
  EXPECT_EQ(t[0].item<float>(), -1.0f);
  io::release_mapped_pages(t.slice(0, 0, -1, 2));  // not contiguous: nothing happens
  EXPECT_TRUE(t.eq(-1.0f).all().item<bool>());
  io::release_mapped_pages(t);
  // Whole pages inside the tensor's bytes read the file again; the header shares the first one.
  const auto page = static_cast<int64_t>(::sysconf(_SC_PAGESIZE)) / 4;
  const int64_t first = (page - reinterpret_cast<std::uintptr_t>(t.data_ptr()) / 4 % page) % page;
  const int64_t last = values.numel() - (reinterpret_cast<std::uintptr_t>(t.data_ptr()) / 4 + values.numel()) % page;
  ASSERT_LT(first, last);
  EXPECT_TENSOR_BITWISE_EQ(t.slice(0, first, last), values.slice(0, first, last), "released pages");
  EXPECT_TRUE(t.slice(0, 0, first).eq(-1.0f).all().item<bool>());
  at::Tensor copy = mapped.tensor("values").clone().fill_(-1.0f);
  io::release_mapped_pages(copy);
  EXPECT_TRUE(copy.eq(-1.0f).all().item<bool>());
}

TEST(ForPython, WriteAllDtypes) {
  const auto original = SafetensorsFile::open(test::fixtures_dir() / "safetensors" / "all_dtypes.safetensors");
  const fs::path dir = test::fixtures_dir() / "from_cpp";
  fs::create_directories(dir);
  io::save_safetensors(dir / "all_dtypes.safetensors", original.load_all(), original.metadata());
}

}  // namespace
}  // namespace shadowpeft
