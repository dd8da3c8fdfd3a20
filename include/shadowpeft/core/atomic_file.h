#pragma once
// Writes a file so that readers see either the old content or the complete new one, never a
// partial file: data goes to a temporary file in the same directory, is flushed to disk, and is
// renamed over the target on commit(). Without commit() the temporary file is removed.
#include <cstddef>
#include <filesystem>
#include <string_view>

namespace shadowpeft {

class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::filesystem::path target);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(const void* data, std::size_t size);
  void write(std::string_view text) { write(text.data(), text.size()); }
  void commit();

 private:
  std::filesystem::path target_;
  std::filesystem::path temp_;
  int fd_ = -1;
};

// Convenience for small text files (configs, JSON).
void write_text_file_atomically(const std::filesystem::path& target, std::string_view text);

}  // namespace shadowpeft
