#include "shadowpeft/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "shadowpeft/core/atomic_file.h"
#include "shadowpeft/core/error.h"

namespace shadowpeft::io {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct DTypeRow {
  DType dtype;
  std::string_view name;
  std::size_t size;
  c10::ScalarType scalar;
};

constexpr std::array<DTypeRow, 15> kDTypes{{
    {DType::BOOL, "BOOL", 1, c10::ScalarType::Bool},
    {DType::U8, "U8", 1, c10::ScalarType::Byte},
    {DType::I8, "I8", 1, c10::ScalarType::Char},
    {DType::F8_E5M2, "F8_E5M2", 1, c10::ScalarType::Float8_e5m2},
    {DType::F8_E4M3, "F8_E4M3", 1, c10::ScalarType::Float8_e4m3fn},
    {DType::I16, "I16", 2, c10::ScalarType::Short},
    {DType::U16, "U16", 2, c10::ScalarType::UInt16},
    {DType::F16, "F16", 2, c10::ScalarType::Half},
    {DType::BF16, "BF16", 2, c10::ScalarType::BFloat16},
    {DType::I32, "I32", 4, c10::ScalarType::Int},
    {DType::U32, "U32", 4, c10::ScalarType::UInt32},
    {DType::F32, "F32", 4, c10::ScalarType::Float},
    {DType::F64, "F64", 8, c10::ScalarType::Double},
    {DType::I64, "I64", 8, c10::ScalarType::Long},
    {DType::U64, "U64", 8, c10::ScalarType::UInt64},
}};

const DTypeRow& row(DType dtype) {
  for (const auto& r : kDTypes)
    if (r.dtype == dtype) return r;
  throw Error("internal: unknown DType");
}

std::string supported_dtype_names() {
  std::vector<std::string_view> names;
  for (const auto& r : kDTypes) names.push_back(r.name);
  return fmt::format("{}", fmt::join(names, ", "));
}

// The reference implementation refuses headers above 100 MB; so do we, before allocating.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

[[noreturn]] void fail(const fs::path& path, const std::string& what) {
  throw LoadError(fmt::format("{}: {}", path.string(), what));
}

uint64_t read_u64_le(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// Reads a non-negative integer that fits in uint64; anything else is a malformed field.
std::optional<uint64_t> as_u64(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());
  return std::nullopt;
}

TensorInfo parse_entry(const fs::path& path, const std::string& name, const json& entry) {
  auto bad = [&](const std::string& what) { fail(path, fmt::format("tensor '{}': {}", name, what)); };
  if (!entry.is_object()) bad(fmt::format("header entry must be an object, got {}", entry.type_name()));
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!entry.contains(field)) bad(fmt::format("missing field '{}'", field));

  TensorInfo info;
  info.name = name;
  const json& dtype = entry["dtype"];
  if (!dtype.is_string()) bad(fmt::format("field 'dtype' must be a string, got {}", dtype.type_name()));
  const auto parsed = dtype_from_name(dtype.get<std::string>());
  if (!parsed)
    bad(fmt::format("unknown dtype '{}' (supported: {})", dtype.get<std::string>(), supported_dtype_names()));
  info.dtype = *parsed;

  const json& shape = entry["shape"];
  if (!shape.is_array()) bad(fmt::format("field 'shape' must be an array, got {}", shape.type_name()));
  for (const json& d : shape) {
    const auto dim = as_u64(d);
    if (!dim || *dim > static_cast<uint64_t>(INT64_MAX))
      bad(fmt::format("shape {} must hold non-negative integers", shape.dump()));
    info.shape.push_back(static_cast<int64_t>(*dim));
  }

  const json& offsets = entry["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !as_u64(offsets[0]) || !as_u64(offsets[1]))
    bad(fmt::format("field 'data_offsets' must be two non-negative integers, got {}", offsets.dump()));
  info.begin = *as_u64(offsets[0]);
  info.end = *as_u64(offsets[1]);
  if (info.end < info.begin)
    bad(fmt::format("data_offsets [{}, {}] end before they begin", info.begin, info.end));

  // dtype size × every dimension, refusing overflow instead of wrapping around.
  uint64_t bytes = row(info.dtype).size;
  for (int64_t d : info.shape) {
    if (d != 0 && bytes > UINT64_MAX / static_cast<uint64_t>(d))
      bad(fmt::format("shape {} overflows a 64-bit byte count", shape.dump()));
    bytes *= static_cast<uint64_t>(d);
  }
  if (bytes != info.end - info.begin)
    bad(fmt::format("dtype {} with shape {} needs {} bytes, but data_offsets [{}, {}] span {}",
                    row(info.dtype).name, shape.dump(), bytes, info.begin, info.end,
                    info.end - info.begin));
  return info;
}

Metadata parse_metadata(const fs::path& path, const json& value) {
  if (!value.is_object())
    fail(path, fmt::format("__metadata__ must be an object of strings, got {}", value.type_name()));
  Metadata metadata;
  for (const auto& [key, v] : value.items()) {
    if (!v.is_string())
      fail(path, fmt::format("__metadata__ value for '{}' must be a string, got {}", key, v.type_name()));
    metadata[key] = v.get<std::string>();
  }
  return metadata;
}

// Tensors must tile the data section exactly: no overlap, no gap, nothing after the last one.
void check_layout(const fs::path& path, std::vector<TensorInfo> by_offset, uint64_t data_size) {
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t cursor = 0;
  const TensorInfo* prev = nullptr;
  for (const TensorInfo& t : by_offset) {
    if (t.end > data_size)
      fail(path, fmt::format("tensor '{}': data_offsets [{}, {}] extend beyond the data section of {} "
                             "bytes (file truncated?)", t.name, t.begin, t.end, data_size));
    if (t.begin < cursor)
      fail(path, fmt::format("tensor '{}' (bytes {}..{}) overlaps tensor '{}' (bytes {}..{})", t.name,
                             t.begin, t.end, prev->name, prev->begin, prev->end));
    if (t.begin > cursor)
      fail(path, fmt::format("tensor '{}' starts at byte {} but the previous tensor{} ends at {}: "
                             "unused gap in the data section", t.name, t.begin,
                             prev ? " '" + prev->name + "'" : "", cursor));
    cursor = t.end;
    prev = &t;
  }
  if (cursor != data_size)
    fail(path, fmt::format("data section is {} bytes but the tensors cover only {}: {} trailing bytes",
                           data_size, cursor, data_size - cursor));
}

}  // namespace

std::string_view dtype_name(DType dtype) { return row(dtype).name; }
std::size_t dtype_size(DType dtype) { return row(dtype).size; }
c10::ScalarType to_scalar_type(DType dtype) { return row(dtype).scalar; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& r : kDTypes)
    if (r.name == name) return r.dtype;
  return std::nullopt;
}

DType dtype_from_scalar_type(c10::ScalarType type) {
  for (const auto& r : kDTypes)
    if (r.scalar == type) return r.dtype;
  throw UnsupportedError(fmt::format("torch dtype {} has no safetensors equivalent", c10::toString(type)));
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

struct SafetensorsFile::Mapping {
  void* addr = nullptr;
  std::size_t size = 0;
  ~Mapping() {
    if (addr) ::munmap(addr, size);
  }
};

namespace {

// The context of a tensor's storage inside a mapping: it keeps the mapping alive, and its deleter
// tells release_mapped_pages that the storage is mapped file pages.
struct MappedStorage {
  std::shared_ptr<void> mapping;
};

void drop_mapped_storage(void* context) { delete static_cast<MappedStorage*>(context); }

}  // namespace

void release_mapped_pages(const at::Tensor& tensor) {
  if (!tensor.defined() || !tensor.has_storage() || !tensor.is_contiguous() ||
      tensor.storage().data_ptr().get_deleter() != &drop_mapped_storage)
    return;
  static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<std::uintptr_t>(tensor.data_ptr());
  const std::uintptr_t first = (begin + page - 1) / page * page, last = (begin + tensor.nbytes()) / page * page;
  // Advice only: where the kernel declines, the pages stay resident and nothing else changes.
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

SafetensorsFile SafetensorsFile::open(const fs::path& path) {
  SafetensorsFile file;
  file.path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, fmt::format("cannot open: {}", std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, "not a regular file");
  }
  const auto file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < 8) {
    ::close(fd);
    fail(path, fmt::format("file is {} bytes, too short for the 8-byte header length", file_size));
  }
  auto mapping = std::make_shared<Mapping>();
  // Copy-on-write private mapping: tensors handed out may be modified without touching the file.
  void* addr = ::mmap(nullptr, file_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (addr == MAP_FAILED) fail(path, fmt::format("mmap failed: {}", std::strerror(errno)));
  mapping->addr = addr;
  mapping->size = file_size;
  const auto* base = static_cast<const std::byte*>(addr);

  const uint64_t header_len = read_u64_le(base);
  if (header_len > kMaxHeaderBytes)
    fail(path, fmt::format("header length {} exceeds the {}-byte limit (corrupt file?)", header_len,
                           kMaxHeaderBytes));
  if (header_len > file_size - 8)
    fail(path, fmt::format("header length {} exceeds the {} bytes that follow it (file truncated?)",
                           header_len, file_size - 8));
  const auto* header_begin = reinterpret_cast<const char*>(base + 8);
  if (header_len == 0 || header_begin[0] != '{')
    fail(path, "header does not start with '{' (not a safetensors file?)");

  std::set<std::string> seen;
  std::string duplicate;
  json header;
  try {
    header = json::parse(header_begin, header_begin + header_len,
                         [&](int depth, json::parse_event_t event, json& parsed) {
                           if (event == json::parse_event_t::key && depth == 1 &&
                               !seen.insert(parsed.get<std::string>()).second)
                             duplicate = parsed.get<std::string>();
                           return true;
                         });
  } catch (const json::exception& e) {
    fail(path, fmt::format("invalid JSON header: {}", e.what()));
  }
  if (!header.is_object()) fail(path, fmt::format("header must be a JSON object, got {}", header.type_name()));
  if (!duplicate.empty()) fail(path, fmt::format("tensor '{}' appears more than once in the header", duplicate));

  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__")
      file.metadata_ = parse_metadata(path, entry);
    else
      file.tensors_.push_back(parse_entry(path, name, entry));
  }
  check_layout(path, file.tensors_, file_size - 8 - header_len);
  std::sort(file.tensors_.begin(), file.tensors_.end(),
            [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
  file.mapping_ = std::move(mapping);
  file.data_ = base + 8 + header_len;
  return file;
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const TensorInfo& t, std::string_view n) { return t.name < n; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

const TensorInfo& SafetensorsFile::require(std::string_view name) const {
  if (const TensorInfo* info = find(name)) return *info;
  fail(path_, fmt::format("no tensor named '{}' ({} tensors in the file)", name, tensors_.size()));
}

std::span<const std::byte> SafetensorsFile::bytes(std::string_view name) const {
  const TensorInfo& info = require(name);
  return {data_ + info.begin, info.end - info.begin};
}

at::Tensor SafetensorsFile::tensor(std::string_view name) const {
  const TensorInfo& info = require(name);
  const auto options = at::TensorOptions().dtype(to_scalar_type(info.dtype)).device(at::kCPU);
  auto* ptr = const_cast<std::byte*>(data_ + info.begin);
  if (reinterpret_cast<std::uintptr_t>(ptr) % dtype_size(info.dtype) != 0) {
    at::Tensor copy = at::empty(info.shape, options);
    std::memcpy(copy.data_ptr(), ptr, info.end - info.begin);
    return copy;
  }
  return at::for_blob(ptr, info.shape).context(new MappedStorage{mapping_}, &drop_mapped_storage).options(options).make_tensor();
}

TensorMap SafetensorsFile::load_all() const {
  TensorMap out;
  for (const TensorInfo& info : tensors_) out.emplace(info.name, tensor(info.name));
  return out;
}

void save_safetensors(const fs::path& path, const TensorMap& tensors, const Metadata& metadata) {
  struct Item {
    const std::string* name;
    DType dtype;
    at::Tensor data;
  };
  std::vector<Item> items;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") throw ConfigError(path.string() + ": '__metadata__' is not a valid tensor name");
    if (!t.defined()) throw ConfigError(fmt::format("{}: tensor '{}' is undefined", path.string(), name));
    items.push_back({&name, dtype_from_scalar_type(t.scalar_type()), t.detach().to(at::kCPU).contiguous()});
  }
  // Python safetensors' layout: widest dtype first, then by name; the header lists tensors in data
  // order after __metadata__. Matching it makes our files byte-identical to Python's.
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.dtype > b.dtype; });
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const Item& item : items) {
    const uint64_t nbytes = static_cast<uint64_t>(item.data.numel()) * dtype_size(item.dtype);
    header[*item.name] = {{"dtype", dtype_name(item.dtype)}, {"shape", item.data.sizes().vec()},
                          {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::array<std::byte, 8> len{};
  for (int i = 0; i < 8; ++i) len[i] = static_cast<std::byte>((text.size() >> (8 * i)) & 0xff);

  AtomicFileWriter out(path);
  out.write(len.data(), len.size());
  out.write(text);
  for (const Item& item : items) out.write(item.data.data_ptr(), item.data.numel() * item.data.element_size());
  out.commit();
}

}  // namespace shadowpeft::io
