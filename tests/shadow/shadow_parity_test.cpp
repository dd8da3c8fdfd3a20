// ShadowPEFT against the Python package shadow-peft (fixtures from
// tests/reference/make_shadow_fixtures.py): an adapter saved by Python loads here and gives the
// same logits, shadow logits, loss and gradients; saving it again writes byte-identical files.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "shadowpeft/core/error.h"
#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/shadow/task_models.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;

fs::path shadow_dir() { return test::fixtures_dir() / "shadow"; }

std::vector<std::string> causal_lm_cases() {
  const io::Json index = io::read_json_file(shadow_dir() / "index.json");
  std::vector<std::string> cases;
  for (const auto& c : index.at("cases")) {
    const std::string name = c.get<std::string>();
    const io::Json info = io::read_json_file(shadow_dir() / name / "case.json");
    if (info.value("task", "") != "causal_lm" || !fs::exists(shadow_dir() / name / "adapter")) continue;
    cases.push_back(name);
  }
  return cases;
}

// The attention mask and positions every reference output was computed with.
models::ForwardOptions reference_options(const io::SafetensorsFile& ref) {
  models::ForwardOptions options;
  options.attention_mask = ref.tensor("attention_mask");
  options.position_ids = ref.tensor("position_ids");
  return options;
}

struct Loaded {
  io::Json info;
  io::SafetensorsFile ref;
  ShadowForCausalLM model{nullptr};
  models::ForwardOptions options;
};

Loaded load_case(const std::string& name, bool trainable) {
  const fs::path dir = shadow_dir() / name;
  Loaded l{io::read_json_file(dir / "case.json"), io::SafetensorsFile::open(dir / "reference.safetensors")};
  models::CausalLM base = models::load_causal_lm((dir / "base").string());
  models::CausalLM explicit_shadow{nullptr};
  if (l.info.value("explicit", false)) explicit_shadow = models::load_causal_lm((dir / "explicit_shadow").string());
  l.model = ShadowForCausalLM(ShadowForCausalLMImpl::from_pretrained(base, dir / "adapter", trainable,
                                                                     l.info.value("shadow_loss_weight", 0.05),
                                                                     InferenceMode::BaseShadow, explicit_shadow));
  l.options = reference_options(l.ref);
  return l;
}

at::Tensor valid_rows(const at::Tensor& t, const at::Tensor& mask) { return t.index({mask.to(at::kBool)}); }

TEST(ShadowParity, CoversEveryCausalLmFixture) { EXPECT_GE(causal_lm_cases().size(), 5u); }

TEST(ShadowParity, LogitsShadowLogitsAndLossMatchShadowPeft) {
  for (const std::string& name : causal_lm_cases()) {
    SCOPED_TRACE(name);
    Loaded l = load_case(name, false);
    const double atol = l.info["atol"].get<double>(), rtol = l.info["rtol"].get<double>();
    torch::InferenceMode guard;
    const at::Tensor ids = l.ref.tensor("input_ids"), mask = l.options.attention_mask;
    auto out = l.model->forward(ids, l.options, l.ref.tensor("labels"));
    EXPECT_TENSOR_CLOSE(valid_rows(out.logits, mask), valid_rows(l.ref.tensor("logits"), mask), atol, rtol, name + " logits");
    EXPECT_TENSOR_CLOSE(valid_rows(out.shadow_logits, mask), valid_rows(l.ref.tensor("shadow_logits"), mask), atol, rtol,
                        name + " shadow_logits");
    EXPECT_TENSOR_CLOSE(out.loss, l.ref.tensor("loss"), atol, rtol, name + " loss");
    l.model->set_inference_mode(InferenceMode::ShadowOnly);
    out = l.model->forward(ids, l.options, l.ref.tensor("labels"));
    EXPECT_TENSOR_CLOSE(valid_rows(out.logits, mask), valid_rows(l.ref.tensor("shadow_only.logits"), mask), atol, rtol,
                        name + " shadow_only logits");
    EXPECT_TENSOR_CLOSE(out.loss, l.ref.tensor("shadow_only.loss"), atol, rtol, name + " shadow_only loss");
  }
}

TEST(ShadowParity, GradientsOfEveryTrainableTensorMatchShadowPeft) {
  for (const std::string& name : causal_lm_cases()) {
    SCOPED_TRACE(name);
    Loaded l = load_case(name, true);
    l.model->eval();  // dropout 0 in the fixtures; eval keeps it off regardless
    const auto out = l.model->forward(l.ref.tensor("input_ids"), l.options, l.ref.tensor("labels"));
    out.loss.backward();
    const double atol = l.info.value("grad_atol", 1e-6), rtol = l.info.value("grad_rtol", 1e-5);
    const io::TensorMap grads = l.model->peft_model->adapter_gradients();
    int checked = 0;
    for (const auto& info : l.ref.tensors()) {
      if (!info.name.starts_with("grad.")) continue;
      const std::string key = info.name.substr(5);
      ASSERT_TRUE(grads.count(key)) << name << ": no adapter tensor " << key;
      EXPECT_TENSOR_CLOSE(grads.at(key), l.ref.tensor(info.name), atol, rtol, name + " grad " + key);
      ++checked;
    }
    EXPECT_EQ(checked, static_cast<int>(grads.size())) << name << ": every adapter tensor has a reference gradient";
  }
}

TEST(ShadowParity, SavingAPythonAdapterAgainIsByteIdentical) {
  for (const std::string& name : causal_lm_cases()) {
    SCOPED_TRACE(name);
    Loaded l = load_case(name, true);
    const fs::path out = test::scratch_dir("resave_" + name);
    l.model->save_pretrained(out);
    for (const char* file : {"shadow_config.json", "shadow_adapter.safetensors", "shadow_modules.safetensors"}) {
      const fs::path python = shadow_dir() / name / "adapter" / file;
      EXPECT_EQ(fs::exists(out / file), fs::exists(python)) << file;
      if (fs::exists(python)) EXPECT_EQ(test::read_file_bytes(out / file), test::read_file_bytes(python)) << file;
    }
  }
}

TEST(ShadowParity, PrintTrainableParametersMatchesShadowPeft) {
  for (const std::string& name : causal_lm_cases()) {
    SCOPED_TRACE(name);
    Loaded l = load_case(name, true);
    EXPECT_EQ(l.model->trainable_parameters_string(), l.info["print_trainable_parameters"].get<std::string>());
    if (l.info.value("explicit", false)) continue;
    // Implicit shadows: the same numbers from the configs alone.
    const auto [trainable, total] = count_parameters_from_config(l.model->peft_model->base_model->config(),
                                                                  l.model->peft_model->shadow_config());
    const auto counted = l.model->peft_model->count_parameters();
    if (l.model->peft_model->shadow_config().modules_to_save.empty()) EXPECT_EQ(trainable, counted.first);
    EXPECT_EQ(total, counted.second);
  }
}

TEST(ShadowAdapter, UntrainedAdapterLeavesTheBaseUnchanged) {
  const fs::path dir = shadow_dir() / "llama";
  const auto ref = io::SafetensorsFile::open(dir / "reference.safetensors");
  models::CausalLM base = models::load_causal_lm((dir / "base").string());
  ShadowConfig config = ShadowConfig::from_pretrained(dir / "adapter");
  auto model = ShadowForCausalLM(get_shadow_model(base, config));
  const models::ForwardOptions options = reference_options(ref);
  torch::InferenceMode guard;
  const at::Tensor logits = model->forward(ref.tensor("input_ids"), options).logits;
  const at::Tensor mask = options.attention_mask;
  EXPECT_TENSOR_CLOSE(valid_rows(logits, mask), valid_rows(ref.tensor("base.logits"), mask), 1e-5, 1e-5, "untrained adapter");
  EXPECT_TENSOR_BITWISE_EQ(logits, base->forward(ref.tensor("input_ids"), options), "untrained adapter vs base");
}

TEST(ShadowAdapter, FreshAdapterFreezesTheBaseAndTrainsTheShadow) {
  models::CausalLM base = models::load_causal_lm((shadow_dir() / "llama" / "base").string());
  auto peft = get_shadow_model(base, ShadowConfig{});
  for (const auto& p : peft->base_model->parameters()) EXPECT_FALSE(p.requires_grad());
  for (torch::nn::Module* m : {static_cast<torch::nn::Module*>(peft->shadow_model.get()),
                               static_cast<torch::nn::Module*>(peft->shadow_injection_model.get()),
                               static_cast<torch::nn::Module*>(peft->shadow_update_model.get())}) {
    ASSERT_FALSE(m->parameters().empty());
    for (const auto& p : m->parameters()) EXPECT_TRUE(p.requires_grad());
  }
  EXPECT_TRUE(peft->shadow_model->embed_tokens.is_empty()) << "implicit shadows share the base embeddings";
}

TEST(ShadowAdapter, TooShallowBaseIsRejected) {
  const fs::path dir = test::scratch_dir("shallow");
  fs::copy(shadow_dir() / "llama" / "base", dir, fs::copy_options::recursive);
  io::Json config = io::read_json_file(dir / "config.json");
  config["num_hidden_layers"] = 1;
  io::write_json_file(dir / "config.json", config, {.indent = 2, .sort_keys = true});
  // Drop the weights of layers ≥ 1 so the base itself loads.
  io::TensorMap kept;
  for (auto& [name, t] : io::SafetensorsFile::open(dir / "model.safetensors").load_all())
    if (name.find("layers.") == std::string::npos || name.find("layers.0.") != std::string::npos) kept.emplace(name, t.clone());
  io::save_safetensors(dir / "model.safetensors", kept);
  models::CausalLM base = models::load_causal_lm(dir.string());
  try {
    get_shadow_model(base, ShadowConfig{});
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("at least 2 decoder layers"), std::string::npos) << e.what();
  }
}

TEST(ShadowAdapter, BaseThatProjectsItsOutputIsRejected) {
  // OPT-350m style: the final hidden states are projected to word_embed_proj_dim (16 ≠ 32), so no
  // shadow state of the hidden size can be scored by the head (shadow-peft fails on a shape error).
  models::CausalLM base = models::load_causal_lm((test::fixtures_dir() / "models" / "opt_post_norm").string());
  try {
    get_shadow_model(base, ShadowConfig{});
    FAIL();
  } catch (const UnsupportedError& e) {
    EXPECT_NE(std::string(e.what()).find("from hidden_size 32 to 16 (word_embed_proj_dim)"), std::string::npos) << e.what();
  }
}

// The upstream notebook's Qwen3-0.6B numbers, from its config alone (no weights are built).
TEST(ShadowParameterCount, Qwen3_0_6BFromConfigMatchesShadowPeft) {
  const fs::path dir = shadow_dir() / "qwen3_0_6b_count";
  const io::Json info = io::read_json_file(dir / "case.json");
  const models::ModelConfig base = models::read_model_config(dir / "base" / "config.json");
  const ShadowConfig config = ShadowConfig::from_json(info["shadow_config"], dir / "case.json");
  const auto [trainable, total] = count_parameters_from_config(base, config);
  EXPECT_EQ(trainable_parameters_string(trainable, total), info["print_trainable_parameters"].get<std::string>());
  EXPECT_EQ(trainable, 9'073'920);
  EXPECT_EQ(total, 605'123'840);
}


// Cases whose shadow_lm_head is still the base lm_head, so the exported model (which carries the
// base head, as upstream) reproduces shadow_only logits; llama_heads trains both heads apart.
std::vector<std::string> exportable_cases() {
  std::vector<std::string> out;
  for (const auto& name : causal_lm_cases())
    if (const io::Json info = io::read_json_file(shadow_dir() / name / "case.json");
        info["shadow_config"]["modules_to_save"].empty())
      out.push_back(name);
  return out;
}

TEST(ShadowExport, ExportedShadowReproducesShadowOnlyLogits) {
  ASSERT_GE(exportable_cases().size(), 5u);
  for (const std::string& name : exportable_cases()) {
    SCOPED_TRACE(name);
    Loaded l = load_case(name, false);
    models::CausalLM exported = l.model->peft_model->export_shadow();
    // Reloading from disk proves the directory is complete.
    const fs::path out = test::scratch_dir("export_" + name);
    models::save_pretrained(*exported, out);
    models::CausalLM reloaded = models::load_causal_lm(out.string());
    torch::InferenceMode guard;
    const at::Tensor logits = reloaded->forward(l.ref.tensor("input_ids"), l.options);
    const at::Tensor mask = l.options.attention_mask;
    // The exported model is a plain causal LM of its family and soft-caps its logits where the family
    // does (Gemma 2), as transformers runs it; shadow_only scores with the uncapped shadow_lm_head.
    at::Tensor expected = l.ref.tensor("shadow_only.logits");
    if (const auto cap = reloaded->config().final_logit_softcap) expected = at::tanh(expected / *cap) * *cap;
    EXPECT_TENSOR_CLOSE(valid_rows(logits, mask), valid_rows(expected, mask),
                        l.info["atol"].get<double>(), l.info["rtol"].get<double>(), name + " exported");
    EXPECT_EQ(reloaded->config().num_layers(), l.model->peft_model->shadow_model_config().num_layers());
  }
}

// Exports every case for verify_cpp_outputs.py, which loads them with transformers.
TEST(ForPython, ExportShadows) {
  for (const std::string& name : exportable_cases()) {
    Loaded l = load_case(name, false);
    const fs::path out = test::fixtures_dir() / "from_cpp" / "exported_shadows" / name;
    fs::remove_all(out);
    models::save_pretrained(*l.model->peft_model->export_shadow(), out);
  }
}


// Sequence classification on a LlamaForSequenceClassification base with one left- and one
// right-padded row (the two pooling rules differ on the left-padded one).
TEST(ShadowSequenceClassification, MatchesShadowPeft) {
  const fs::path dir = shadow_dir() / "seq_cls";
  const io::Json info = io::read_json_file(dir / "case.json");
  const auto ref = io::SafetensorsFile::open(dir / "reference.safetensors");
  const double atol = info["atol"].get<double>(), rtol = info["rtol"].get<double>();
  auto model = ShadowForSequenceClassification(ShadowForSequenceClassificationImpl::from_pretrained(
      models::load_causal_lm((dir / "base").string()), dir / "adapter", true));
  model->eval();
  const models::ForwardOptions options = reference_options(ref);
  const at::Tensor ids = ref.tensor("input_ids"), labels = ref.tensor("labels");

  auto out = model->forward(ids, options, labels);
  EXPECT_TENSOR_CLOSE(out.logits, ref.tensor("logits"), atol, rtol, "seq_cls logits");
  EXPECT_TENSOR_CLOSE(out.shadow_logits, ref.tensor("shadow_logits"), atol, rtol, "seq_cls shadow_logits");
  EXPECT_TENSOR_CLOSE(out.loss, ref.tensor("loss"), atol, rtol, "seq_cls loss");
  out.loss.backward();
  const io::TensorMap grads = model->peft_model->adapter_gradients();
  const double gatol = info.value("grad_atol", 1e-6), grtol = info.value("grad_rtol", 1e-5);
  int checked = 0;
  for (const auto& t : ref.tensors()) {
    if (t.name.starts_with("grad.")) {
      ASSERT_TRUE(grads.count(t.name.substr(5))) << t.name;
      EXPECT_TENSOR_CLOSE(grads.at(t.name.substr(5)), ref.tensor(t.name), gatol, grtol, t.name);
      ++checked;
    }
  }
  EXPECT_EQ(checked, static_cast<int>(grads.size()));
  EXPECT_TENSOR_CLOSE(model->peft_model->base_model->head().linear()->weight.grad(), ref.tensor("grad_modules.classifier_head.weight"),
                      gatol, grtol, "classifier_head grad");
  EXPECT_TENSOR_CLOSE(model->shadow_classifier_head->weight.grad(), ref.tensor("grad_modules.shadow_classifier_head.weight"),
                      gatol, grtol, "shadow_classifier_head grad");
  EXPECT_EQ(model->trainable_parameters_string(), info["print_trainable_parameters"].get<std::string>());

  torch::InferenceMode guard;
  model->set_inference_mode(InferenceMode::ShadowOnly);
  out = model->forward(ids, options, labels);
  EXPECT_TENSOR_CLOSE(out.logits, ref.tensor("shadow_only.logits"), atol, rtol, "seq_cls shadow_only logits");
  EXPECT_TENSOR_CLOSE(out.loss, ref.tensor("shadow_only.loss"), atol, rtol, "seq_cls shadow_only loss");
}

TEST(ShadowSequenceClassification, SavingThePythonAdapterAgainIsByteIdentical) {
  const fs::path dir = shadow_dir() / "seq_cls";
  auto model = ShadowForSequenceClassificationImpl::from_pretrained(models::load_causal_lm((dir / "base").string()),
                                                                    dir / "adapter", true);
  const fs::path out = test::scratch_dir("resave_seq_cls");
  model->save_pretrained(out);
  for (const char* file : {"shadow_config.json", "shadow_adapter.safetensors", "shadow_modules.safetensors"})
    EXPECT_EQ(test::read_file_bytes(out / file), test::read_file_bytes(dir / "adapter" / file)) << file;
}

TEST(ShadowSequenceClassification, CausalLmBaseIsRejected) {
  models::CausalLM base = models::load_causal_lm((shadow_dir() / "llama" / "base").string());
  EXPECT_THROW(ShadowForSequenceClassification(get_shadow_model(base, ShadowConfig{})), ConfigError);
}


// An adapter created and changed in C++ (not one first written by Python): verify_cpp_outputs.py
// loads it with shadow-peft and compares its logits with the ones C++ computed here.
TEST(ForPython, WriteFreshAdapterWithLogits) {
  const fs::path src = shadow_dir() / "qwen3";
  const auto ref = io::SafetensorsFile::open(src / "reference.safetensors");
  models::CausalLM base = models::load_causal_lm((src / "base").string());
  ShadowConfig config;
  config.num_shadow_layers = 2;
  config.injection_hidden_size = 4;
  config.gate_hidden_size = 6;
  config.alpha = 0.5;
  config.dropout = 0.0;
  config.shadow_intermediate_size = 20;
  auto model = ShadowForCausalLM(get_shadow_model(base, config));
  {
    torch::NoGradGuard no_grad;
    at::manual_seed(7);
    for (auto& p : model->peft_model->adapter_state_dict()) p.second.normal_(0.0, 0.2);  // views of the parameters
  }
  model->eval();
  const models::ForwardOptions options = reference_options(ref);
  torch::InferenceMode guard;
  const auto out = model->forward(ref.tensor("input_ids"), options, ref.tensor("labels"));
  const fs::path dir = test::fixtures_dir() / "from_cpp" / "fresh_adapter";
  fs::remove_all(dir);
  model->save_pretrained(dir / "adapter");
  io::save_safetensors(dir / "expected.safetensors",
                       {{"logits", out.logits.contiguous()}, {"shadow_logits", out.shadow_logits.contiguous()},
                        {"loss", out.loss.contiguous()}});
}

}  // namespace
}  // namespace shadowpeft
