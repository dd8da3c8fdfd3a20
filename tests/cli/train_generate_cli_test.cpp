// The train / eval / generate / chat commands end to end on a tiny random Llama that uses the real
// Qwen3 tokenizer and chat template, trained on the bundled demo data: the files a run leaves,
// resuming, the metrics eval reports, cached and uncached generation, and errors naming the file.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "shadowpeft/io/json_file.h"
#include "shadowpeft/models/loader.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;

const fs::path kSource = SHADOWPEFT_SOURCE_DIR;

// The last line of the output that is a JSON object (logs go to the same stream).
io::Json last_json(const std::string& out) {
  std::size_t end = out.size();
  while (end > 0) {
    const std::size_t begin = out.rfind('\n', end - 1);
    const std::size_t start = begin == std::string::npos ? 0 : begin + 1;
    if (out.compare(start, 1, "{") == 0) return io::Json::parse(out.substr(start, end - start));
    if (begin == std::string::npos) break;
    end = begin;
  }
  throw std::runtime_error("no JSON line in output:\n" + out);
}

class TrainGenerateCli : public ::testing::Test {
 protected:
  // Per test, not per suite: ctest runs each case as its own process, in parallel.
  void SetUp() override {
    dir_ = test::scratch_dir("cli");
    const fs::path model = dir_ / "model";
    fs::create_directories(model);
    const fs::path tokenizer = kSource / ".." / "shared" / "tokenizers" / "qwen3";
    fs::copy_file(tokenizer / "tokenizer.json", model / "tokenizer.json");
    fs::copy_file(tokenizer / "tokenizer_config.json", model / "tokenizer_config.json");
    io::Json config = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"vocab_size", 151669},
                       {"hidden_size", 32}, {"intermediate_size", 64}, {"num_hidden_layers", 2},
                       {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"max_position_embeddings", 256},
                       {"rms_norm_eps", 1e-6}, {"tie_word_embeddings", true}, {"eos_token_id", 151645}};
    io::write_json_file(model / "config.json", config);
    models::CausalLM lm(models::read_model_config(model / "config.json"));
    torch::manual_seed(0);
    {
      torch::NoGradGuard no_grad;
      for (auto& item : lm->named_parameters()) {
        if (item.key().find("norm") != std::string::npos) item.value().fill_(1.0);
        else item.value().normal_(0.0, 0.05);
      }
    }
    models::save_pretrained(*lm, model);
    // Small slices of the demo data keep the run short (a 151k vocabulary makes every logit row big).
    for (const auto& [name, lines] : {std::pair<std::string, int>{"numbers_train.jsonl", 48}, {"numbers_eval.jsonl", 8}}) {
      std::ifstream in(kSource / "data" / "demo" / name);
      std::ofstream out(dir_ / name);
      std::string line;
      for (int i = 0; i < lines && std::getline(in, line); ++i) out << line << '\n';
    }
  }
  std::string model_flag() const { return "--model " + (dir_ / "model").string(); }
  std::string data(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(TrainGenerateCli, TrainsResumesEvaluatesAndGenerates) {
  const fs::path out = dir_ / "run";
  const std::string common = model_flag() + " --data " + data("numbers_train.jsonl") + " --eval-data " +
                             data("numbers_eval.jsonl") + " --output-dir " + out.string() +
                             " --batch-size 4 --eval-batch-size 8 --learning-rate 1e-2 --logging-steps 1 --save-steps 2 "
                             "--max-length 48 --dropout 0 --json";
  auto run = test::run_cli("train " + common + " --max-steps 4");
  ASSERT_EQ(run.status, 0) << run.out;
  const io::Json first = last_json(run.out);
  EXPECT_EQ(first["global_step"], 4);
  // Fine-tuning helps where it acts (base+shadow), and never changes the frozen base.
  EXPECT_LT(first["after"]["eval_base_shadow_loss"].get<double>(), first["before"]["eval_base_shadow_loss"].get<double>());
  EXPECT_DOUBLE_EQ(first["after"]["eval_base_loss"].get<double>(), first["before"]["eval_base_loss"].get<double>());
  for (const char* file : {"shadow_config.json", "shadow_adapter.safetensors", "train_log.jsonl", "loss_curve.svg",
                           "checkpoint-2/trainer_state.json", "checkpoint-4/optimizer.safetensors"})
    EXPECT_TRUE(fs::exists(out / file)) << file;
  EXPECT_EQ(test::read_file_bytes(out / "loss_curve.svg").rfind("<svg", 0), 0u);
  std::ifstream log(out / "train_log.jsonl");
  int steps = 0;
  for (std::string line; std::getline(log, line);) steps += io::Json::parse(line).contains("loss");
  EXPECT_EQ(steps, 4);

  run = test::run_cli("train " + common + " --max-steps 6 --resume");
  ASSERT_EQ(run.status, 0) << run.out;
  EXPECT_NE(run.out.find("resuming from"), std::string::npos) << run.out;
  const io::Json resumed = last_json(run.out);
  EXPECT_EQ(resumed["global_step"], 6);

  run = test::run_cli("eval " + model_flag() + " --adapter " + out.string() + " --data " + data("numbers_eval.jsonl") +
                      " --max-length 48 --eval-batch-size 8 --json");
  ASSERT_EQ(run.status, 0) << run.out;
  const io::Json metrics = last_json(run.out);
  for (const char* key : {"eval_base_loss", "eval_base_shadow_loss", "eval_shadow_only_loss"})
    EXPECT_NEAR(metrics[key].get<double>(), resumed["after"][key].get<double>(), 1e-5) << key;

  const std::string generate = "generate " + model_flag() + " --adapter " + out.string() +
                               " --chat --prompt \"Write 12 in words.\" --prompt Hi --max-new-tokens 6 --json";
  for (const char* mode : {"base_shadow", "shadow_only"}) {
    run = test::run_cli(generate + " --mode " + mode);
    ASSERT_EQ(run.status, 0) << run.out;
    const io::Json cached = last_json(run.out);
    run = test::run_cli(generate + " --mode " + mode + " --no-cache");
    ASSERT_EQ(run.status, 0) << run.out;
    const io::Json uncached = last_json(run.out);
    ASSERT_EQ(cached["results"].size(), 2u);
    for (std::size_t r = 0; r < 2; ++r) {
      EXPECT_EQ(cached["results"][r]["tokens"], uncached["results"][r]["tokens"]) << mode << " row " << r;
      EXPECT_LE(cached["results"][r]["tokens"].size(), 6u);
    }
  }
}

TEST_F(TrainGenerateCli, ChatReadsTurnsFromStdin) {
  const fs::path input = dir_ / "chat_input.txt";
  std::ofstream(input) << "Hello\n/reset\nWrite 3 in words.\n/exit\n";
  const auto run = test::run_cli("chat " + model_flag() + " --max-new-tokens 4 < " + input.string());
  EXPECT_EQ(run.status, 0) << run.out;
}

TEST_F(TrainGenerateCli, BadTrainingRecordNamesFileAndLine) {
  const fs::path bad = dir_ / "bad.jsonl";
  std::ofstream(bad) << "{\"text\": \"fine\"}\n{\"text\": oops}\n";
  const auto run = test::run_cli("train " + model_flag() + " --data " + bad.string() + " --output-dir " +
                                 (dir_ / "bad_run").string() + " --max-steps 1");
  EXPECT_NE(run.status, 0);
  EXPECT_NE(run.out.find(bad.string() + ":2"), std::string::npos) << run.out;
}

TEST_F(TrainGenerateCli, UnknownTrainingArgumentInConfigIsAnError) {
  const fs::path config = dir_ / "args.json";
  std::ofstream(config) << "{\"learning_rate\": 1e-3, \"lerning_rate\": 2}";
  const auto run = test::run_cli("train " + model_flag() + " --data " + data("numbers_train.jsonl") + " --config " +
                                 config.string() + " --max-steps 1");
  EXPECT_NE(run.status, 0);
  EXPECT_NE(run.out.find("unknown training argument 'lerning_rate'"), std::string::npos) << run.out;
}

}  // namespace
}  // namespace shadowpeft
