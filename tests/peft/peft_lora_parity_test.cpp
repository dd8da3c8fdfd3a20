// peft's LoRA against the installed peft (fixtures from tests/reference/make_lora_fixtures.py): an
// adapter peft saved loads here and gives peft's logits, loss, gradients, parameter counts, targeted
// layers and greedy generation; saving it again writes byte-identical files; merging gives peft's
// merge_and_unload() logits; and adapters written here load in peft (ForPython.*).
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "shadowpeft/core/error.h"
#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/peft/lora_model.h"
#include "peft_fixtures.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;

fs::path lora_dir() { return test::fixtures_dir() / "lora"; }

// The cases whose layers this library can adapt (GPT-2 fuses q, k and v into c_attn: refused).
std::vector<std::string> fixture_cases() { return test::fixture_cases(lora_dir(), "gpt2"); }

using Loaded = test::LoadedCase<peft::LoraModel>;

Loaded load_case(const std::string& name, bool trainable) {
  return test::load_fixture_case<peft::LoraModel>(lora_dir() / name, trainable);
}

TEST(PeftLoraParity, CoversTheFixtures) {
  const std::vector<std::string> cases = fixture_cases();
  EXPECT_GE(cases.size(), 7u);
  int classifiers = 0;
  for (const std::string& name : cases) classifiers += test::is_classifier_case(io::read_json_file(lora_dir() / name / "case.json"));
  EXPECT_GE(classifiers, 1);
}

TEST(PeftLoraParity, TargetsThePeftLayers) {
  for (const std::string& name : fixture_cases()) {
    SCOPED_TRACE(name);
    Loaded l = load_case(name, false);
    std::vector<std::string> targeted = l.model->targeted_modules();
    std::sort(targeted.begin(), targeted.end());
    EXPECT_EQ(targeted, l.info["targeted_modules"].get<std::vector<std::string>>());
  }
}

TEST(PeftLoraParity, LogitsAndLossMatchPeft) {
  for (const std::string& name : fixture_cases()) {
    SCOPED_TRACE(name);
    Loaded l = load_case(name, false);
    const double atol = l.info["atol"].get<double>(), rtol = l.info["rtol"].get<double>();
    torch::InferenceMode guard;
    const at::Tensor ids = l.ref.tensor("input_ids"), mask = l.options.attention_mask;
    const peft::LoraOutput out = l.model->forward(ids, l.options, l.ref.tensor("labels"));
    EXPECT_TENSOR_CLOSE(test::attended(out.logits, mask), test::attended(l.ref.tensor("logits"), mask), atol, rtol, name + " logits");
    EXPECT_TENSOR_CLOSE(out.loss, l.ref.tensor("loss"), atol, rtol, name + " loss");
    EXPECT_TENSOR_CLOSE(test::attended(l.model->base_logits(ids, l.options), mask), test::attended(l.ref.tensor("base.logits"), mask),
                        atol, rtol, name + " base logits (adapter disabled)");
  }
}

TEST(PeftLoraParity, TrainingLossAndGradientsOfEverySavedTensorMatchPeft) {
  for (const std::string& name : fixture_cases()) {
    SCOPED_TRACE(name);
    Loaded l = load_case(name, true);
    l.model->eval();
    // The training loss (without logits for a causal LM): peft's loss and gradients.
    const at::Tensor loss = l.model->loss(l.ref.tensor("input_ids"), l.options, l.ref.tensor("labels"));
    EXPECT_TENSOR_CLOSE(loss, l.ref.tensor("loss"), l.info["atol"].get<double>(), l.info["rtol"].get<double>(), name + " training loss");
    loss.backward();
    test::expect_gradients_match(l.model->adapter_gradients(), l.ref, l.info, name);
  }
}

TEST(PeftLoraParity, SavingAPeftAdapterAgainIsByteIdentical) {
  for (const std::string& name : fixture_cases()) {
    SCOPED_TRACE(name);
    Loaded l = load_case(name, false);
    const fs::path out = test::scratch_dir("lora_resave_" + name);
    l.model->save_pretrained(out);
    test::expect_same_adapter_files(out, lora_dir() / name / "adapter");
  }
}

TEST(PeftLoraParity, PrintTrainableParametersMatchesPeft) {
  for (const std::string& name : fixture_cases()) {
    SCOPED_TRACE(name);
    Loaded l = load_case(name, true);
    test::expect_peft_counts(l.model->trainable_parameters_string(), l.model->count_parameters(), l.info);
  }
}

TEST(PeftLoraParity, CachedGreedyGenerationMatchesPeft) {
  int checked = 0;
  for (const std::string& name : fixture_cases()) {
    SCOPED_TRACE(name);
    Loaded l = load_case(name, false);
    if (!l.ref.contains("generate.greedy")) continue;
    torch::InferenceMode guard;
    const at::Tensor expected = l.ref.tensor("generate.greedy");
    const int64_t prompt_length = 9, new_tokens = expected.size(1) - prompt_length;
    auto caches = l.model->new_decoding_caches(1, expected.size(1), InferenceMode::BaseShadow);
    at::Tensor sequence = expected.narrow(1, 0, prompt_length), next = sequence;
    for (int64_t k = 0; k < new_tokens; ++k) {
      const at::Tensor token = l.model->last_token_logits(next, {}, &caches, InferenceMode::BaseShadow).argmax(-1, true);
      sequence = at::cat({sequence, token}, 1);
      next = token;
    }
    EXPECT_TRUE(at::equal(sequence, expected)) << sequence << " vs " << expected;
    ++checked;
  }
  EXPECT_GE(checked, 5);
}

TEST(PeftLoraParity, MergeAndUnloadGivesPeftsMergedModel) {
  int checked = 0;
  for (const std::string& name : fixture_cases()) {
    SCOPED_TRACE(name);
    Loaded l = load_case(name, false);
    if (!l.ref.contains("merged.logits")) continue;
    torch::InferenceMode guard;
    const at::Tensor ids = l.ref.tensor("input_ids"), mask = l.options.attention_mask;
    const double atol = l.info["atol"].get<double>(), rtol = l.info["rtol"].get<double>();
    models::CausalLM merged = l.model->merge_and_unload();
    // A classifier's logits are read at each row's last token.
    auto logits = [&](models::CausalLMImpl& model) {
      const at::Tensor scores = model.forward(ids, l.options);
      return test::is_classifier_case(l.info) ? model.pool_last_token(ids, scores) : scores;
    };
    EXPECT_TENSOR_CLOSE(test::attended(logits(*merged), mask), test::attended(l.ref.tensor("merged.logits"), mask), atol, rtol,
                        name + " merged logits");
    // The merged checkpoint peft wrote holds the same weights.
    const fs::path out = test::scratch_dir("lora_merged_" + name);
    models::save_pretrained(*merged, out);
    models::CausalLM reloaded = models::load_causal_lm(out.string());
    models::CausalLM python = models::load_causal_lm((lora_dir() / name / "merged").string());
    EXPECT_TENSOR_CLOSE(test::attended(logits(*reloaded), mask), test::attended(logits(*python), mask), atol, rtol,
                        name + " saved merged model vs peft's");
    ++checked;
  }
  EXPECT_GE(checked, 4);
}

TEST(PeftLoraAdapter, UnsupportedVariantsAndFusedFamiliesAreRefusedByName) {
  const fs::path dir = test::scratch_dir("lora_variants");
  auto expect_error = [&](const std::string& json, const std::string& needle) {
    io::write_json_file(dir / "adapter_config.json", io::Json::parse(json));
    try {
      peft::LoraConfig::from_pretrained(dir);
      ADD_FAILURE() << "accepted " << json;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(R"({"peft_type": "LORA", "target_modules": ["q_proj"], "use_dora": true})", "DoRA is not supported");
  expect_error(R"({"peft_type": "LORA", "target_modules": ["q_proj"], "bias": "all"})", "training biases");
  expect_error(R"({"peft_type": "LORA", "target_modules": ["q_proj"], "rank_pattern": {"q_proj": 4}})", "per-module ranks");
  expect_error(R"({"peft_type": "LORA", "target_modules": ["q_proj"], "init_lora_weights": "pissa"})", "initialisations");
  expect_error(R"({"peft_type": "LORA"})", "target_modules is required");
  expect_error(R"({"peft_type": "LORA", "target_modules": ["q_proj"], "r": 0})", "r must be >= 1");
  if (fs::exists(lora_dir() / "gpt2_c_attn")) {
    const fs::path gpt2 = lora_dir() / "gpt2_c_attn";
    EXPECT_THROW(peft::LoraModelImpl::from_pretrained(models::load_causal_lm((gpt2 / "base").string()), gpt2 / "adapter"),
                 UnsupportedError);
  }
}

TEST(PeftLoraAdapter, DetachingRestoresThePlainBase) {
  const fs::path dir = lora_dir() / "llama_qv";
  const io::Json info = io::read_json_file(dir / "case.json");
  const auto ref = io::SafetensorsFile::open(dir / "reference.safetensors");
  models::CausalLM base = test::load_case_base(dir, info);
  torch::InferenceMode guard;
  models::ForwardOptions options{.attention_mask = ref.tensor("attention_mask"), .position_ids = ref.tensor("position_ids")};
  const at::Tensor ids = ref.tensor("input_ids");
  const at::Tensor plain = base->forward(ids, options);
  {
    auto model = peft::LoraModel(peft::LoraModelImpl::from_pretrained(base, dir / "adapter"));
    EXPECT_FALSE(at::equal(base->forward(ids, options), plain)) << "the adapter acts on the base's own layers";
  }
  EXPECT_TENSOR_BITWISE_EQ(base->forward(ids, options), plain, "base after the adapter is gone");
}

TEST(ForPython, WritePeftLoraAdapters) {
  const fs::path root = test::fixtures_dir() / "lora_from_cpp";
  fs::remove_all(root);
  for (const std::string& name : fixture_cases()) {
    Loaded l = load_case(name, false);
    const fs::path out = root / name;
    fs::create_directories(out);
    fs::copy(lora_dir() / name / "base", out / "base", fs::copy_options::recursive);
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
    io::save_safetensors(out / "expected.safetensors", expected);
  }
}

}  // namespace
}  // namespace shadowpeft
