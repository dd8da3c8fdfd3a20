// Sequence classification from a causal-LM directory, against transformers'
// AutoModelForSequenceClassification.from_pretrained(causal_dir, num_labels=3) and shadow-peft's
// ShadowForSequenceClassification over it (fixtures cls_from_causal_* of make_shadow_fixtures.py).
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <map>

#include "shadowpeft/core/error.h"
#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/shadow/task_models.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kLabels = 3;

fs::path shadow_dir() { return test::fixtures_dir() / "shadow"; }

std::vector<std::string> cases() {
  std::vector<std::string> found;
  const io::Json index = io::read_json_file(shadow_dir() / "index.json");
  for (const auto& c : index.at("cases")) {
    const std::string name = c.get<std::string>();
    const io::Json info = io::read_json_file(shadow_dir() / name / "case.json");
    if (info.value("task", std::string()) == "seq_cls_from_causal") found.push_back(name);
  }
  return found;
}

struct Case {
  std::string name;
  fs::path dir;
  io::Json info;
  io::SafetensorsFile ref;
  models::ForwardOptions options;

  std::string causal() const { return (dir / "causal").string(); }
  std::string classifier() const { return (dir / "classifier").string(); }
  fs::path adapter() const { return dir / "adapter"; }
};

Case open_case(const std::string& name) {
  const fs::path dir = shadow_dir() / name;
  Case c{name, dir, io::read_json_file(dir / "case.json"), io::SafetensorsFile::open(dir / "reference.safetensors"), {}};
  c.options.attention_mask = c.ref.tensor("attention_mask");
  c.options.position_ids = c.ref.tensor("position_ids");
  return c;
}

std::map<std::string, at::Tensor> params_of(torch::nn::Module& m) {
  std::map<std::string, at::Tensor> out;
  for (const auto& p : m.named_parameters()) out.emplace(p.key(), p.value());
  return out;
}

void set_score(models::CausalLM& base, const at::Tensor& weight) {
  torch::NoGradGuard no_grad;
  base->head().linear()->weight.copy_(weight);
}

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ClassifierFromCausalLm, CoversEveryFamilyFixture) { EXPECT_GE(cases().size(), 3u); }

TEST(ClassifierFromCausalLm, NewScoreHeadIsInitialisedLikeTransformers) {
  for (const std::string& name : cases()) {
    SCOPED_TRACE(name);
    const Case c = open_case(name);
    testing::internal::CaptureStderr();
    models::CausalLM base = models::load_sequence_classifier(c.causal(), kLabels, {}, {.seed = 11});
    const std::string warning = testing::internal::GetCapturedStderr();
    EXPECT_NE(warning.find("newly initialized: ['score.weight']"), std::string::npos) << warning;

    const models::ModelConfig& config = base->config();
    EXPECT_EQ(config.architecture, c.info["classifier_architecture"].get<std::string>());
    EXPECT_EQ(config.raw["architectures"][0].get<std::string>(), config.architecture);
    EXPECT_TRUE(config.is_sequence_classifier());
    EXPECT_EQ(config.num_labels, kLabels);
    EXPECT_EQ(config.raw["id2label"]["2"], "LABEL_2");
    auto params = params_of(*base);
    EXPECT_FALSE(params.count("lm_head.weight"));
    ASSERT_TRUE(params.count("score.weight"));
    const at::Tensor score = params.at("score.weight");
    const at::Tensor fresh = c.ref.tensor("fresh_score_weight");
    EXPECT_EQ(score.sizes(), fresh.sizes());
    EXPECT_FALSE(base->head().linear()->bias.defined());
    // 96 draws: the sample std of normal(0, 0.02) lies within ±35% (5 standard errors).
    const double range = c.info["initializer_range"].get<double>();
    EXPECT_NEAR(score.std().item<double>(), range, 0.35 * range);
    EXPECT_NEAR(score.mean().item<double>(), 0.0, 0.35 * range);
    EXPECT_TRUE(at::equal(score, models::load_sequence_classifier(c.causal(), kLabels, {}, {.seed = 11})->head().linear()->weight));
    EXPECT_FALSE(at::equal(score, models::load_sequence_classifier(c.causal(), kLabels, {}, {.seed = 12})->head().linear()->weight));

    // The backbone is the one transformers loaded (classifier/ as it saved it).
    models::CausalLM python = models::load_causal_lm(c.classifier());
    for (const auto& [key, value] : params_of(*python))
      if (key != "score.weight") EXPECT_TRUE(at::equal(params.at(key), value)) << key;
    EXPECT_EQ(params.size(), params_of(*python).size());
  }
}

TEST(ClassifierFromCausalLm, LogitsAndLossMatchTransformers) {
  for (const std::string& name : cases()) {
    SCOPED_TRACE(name);
    const Case c = open_case(name);
    models::CausalLM base = models::load_sequence_classifier(c.causal(), kLabels);
    set_score(base, c.ref.tensor("score_weight"));
    torch::InferenceMode guard;
    const at::Tensor ids = c.ref.tensor("input_ids");
    const at::Tensor logits = base->pool_last_token(ids, base->forward(ids, c.options));
    const double atol = c.info["atol"].get<double>(), rtol = c.info["rtol"].get<double>();
    EXPECT_TENSOR_CLOSE(logits, c.ref.tensor("base.logits"), atol, rtol, name + " base logits");
    EXPECT_TENSOR_CLOSE(at::cross_entropy_loss(logits, c.ref.tensor("labels")), c.ref.tensor("base.loss"), atol, rtol,
                        name + " base loss");
  }
}

TEST(ClassifierFromCausalLm, PythonAdapterRestoresTheClassifierHeadAndMatchesShadowPeft) {
  for (const std::string& name : cases()) {
    SCOPED_TRACE(name);
    const Case c = open_case(name);
    auto model = ShadowForSequenceClassification(ShadowForSequenceClassificationImpl::from_pretrained(
        models::load_sequence_classifier(c.causal(), kLabels, {}, {.seed = 3}), c.adapter(), true));
    model->eval();
    const auto modules = io::SafetensorsFile::open(c.adapter() / "shadow_modules.safetensors");
    EXPECT_TENSOR_BITWISE_EQ(model->peft_model->base_model->head().linear()->weight.detach(), modules.tensor("classifier_head.weight"),
                             name + " classifier_head");
    EXPECT_TENSOR_BITWISE_EQ(model->shadow_classifier_head->weight.detach(), modules.tensor("shadow_classifier_head.weight"),
                             name + " shadow_classifier_head");

    torch::InferenceMode guard;
    const at::Tensor ids = c.ref.tensor("input_ids"), labels = c.ref.tensor("labels");
    const double atol = c.info["atol"].get<double>(), rtol = c.info["rtol"].get<double>();
    auto out = model->forward(ids, c.options, labels);
    EXPECT_TENSOR_CLOSE(out.logits, c.ref.tensor("logits"), atol, rtol, name + " logits");
    EXPECT_TENSOR_CLOSE(out.shadow_logits, c.ref.tensor("shadow_logits"), atol, rtol, name + " shadow_logits");
    EXPECT_TENSOR_CLOSE(out.loss, c.ref.tensor("loss"), atol, rtol, name + " loss");
    model->set_inference_mode(InferenceMode::ShadowOnly);
    out = model->forward(ids, c.options, labels);
    EXPECT_TENSOR_CLOSE(out.logits, c.ref.tensor("shadow_only.logits"), atol, rtol, name + " shadow_only logits");
    EXPECT_TENSOR_CLOSE(out.loss, c.ref.tensor("shadow_only.loss"), atol, rtol, name + " shadow_only loss");

    // Saved again from C++: the same files, byte for byte.
    const fs::path resaved = test::scratch_dir("resave_" + name);
    model->save_pretrained(resaved);
    for (const char* file : {"shadow_config.json", "shadow_adapter.safetensors", "shadow_modules.safetensors"})
      EXPECT_EQ(test::read_file_bytes(resaved / file), test::read_file_bytes(c.adapter() / file)) << file;
  }
}

// The user's flow: a fresh head is trained with the adapter, saved with it, and restored over a
// base whose own fresh head differs.
TEST(ClassifierFromCausalLm, FreshHeadIsSavedWithTheAdapterAndRestored) {
  const Case c = open_case(cases().at(0));
  ShadowConfig config;
  config.num_shadow_layers = 1;
  config.injection_hidden_size = 4;
  config.gate_hidden_size = 6;
  config.dropout = 0.0;
  auto model = ShadowForSequenceClassification(
      get_shadow_model(models::load_sequence_classifier(c.causal(), kLabels, {}, {.seed = 5}), config));
  const at::Tensor head = model->peft_model->base_model->head().linear()->weight.detach().clone();
  EXPECT_TRUE(model->peft_model->base_model->head().linear()->weight.requires_grad());
  const fs::path dir = test::scratch_dir("fresh_classifier_adapter");
  model->save_pretrained(dir);
  const auto modules = io::SafetensorsFile::open(dir / "shadow_modules.safetensors");
  ASSERT_TRUE(modules.contains("classifier_head.weight"));
  ASSERT_TRUE(modules.contains("shadow_classifier_head.weight"));
  EXPECT_TENSOR_BITWISE_EQ(modules.tensor("classifier_head.weight"), head, "saved classifier_head");

  models::CausalLM other = models::load_sequence_classifier(c.causal(), kLabels, {}, {.seed = 6});
  ASSERT_FALSE(at::equal(other->head().linear()->weight, head));
  auto restored = ShadowForSequenceClassificationImpl::from_pretrained(other, dir);
  EXPECT_TENSOR_BITWISE_EQ(restored->peft_model->base_model->head().linear()->weight.detach(), head, "restored classifier_head");
}

TEST(ClassifierFromCausalLm, SavedClassifierIsWhatTransformersSaves) {
  for (const std::string& name : cases()) {
    SCOPED_TRACE(name);
    const Case c = open_case(name);
    models::CausalLM base = models::load_sequence_classifier(c.causal(), kLabels);
    set_score(base, c.ref.tensor("score_weight"));
    const fs::path out = test::scratch_dir("classifier_" + name);
    models::save_pretrained(*base, out);
    EXPECT_EQ(io::read_json_file(out / "config.json"), io::read_json_file(c.dir / "classifier" / "config.json"));
    const auto ours = io::SafetensorsFile::open(out / "model.safetensors");
    const auto python = io::SafetensorsFile::open(c.dir / "classifier" / "model.safetensors");
    EXPECT_EQ(ours.tensors().size(), python.tensors().size());
    for (const auto& t : python.tensors()) {
      ASSERT_TRUE(ours.contains(t.name)) << t.name;
      EXPECT_TENSOR_BITWISE_EQ(ours.tensor(t.name), python.tensor(t.name), t.name);
    }
    // And it loads back as a classifier, no new head.
    testing::internal::CaptureStderr();
    models::CausalLM again = models::load_sequence_classifier(out.string(), kLabels);
    EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
    EXPECT_TENSOR_BITWISE_EQ(again->head().linear()->weight, c.ref.tensor("score_weight"), "score after reload");
  }
}

TEST(ClassifierFromCausalLm, LabelNamesGoToId2Label) {
  const Case c = open_case(cases().at(0));
  models::CausalLM base = models::load_sequence_classifier(c.causal(), 2, {}, {.labels = {"negative", "positive"}});
  EXPECT_EQ(base->config().raw["id2label"], (io::Json{{"0", "negative"}, {"1", "positive"}}));
  EXPECT_EQ(base->config().raw["label2id"], (io::Json{{"negative", 0}, {"positive", 1}}));
  EXPECT_THROW(models::load_sequence_classifier(c.causal(), 3, {}, {.labels = {"a", "b"}}), ConfigError);
}

TEST(ClassifierFromCausalLm, NumLabelsMustAgreeWithASequenceClassificationCheckpoint) {
  const Case c = open_case(cases().at(0));
  const std::string msg = message_of([&] { models::load_sequence_classifier(c.classifier(), 4); });
  EXPECT_THROW(models::load_sequence_classifier(c.classifier(), 4), ConfigError);
  for (const char* part : {"classifier/config.json", "num_labels", "id2label", "is 3", "expected 4"})
    EXPECT_NE(msg.find(part), std::string::npos) << part << " in: " << msg;
}

TEST(ClassifierFromCausalLm, NumLabelsBelowOneIsRejected) {
  const Case c = open_case(cases().at(0));
  for (int64_t n : {0, -1}) {
    EXPECT_THROW(models::load_sequence_classifier(c.causal(), n), ConfigError);
    const std::string msg = message_of([&] { models::load_sequence_classifier(c.causal(), n); });
    EXPECT_NE(msg.find("num_labels must be at least 1, got " + std::to_string(n)), std::string::npos) << msg;
  }
}

TEST(ClassifierFromCausalLm, AdapterTrainedForOtherLabelsIsRejected) {
  const Case c = open_case(cases().at(0));
  models::CausalLM base = models::load_sequence_classifier(c.causal(), 4);
  const std::string msg = message_of([&] { ShadowForSequenceClassificationImpl::from_pretrained(base, c.adapter()); });
  for (const char* part : {"shadow_modules.safetensors", "classifier_head.weight", "[3, 32]", "[4, 32]"})
    EXPECT_NE(msg.find(part), std::string::npos) << part << " in: " << msg;
}

}  // namespace
}  // namespace shadowpeft
