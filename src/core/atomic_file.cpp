#include "shadowpeft/core/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "shadowpeft/core/error.h"

namespace shadowpeft {
namespace fs = std::filesystem;

namespace {
std::string errno_text() { return std::strerror(errno); }
}  // namespace

AtomicFileWriter::AtomicFileWriter(fs::path target) : target_(std::move(target)) {
  const fs::path dir = target_.has_parent_path() ? target_.parent_path() : fs::path(".");
  if (!fs::is_directory(dir)) {
    throw LoadError("cannot write " + target_.string() + ": directory " + dir.string() +
                    " does not exist");
  }
  std::string templ = (dir / ("." + target_.filename().string() + ".tmp.XXXXXX")).string();
  fd_ = ::mkstemp(templ.data());
  if (fd_ < 0) {
    throw LoadError("cannot create a temporary file next to " + target_.string() + ": " +
                    errno_text());
  }
  temp_ = templ;
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) {
    ::close(fd_);
    std::error_code ignored;
    fs::remove(temp_, ignored);
  }
}

void AtomicFileWriter::write(const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw LoadError("writing " + target_.string() + " failed: " + errno_text());
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

void AtomicFileWriter::commit() {
  if (::fchmod(fd_, 0644) != 0 || ::fsync(fd_) != 0) {
    throw LoadError("flushing " + target_.string() + " failed: " + errno_text());
  }
  ::close(fd_);
  fd_ = -1;
  if (::rename(temp_.c_str(), target_.c_str()) != 0) {
    const std::string why = errno_text();
    std::error_code ignored;
    fs::remove(temp_, ignored);
    throw LoadError("renaming " + temp_.string() + " to " + target_.string() + " failed: " + why);
  }
}

void write_text_file_atomically(const fs::path& target, std::string_view text) {
  AtomicFileWriter out(target);
  out.write(text);
  out.commit();
}

}  // namespace shadowpeft
