#pragma once
// The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
// length, a JSON header, then the raw tensor bytes. Reading maps the file into memory and hands out
// tensors that view the mapping (no copy) and keep it alive.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace shadowpeft::io {

// Every element type the format defines that LibTorch can hold.
enum class DType { BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 };

std::string_view dtype_name(DType dtype);
std::optional<DType> dtype_from_name(std::string_view name);
std::size_t dtype_size(DType dtype);
c10::ScalarType to_scalar_type(DType dtype);
DType dtype_from_scalar_type(c10::ScalarType type);  // throws UnsupportedError

using TensorMap = std::map<std::string, at::Tensor>;
using Metadata = std::map<std::string, std::string>;

// One tensor's entry in a safetensors header. Offsets are relative to the start of the data section.
struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;
  uint64_t end = 0;

  int64_t numel() const;
};

// A validated, memory-mapped safetensors file. Cheap to copy (the mapping is shared).
class SafetensorsFile {
 public:
  // Throws LoadError naming the file (and tensor) on any malformation: truncation, bad header,
  // unknown dtype, offsets out of range, overlaps, gaps, size mismatches, duplicate names.
  static SafetensorsFile open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // sorted by name
  const Metadata& metadata() const { return metadata_; }
  const TensorInfo* find(std::string_view name) const;
  bool contains(std::string_view name) const { return find(name) != nullptr; }

  // The named tensor as a view of the mapped file (a copy if the data is misaligned for its dtype).
  // Writing to it never changes the file (the mapping is copy-on-write).
  at::Tensor tensor(std::string_view name) const;
  std::span<const std::byte> bytes(std::string_view name) const;
  TensorMap load_all() const;

 private:
  struct Mapping;
  const TensorInfo& require(std::string_view name) const;

  std::filesystem::path path_;
  std::shared_ptr<Mapping> mapping_;
  const std::byte* data_ = nullptr;  // start of the data section inside the mapping
  std::vector<TensorInfo> tensors_;
  Metadata metadata_;
};

// Takes the memory pages of a tensor that SafetensorsFile::tensor handed out (the whole pages inside
// its bytes) out of this process's resident set; they stay in the page cache and are read again
// from the file if the tensor is touched later, so it reads the file's contents, not what was
// written into it. What loading calls after copying each checkpoint tensor into its parameter, so
// that the mapped checkpoint does not add its size to the peak. Any other tensor: nothing happens.
void release_mapped_pages(const at::Tensor& tensor);

// Writes `tensors` atomically (temporary file, then rename), with an 8-byte-aligned header.
// Tensors may live on any device and have any layout; they are written as contiguous CPU data.
void save_safetensors(const std::filesystem::path& path, const TensorMap& tensors,
                      const Metadata& metadata = {});

}  // namespace shadowpeft::io
