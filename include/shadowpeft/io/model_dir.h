#pragma once
// Hugging Face model directories on local disk. Nothing here touches the network: a model is a local
// directory or an `org/name[@revision]` that an earlier download left in the local HF cache.
#include <filesystem>
#include <string>
#include <string_view>

namespace shadowpeft::io {

// $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
std::filesystem::path hf_hub_cache_dir();

// A local directory, or `org/name[@revision]` (revision: a branch or tag under refs/, or a commit
// hash) resolved to `<cache>/models--org--name/snapshots/<commit>`. Throws LoadError saying where it
// looked when neither exists.
std::filesystem::path resolve_model_dir(std::string_view model);

}  // namespace shadowpeft::io
