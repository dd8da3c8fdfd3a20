// peft's SHADOW tuner against the installed peft (fixtures from tests/reference/make_peft_fixtures.py):
// an adapter peft saved loads here and gives peft's logits, losses, gradients, parameter counts and
// greedy generations (KV-cached, both modes); saving it again writes byte-identical files; and
// adapters written here load in peft (ForPython.*, checked by verify_cpp_outputs.py).
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "shadowpeft/core/error.h"
#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/peft/shadow_model.h"
#include "peft_fixtures.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;

fs::path peft_dir() { return test::fixtures_dir() / "peft"; }

std::vector<std::string> fixture_cases() { return test::fixture_cases(peft_dir()); }

using Loaded = test::LoadedCase<peft::ShadowModel>;

// A case with a pretrained shadow_model keeps it in shadow_model/ (the path its adapter_config names).
models::CausalLM pretrained_shadow(const std::string& name) {
  const fs::path dir = peft_dir() / name / "shadow_model";
  return fs::exists(dir) ? models::load_causal_lm(dir.string()) : nullptr;
}

Loaded load_case(const std::string& name, bool trainable) {
  return test::load_fixture_case<peft::ShadowModel>(peft_dir() / name, trainable, pretrained_shadow(name));
}

TEST(PeftShadowParity, CoversEveryFixtureKind) {
  const std::vector<std::string> cases = fixture_cases();
  EXPECT_GE(cases.size(), 6u);
  int classifiers = 0;
  for (const std::string& name : cases) classifiers += test::is_classifier_case(io::read_json_file(peft_dir() / name / "case.json"));
  EXPECT_GE(classifiers, 1);
}

TEST(PeftShadowParity, LogitsAndLossesMatchPeftInBothModes) {
  for (const std::string& name : fixture_cases()) {
    SCOPED_TRACE(name);
    Loaded l = load_case(name, false);
    const double atol = l.info["atol"].get<double>(), rtol = l.info["rtol"].get<double>();
    torch::InferenceMode guard;
    const at::Tensor ids = l.ref.tensor("input_ids"), mask = l.options.attention_mask, labels = l.ref.tensor("labels");
    peft::ShadowOutput out = l.model->forward(ids, l.options, labels);
    EXPECT_TENSOR_CLOSE(test::attended(out.logits, mask), test::attended(l.ref.tensor("logits"), mask), atol, rtol, name + " logits");
    EXPECT_TENSOR_CLOSE(out.loss, l.ref.tensor("loss"), atol, rtol, name + " loss");
    EXPECT_TENSOR_CLOSE(out.shadow_loss, l.ref.tensor("shadow_loss"), atol, rtol, name + " shadow_loss");
    EXPECT_TENSOR_CLOSE(test::attended(l.model->base_logits(ids, l.options), mask), test::attended(l.ref.tensor("base.logits"), mask),
                        atol, rtol, name + " base logits (adapter disabled)");
    l.model->set_inference_mode(InferenceMode::ShadowOnly);
    out = l.model->forward(ids, l.options, labels);
    EXPECT_TENSOR_CLOSE(test::attended(out.logits, mask), test::attended(l.ref.tensor("shadow_only.logits"), mask), atol, rtol,
                        name + " shadow_only logits");
    EXPECT_TENSOR_CLOSE(out.loss, l.ref.tensor("shadow_only.loss"), atol, rtol, name + " shadow_only loss");
  }
}

TEST(PeftShadowParity, TrainingLossAndGradientsOfEverySavedTensorMatchPeft) {
  for (const std::string& name : fixture_cases()) {
    SCOPED_TRACE(name);
    Loaded l = load_case(name, true);
    l.model->eval();  // the fixtures use shadow_dropout 0; eval keeps dropout off regardless
    // The training loss (without logits for a causal LM): peft's loss and gradients.
    const at::Tensor loss = l.model->loss(l.ref.tensor("input_ids"), l.options, l.ref.tensor("labels"));
    EXPECT_TENSOR_CLOSE(loss, l.ref.tensor("loss"), l.info["atol"].get<double>(), l.info["rtol"].get<double>(), name + " training loss");
    loss.backward();
    test::expect_gradients_match(l.model->adapter_gradients(), l.ref, l.info, name);
  }
}

TEST(PeftShadowParity, SavingAPeftAdapterAgainIsByteIdentical) {
  for (const std::string& name : fixture_cases()) {
    SCOPED_TRACE(name);
    Loaded l = load_case(name, false);
    const fs::path out = test::scratch_dir("peft_resave_" + name);
    l.model->save_pretrained(out);
    test::expect_same_adapter_files(out, peft_dir() / name / "adapter");
  }
}

TEST(PeftShadowParity, PrintTrainableParametersMatchesPeft) {
  for (const std::string& name : fixture_cases()) {
    SCOPED_TRACE(name);
    Loaded l = load_case(name, true);
    test::expect_peft_counts(l.model->trainable_parameters_string(), l.model->count_parameters(), l.info);
  }
}

// Greedy decoding with both KV caches, token by token, as peft's generate() with its ShadowCache.
at::Tensor greedy(peft::ShadowModelImpl& model, const at::Tensor& prompt, int64_t new_tokens, InferenceMode mode) {
  auto caches = model.new_decoding_caches(prompt.size(0), prompt.size(1) + new_tokens, mode);
  at::Tensor sequence = prompt, next = prompt;
  for (int64_t k = 0; k < new_tokens; ++k) {
    const at::Tensor token = model.last_token_logits(next, {}, &caches, mode).argmax(-1, true);
    sequence = at::cat({sequence, token}, 1);
    next = token;
  }
  return sequence;
}

TEST(PeftShadowParity, CachedGreedyGenerationMatchesPeftInBothModes) {
  int checked = 0;
  for (const std::string& name : fixture_cases()) {
    SCOPED_TRACE(name);
    Loaded l = load_case(name, false);
    if (!l.ref.contains("generate.base_shadow")) continue;
    torch::InferenceMode guard;
    for (const auto& [mode, key] : {std::pair{InferenceMode::BaseShadow, "generate.base_shadow"},
                                    std::pair{InferenceMode::ShadowOnly, "generate.shadow_only"}}) {
      const at::Tensor expected = l.ref.tensor(key);
      const int64_t prompt_length = l.info.value("generate_prompt_length", int64_t{9});
      const at::Tensor prompt = expected.narrow(1, 0, prompt_length);
      EXPECT_TRUE(at::equal(greedy(*l.model, prompt, expected.size(1) - prompt_length, mode), expected)) << key;
      ++checked;
    }
  }
  EXPECT_GE(checked, 8);
}

TEST(PeftShadowConfig, SelectionRulesFollowPeft) {
  auto key = [](int64_t i) { return "model.layers." + std::to_string(i); };
  using Range = std::pair<int64_t, int64_t>;
  peft::ShadowConfig config;
  EXPECT_EQ(peft::select_blocks(config, 4, key), Range(0, 3));
  config.target_modules = peft::ModuleSelector{.names = {"model.layers.1", "model.layers.2"}};
  EXPECT_EQ(peft::select_blocks(config, 4, key), Range(1, 2));
  // layers_to_transform never narrows a selection of whole blocks (peft's index needs a key that goes on).
  config.layers_to_transform = std::vector<int64_t>{1};
  EXPECT_EQ(peft::select_blocks(config, 4, key), Range(1, 2));
  config.layers_to_transform.reset();
  config.target_modules = peft::ModuleSelector{.pattern = R"(.*\.layers\.[23])"};
  EXPECT_EQ(peft::select_blocks(config, 4, key), Range(2, 3));
  config.target_modules = peft::ModuleSelector{.names = {"model.layers.0", "model.layers.2"}};
  EXPECT_THROW(peft::select_blocks(config, 4, key), ConfigError);  // a gap
  config.target_modules = peft::ModuleSelector{.names = {"mlp"}};
  EXPECT_THROW(peft::select_blocks(config, 4, key), ConfigError);  // no block
}

TEST(PeftShadowConfig, BadAdapterConfigsNameTheFieldAndValue) {
  const fs::path dir = test::scratch_dir("peft_bad_config");
  auto expect_error = [&](const std::string& json, const std::string& needle) {
    io::write_json_file(dir / "adapter_config.json", io::Json::parse(json));
    try {
      peft::ShadowConfig::from_pretrained(dir);
      ADD_FAILURE() << "accepted " << json;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(R"({"peft_type": "LORA"})", "expected 'SHADOW'");
  expect_error(R"({"peft_type": "SHADOW", "r": "8"})", "field 'r' must be an integer");
  expect_error(R"({"peft_type": "SHADOW", "r": 0})", "r must be >= 1");
  expect_error(R"({"peft_type": "SHADOW", "task_type": "TOKEN_CLS"})", "supported task types");
  expect_error(R"({"peft_type": "SHADOW", "shadow_dropout": 1.5})", "shadow_dropout");
  expect_error(R"({"peft_type": "SHADOW", "target_modules": "(["})", "not a valid regular expression");
  expect_error(R"({"peft_type": "SHADOW", "shadow_model": "some/model", "shadow_hidden_size": 16})", "mirror-only");
}

TEST(PeftShadowAdapter, MismatchedTensorsAreLoadErrorsNamingThem) {
  const std::string name = "llama";
  const fs::path dir = peft_dir() / name;
  const io::Json info = io::read_json_file(dir / "case.json");
  io::TensorMap state = io::SafetensorsFile::open(dir / "adapter" / "adapter_model.safetensors").load_all();
  auto model = peft::get_peft_model(test::load_case_base(dir, info), peft::ShadowConfig::from_pretrained(dir / "adapter"));
  state.erase(state.begin());
  state.emplace("base_model.model.model.layers.0.extra.weight", at::zeros({1}));
  try {
    model->load_adapter_state_dict(state, "x.safetensors");
    ADD_FAILURE() << "accepted a damaged adapter";
  } catch (const LoadError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("missing: "), std::string::npos) << message;
    EXPECT_NE(message.find("unexpected: base_model.model.model.layers.0.extra.weight"), std::string::npos) << message;
  }
}

TEST(PeftShadowAdapter, UntrainedAdapterLeavesTheBaseUnchanged) {
  const fs::path dir = peft_dir() / "llama";
  const io::Json info = io::read_json_file(dir / "case.json");
  const auto ref = io::SafetensorsFile::open(dir / "reference.safetensors");
  auto model = peft::get_peft_model(test::load_case_base(dir, info), peft::ShadowConfig::from_pretrained(dir / "adapter"));
  torch::InferenceMode guard;
  models::ForwardOptions options{.attention_mask = ref.tensor("attention_mask"), .position_ids = ref.tensor("position_ids")};
  const at::Tensor ids = ref.tensor("input_ids"), mask = options.attention_mask;
  // shadow_up starts at zero and the head copy equals the head: the logits are the base's, bit for bit.
  const at::Tensor logits = model->forward(ids, options).logits;
  EXPECT_TENSOR_BITWISE_EQ(logits, model->base_logits(ids, options), "fresh adapter logits");
  EXPECT_TENSOR_CLOSE(test::attended(logits, mask), test::attended(ref.tensor("base.logits"), mask), info["atol"].get<double>(),
                      info["rtol"].get<double>(), "fresh adapter logits vs transformers");
}

// Adapters written here for verify_cpp_outputs.py to load with PeftModel.from_pretrained: each
// fixture's adapter with every tensor moved (so nothing equals peft's file), and the logits here.
TEST(ForPython, WritePeftShadowAdapters) {
  const fs::path root = test::fixtures_dir() / "peft_from_cpp";
  fs::remove_all(root);
  for (const std::string& name : fixture_cases()) {
    Loaded l = load_case(name, false);
    const fs::path out = root / name;
    fs::create_directories(out);
    fs::copy(peft_dir() / name / "base", out / "base", fs::copy_options::recursive);
    {
      torch::NoGradGuard no_grad;
      at::manual_seed(7);
      for (auto& [key, t] : l.model->adapter_state_dict()) t.add_(at::randn_like(t) * 0.05);
    }
    l.model->save_pretrained(out / "adapter");
    torch::InferenceMode guard;
    io::TensorMap expected{{"input_ids", l.ref.tensor("input_ids")}, {"attention_mask", l.ref.tensor("attention_mask")},
                           {"position_ids", l.ref.tensor("position_ids")}};
    expected.emplace("logits", l.model->forward(l.ref.tensor("input_ids"), l.options).logits);
    l.model->set_inference_mode(InferenceMode::ShadowOnly);
    expected.emplace("shadow_only.logits", l.model->forward(l.ref.tensor("input_ids"), l.options).logits);
    io::save_safetensors(out / "expected.safetensors", expected);
  }
}

}  // namespace
}  // namespace shadowpeft
