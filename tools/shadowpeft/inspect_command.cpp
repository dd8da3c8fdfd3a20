// `shadowpeft inspect PATH`: what a checkpoint holds — architecture, dtypes, every tensor, counts.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <tuple>

#include "commands.h"
#include "shadowpeft/core/error.h"
#include "shadowpeft/core/format.h"
#include "shadowpeft/io/checkpoint.h"
#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/model_dir.h"
#include "shadowpeft/models/descriptor.h"

namespace shadowpeft::cli {
namespace fs = std::filesystem;
using io::Json;

namespace {

struct InspectOptions {
  std::string model;
  bool json = false;
};

std::string shape_text(const std::vector<int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

// Config fields worth showing when present, in this order.
constexpr const char* kConfigSummaryKeys[] = {
    "model_type", "num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads",
    "num_key_value_heads", "head_dim", "vocab_size", "max_position_embeddings", "torch_dtype", "dtype"};

Json layer_table(const models::ModelConfig& config) {
  Json layers = Json::array();
  for (std::size_t i = 0; i < config.layers.size(); ++i) {
    const models::LayerSpec& s = config.layers[i];
    const bool attn = s.attention == models::AttentionKind::Full;
    const bool mlp = s.mlp == models::MlpKind::Gated || s.mlp == models::MlpKind::Plain;
    const bool moe = s.mlp == models::MlpKind::MixtureOfExperts;
    const bool mamba = s.attention == models::AttentionKind::Mamba2;
    layers.push_back({{"layer", i},
                      {"attention", models::to_string(s.attention)},  // the sequence mixer's kind
                      {"heads", attn ? Json(s.num_heads) : mamba ? Json(s.mamba.num_heads) : Json()},
                      {"kv_heads", attn ? Json(s.num_kv_heads) : Json()},
                      {"head_dim", attn ? Json(s.head_dim) : mamba ? Json(s.mamba.head_dim) : Json()},
                      {"ssm_state_size", mamba ? Json(s.mamba.state_size) : Json()},
                      {"ssm_groups", mamba ? Json(s.mamba.num_groups) : Json()},
                      {"sliding_window", attn && s.sliding_window ? Json(*s.sliding_window) : Json()},
                      {"attention_chunk_size", attn && s.attention_chunk_size ? Json(*s.attention_chunk_size) : Json()},
                      {"rope_theta", attn && s.rope ? Json(s.rope->theta) : Json()},
                      {"rope_type", attn && s.rope ? Json(s.rope->type) : Json()},
                      {"attention_scale", attn ? Json(s.attention_scale.value_or(1.0 / std::sqrt(static_cast<double>(s.head_dim)))) : Json()},
                      {"attn_logit_softcap", attn && s.attn_logit_softcap ? Json(*s.attn_logit_softcap) : Json()},
                      {"qk_norm", attn ? Json(models::to_string(s.qk_norm)) : Json()},
                      {"norms", models::to_string(s.norm_placement)},
                      {"mlp", models::to_string(s.mlp)},
                      {"intermediate_size", mlp ? Json(s.intermediate_size) : moe ? Json(s.moe.expert_intermediate_size) : Json()},
                      {"experts", moe ? Json(s.moe.num_experts) : Json()},
                      {"experts_per_token", moe ? Json(s.moe.top_k) : Json()}});
  }
  return layers;
}

// embeddings, block_0_attention, block_0_ffn, block_1_..., lm_head: model order, not string order.
struct GroupOrder {
  static std::tuple<int, long long, std::string> key(const std::string& g) {
    if (g == "embeddings") return {0, 0, g};
    if (g.starts_with("block_")) return {1, std::stoll(g.substr(6)), g};
    if (g == "lm_head") return {2, 0, g};
    return {3, 0, g};
  }
  bool operator()(const std::string& a, const std::string& b) const { return key(a) < key(b); }
};

std::string cell(const Json& v) { return v.is_null() ? "-" : v.is_string() ? v.get<std::string>() : v.dump(); }

void print_layer_table(const Json& layers) {
  // One row format for the header and the layers; "norms" is as wide as its longest value (post_residual).
  constexpr const char* kRow = "{:>5}  {:<9} {:>5} {:>8} {:>8} {:>6} {:>10} {:>7} {:>7} {:>9}  {:<13} {:<6} {:>12} {:>8}\n";
  fmt::print(fmt::runtime(kRow), "layer", "mixer", "heads", "kv_heads", "head_dim", "window", "rope_theta", "scale",
             "softcap", "qk_norm", "norms", "mlp", "intermediate", "experts");
  auto number = [](const Json& v) { return v.is_number() ? fmt::format("{:.6g}", v.get<double>()) : cell(v); };
  for (const auto& l : layers)
    fmt::print(fmt::runtime(kRow), cell(l["layer"]),
               cell(l["attention"]), cell(l["heads"]), cell(l["kv_heads"]), cell(l["head_dim"]),
               // the window column shows a chunk as "c<size>" (Llama 4's chunked attention), a Mamba
               // mixer's state as "s<size>"
               !l["ssm_state_size"].is_null()       ? "s" + cell(l["ssm_state_size"])
               : l["attention_chunk_size"].is_null() ? cell(l["sliding_window"])
                                                     : "c" + cell(l["attention_chunk_size"]),
               number(l["rope_theta"]), number(l["attention_scale"]), number(l["attn_logit_softcap"]), cell(l["qk_norm"]),
               cell(l["norms"]), cell(l["mlp"]), cell(l["intermediate_size"]),
               l["experts"].is_null() ? "-" : fmt::format("{}/{}", cell(l["experts_per_token"]), cell(l["experts"])));
}

void run_inspect(const InspectOptions& opts) {
  const fs::path dir_or_file = fs::is_regular_file(opts.model) ? fs::path(opts.model) : io::resolve_model_dir(opts.model);
  const auto ckpt = io::SafetensorsCheckpoint::open(dir_or_file);
  Json config;
  if (fs::is_directory(dir_or_file) && fs::exists(dir_or_file / "config.json"))
    config = io::read_json_file(dir_or_file / "config.json");

  // The family view (per-layer table, weight groups) when config.json names a supported family.
  std::optional<models::ModelConfig> model_config;
  const models::ModelDescriptor* descriptor = nullptr;
  std::string family_error;
  if (config.is_object()) {
    try {
      model_config = models::read_model_config(dir_or_file / "config.json");
      descriptor = model_config->descriptor;
    } catch (const Error& e) {
      family_error = e.what();
    }
  }
  std::map<std::string, std::pair<int64_t, int64_t>, GroupOrder> groups;  // group → (tensors, parameters)

  std::map<std::string, int64_t> numel_by_dtype;
  Json tensors = Json::array();
  for (const std::string& name : ckpt.names()) {
    const io::TensorInfo& t = ckpt.info(name);
    const std::string dtype(io::dtype_name(t.dtype));
    numel_by_dtype[dtype] += t.numel();
    if (descriptor) {
      auto& g = groups[descriptor->weight_group(name, *model_config).value_or("(no group)")];
      g.first += 1;
      g.second += t.numel();
    }
    tensors.push_back({{"name", name}, {"dtype", dtype}, {"shape", t.shape},
                       {"shard", ckpt.file_of(name).path().filename().string()}, {"bytes", t.end - t.begin}});
  }
  Json files = Json::array();
  for (const auto& shard : ckpt.shards()) files.push_back(shard.path().filename().string());

  if (opts.json) {
    Json out = {{"path", dir_or_file.string()},
                {"architectures", config.value("architectures", Json::array())},
                {"config", config.is_null() ? Json::object() : config},
                {"files", files},
                {"index", ckpt.index_path() ? Json(ckpt.index_path()->filename().string()) : Json()},
                {"num_parameters", ckpt.total_numel()},
                {"total_bytes", ckpt.total_bytes()},
                {"parameters_by_dtype", numel_by_dtype},
                {"tensors", tensors}};
    if (descriptor) {
      out["family"] = descriptor->name();
      out["layers"] = layer_table(*model_config);
      Json weight_groups = Json::object();
      for (const auto& [group, counts] : groups) weight_groups[group] = {{"tensors", counts.first}, {"parameters", counts.second}};
      out["weight_groups"] = weight_groups;
    } else if (!family_error.empty()) {
      out["family_error"] = family_error;
    }
    fmt::print("{}", io::dump_json_like_python(out));
    return;
  }

  fmt::print("path                     {}\n", dir_or_file.string());
  if (config.is_object()) {
    if (config.contains("architectures")) fmt::print("architecture             {}\n", config["architectures"].dump());
    for (const char* key : kConfigSummaryKeys)
      if (config.contains(key)) fmt::print("{:<24} {}\n", key, config[key].dump());
  }
  if (descriptor) fmt::print("family                   {}\n", descriptor->name());
  if (!family_error.empty()) fmt::print("family                   not recognised: {}\n", family_error);
  fmt::print("files                    {}{}\n", fmt::join(files.get<std::vector<std::string>>(), ", "),
             ckpt.index_path() ? fmt::format(" (index {})", ckpt.index_path()->filename().string()) : "");
  for (const auto& [dtype, n] : numel_by_dtype) fmt::print("dtype                    {} ({} parameters)\n", dtype, with_thousands(n));
  fmt::print("parameters               {} in {} tensors, {} bytes\n\n", with_thousands(ckpt.total_numel()), tensors.size(),
             with_thousands(static_cast<int64_t>(ckpt.total_bytes())));

  if (descriptor) {
    print_layer_table(layer_table(*model_config));
    fmt::print("\n{:<24} {:>7} {:>14}\n", "weight group", "tensors", "parameters");
    for (const auto& [group, counts] : groups)
      fmt::print("{:<24} {:>7} {:>14}\n", group, counts.first, with_thousands(counts.second));
    fmt::print("\n");
  }
  std::size_t name_w = 4, shape_w = 5;
  for (const auto& t : tensors) {
    name_w = std::max(name_w, t["name"].get_ref<const std::string&>().size());
    shape_w = std::max(shape_w, shape_text(t["shape"].get<std::vector<int64_t>>()).size());
  }
  fmt::print("{:<{}}  {:<7}  {:<{}}  {}\n", "name", name_w, "dtype", "shape", shape_w, "file");
  for (const auto& t : tensors)
    fmt::print("{:<{}}  {:<7}  {:<{}}  {}\n", t["name"].get<std::string>(), name_w, t["dtype"].get<std::string>(),
               shape_text(t["shape"].get<std::vector<int64_t>>()), shape_w, t["shard"].get<std::string>());
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto opts = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand("inspect", "Show what a model directory or safetensors file holds");
  // --model as every other command spells it; the positional form stays.
  cmd->add_option("model,--model", opts->model,
                  "Model directory, org/name[@revision] in the local HF cache, or a .safetensors file")
      ->required();
  cmd->add_flag("--json", opts->json, "Print machine-readable JSON instead of a table");
  cmd->callback([opts] { run_inspect(*opts); });
}

}  // namespace shadowpeft::cli
