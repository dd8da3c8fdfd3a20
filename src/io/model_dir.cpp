#include "shadowpeft/io/model_dir.h"

#include <fmt/format.h>

#include <cstdlib>
#include <fstream>

#include "shadowpeft/core/error.h"

namespace shadowpeft::io {
namespace fs = std::filesystem;

namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

bool is_commit_hash(std::string_view s) {
  return s.size() == 40 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// `org/name` with exactly one slash and no path-like prefix: what the Hub calls a repo id.
bool looks_like_repo_id(std::string_view s) {
  if (s.empty() || s.front() == '/' || s.front() == '.' || s.front() == '~') return false;
  const auto slash = s.find('/');
  return slash != std::string_view::npos && slash > 0 && slash + 1 < s.size() &&
         s.find('/', slash + 1) == std::string_view::npos;
}

}  // namespace

fs::path hf_hub_cache_dir() {
  if (const char* v = env("HF_HUB_CACHE")) return v;
  if (const char* v = env("HUGGINGFACE_HUB_CACHE")) return v;
  if (const char* v = env("HF_HOME")) return fs::path(v) / "hub";
  if (const char* v = env("XDG_CACHE_HOME")) return fs::path(v) / "huggingface" / "hub";
  const char* home = env("HOME");
  return fs::path(home ? home : "/") / ".cache" / "huggingface" / "hub";
}

fs::path resolve_model_dir(std::string_view model) {
  const fs::path local(model);
  if (fs::is_directory(local)) return local;
  if (fs::exists(local)) throw LoadError(fmt::format("{}: is a file, expected a model directory", model));

  std::string_view repo = model;
  std::string revision = "main";
  if (const auto at = model.rfind('@'); at != std::string_view::npos) {
    repo = model.substr(0, at);
    revision = std::string(model.substr(at + 1));
  }
  if (!looks_like_repo_id(repo))
    throw LoadError(fmt::format("model '{}' not found: no such local directory", model));

  const fs::path cache = hf_hub_cache_dir();
  std::string folder = "models--" + std::string(repo);
  folder.replace(folder.find('/'), 1, "--");
  const fs::path repo_dir = cache / folder;
  std::string commit = revision;
  if (!is_commit_hash(revision)) {
    const fs::path ref = repo_dir / "refs" / revision;
    std::ifstream in(ref);
    if (!(in >> commit)) {
      throw LoadError(fmt::format(
          "model '{}' not found: no local directory '{}', and no cached revision '{}' at {} "
          "(shadowpeft never downloads; fetch the model first, or set HF_HUB_CACHE / HF_HOME)",
          model, model, revision, ref.string()));
    }
  }
  const fs::path snapshot = repo_dir / "snapshots" / commit;
  if (!fs::is_directory(snapshot))
    throw LoadError(fmt::format("model '{}': revision '{}' points to {} which does not exist", model,
                                revision, snapshot.string()));
  return snapshot;
}

}  // namespace shadowpeft::io
