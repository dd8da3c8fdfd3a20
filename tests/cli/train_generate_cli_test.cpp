// The train / eval / generate / chat commands end to end on a tiny random Llama that uses the real
// Qwen3 tokenizer and chat template, trained on the bundled demo data: the files a run leaves,
// resuming, the metrics eval reports, cached and uncached generation, and errors naming the file.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/safetensors.h"
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
    write_tiny_llama(model, 32);
    // Small slices of the demo data keep the run short (a 151k vocabulary makes every logit row big).
    for (const auto& [name, lines] : {std::pair<std::string, int>{"numbers_train.jsonl", 48}, {"numbers_eval.jsonl", 8}}) {
      std::ifstream in(kSource / "data" / "demo" / name);
      std::ofstream out(dir_ / name);
      std::string line;
      for (int i = 0; i < lines && std::getline(in, line); ++i) out << line << '\n';
    }
  }
  // A random Llama with the Qwen3 vocabulary, `hidden` wide, tied embeddings.
  static void write_tiny_llama(const fs::path& model, int64_t hidden) {
    io::Json config = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"vocab_size", 151669},
                       {"hidden_size", hidden}, {"intermediate_size", 2 * hidden}, {"num_hidden_layers", 2},
                       {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"max_position_embeddings", 256},
                       {"rms_norm_eps", 1e-6}, {"tie_word_embeddings", true}, {"eos_token_id", 151645},
                       {"pad_token_id", 151643}};
    io::write_json_file(model / "config.json", config);
    models::CausalLM lm(models::read_model_config(model / "config.json"));
    torch::manual_seed(hidden);
    {
      torch::NoGradGuard no_grad;
      for (auto& item : lm->named_parameters()) {
        if (item.key().find("norm") != std::string::npos) item.value().fill_(1.0);
        else item.value().normal_(0.0, 0.05);
      }
    }
    models::save_pretrained(*lm, model);
  }
  std::string model_flag() const { return "--model " + (dir_ / "model").string(); }
  std::string data(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

// Training with an explicit shadow (a narrower model of the same vocabulary, so a projection joins
// it to the base), then every command that loads the adapter with --shadow-model; and eval
// without an adapter measures the base alone.
TEST_F(TrainGenerateCli, ExplicitShadowModelTrainsEvaluatesGeneratesAndExports) {
  const fs::path shadow = dir_ / "shadow_model";
  fs::create_directories(shadow);
  write_tiny_llama(shadow, 16);
  const fs::path out = dir_ / "explicit";
  auto run = test::run_cli("train " + model_flag() + " --shadow-model " + shadow.string() + " --data " +
                           data("numbers_train.jsonl") + " --eval-data " + data("numbers_eval.jsonl") + " --output-dir " +
                           out.string() + " --batch-size 4 --learning-rate 1e-2 --max-steps 2 --save-steps 0 --max-length 48 --json");
  ASSERT_EQ(run.status, 0) << run.out;
  const io::Json trained = last_json(run.out);
  EXPECT_TRUE(io::SafetensorsFile::open(out / "shadow_adapter.safetensors").contains("shadow_hidden_projection.weight"));

  const std::string eval = "eval " + model_flag() + " --data " + data("numbers_eval.jsonl") + " --max-length 48 --json";
  run = test::run_cli(eval + " --adapter " + out.string() + " --shadow-model " + shadow.string());
  ASSERT_EQ(run.status, 0) << run.out;
  const io::Json metrics = last_json(run.out);
  for (const char* key : {"eval_base_loss", "eval_base_shadow_loss", "eval_shadow_only_loss"})
    EXPECT_NEAR(metrics[key].get<double>(), trained["after"][key].get<double>(), 1e-5) << key;
  run = test::run_cli(eval + " --adapter " + out.string());
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.out.find("--shadow-model"), std::string::npos) << run.out;
  run = test::run_cli(eval);
  ASSERT_EQ(run.status, 0) << run.out;
  const io::Json base_only = last_json(run.out);
  EXPECT_NEAR(base_only["eval_base_loss"].get<double>(), trained["after"]["eval_base_loss"].get<double>(), 1e-5);
  EXPECT_FALSE(base_only.contains("eval_base_shadow_loss")) << base_only.dump();

  run = test::run_cli("generate " + model_flag() + " --adapter " + out.string() + " --shadow-model " + shadow.string() +
                      " --mode shadow_only --chat --prompt Hi --max-new-tokens 3 --json");
  ASSERT_EQ(run.status, 0) << run.out;
  EXPECT_EQ(last_json(run.out)["results"].size(), 1u);
  run = test::run_cli("export-shadow " + model_flag() + " --adapter " + out.string() + " --shadow-model " + shadow.string() +
                      " --out " + (dir_ / "exported").string());
  ASSERT_EQ(run.status, 0) << run.out;
  EXPECT_TRUE(fs::exists(dir_ / "exported" / "model.safetensors"));
}

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

// Starts the CLI as a child process (stdout and stderr to `log`); returns its pid.
pid_t spawn_cli(const std::string& args, const fs::path& log) {
  const std::string command = "exec " + test::cli_path() + " " + args + " > " + log.string() + " 2>&1";
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
  pid_t pid = 0;
  if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char* const*>(argv), environ) != 0)
    throw std::runtime_error("cannot start " + command);
  return pid;
}

// The step losses a run logged, by step.
std::map<int64_t, double> logged_losses(const fs::path& log) {
  std::map<int64_t, double> out;
  std::ifstream in(log);
  for (std::string line; std::getline(in, line);) {
    const io::Json entry = io::Json::parse(line);
    if (entry.contains("loss")) out[entry["step"].get<int64_t>()] = entry["loss"].get<double>();
  }
  return out;
}

bool saving(const fs::path& out) {
  std::error_code ec;
  for (fs::directory_iterator it(out, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename().string().starts_with(".checkpoint-")) return true;
  return false;
}

TEST_F(TrainGenerateCli, KilledDuringACheckpointSaveResumesToTheSameResult) {
  // Adapter dropout stays at its default (0.2): resuming must restore the random state as well.
  const std::string common = model_flag() + " --data " + data("numbers_train.jsonl") +
                             " --batch-size 4 --learning-rate 1e-2 --logging-steps 1 --save-steps 1 --max-length 48 "
                             "--max-steps 8";
  const fs::path full = dir_ / "full", killed = dir_ / "killed";
  auto run = test::run_cli("train " + common + " --output-dir " + full.string());
  ASSERT_EQ(run.status, 0) << run.out;

  // Killed with SIGKILL while a checkpoint is being written (the first time one is seen in progress
  // after checkpoint-2 exists), so the newest complete checkpoint is older than the kill.
  const pid_t pid = spawn_cli("train " + common + " --output-dir " + killed.string(), dir_ / "killed.log");
  bool killed_in_save = false;
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (fs::exists(killed / "checkpoint-2") && saving(killed)) {
      ::kill(pid, SIGKILL);
      killed_in_save = true;
      waitpid(pid, &status, 0);
      break;
    }
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "training never reached a save";
  }
  ASSERT_TRUE(killed_in_save) << "the run ended before a save could be interrupted:\n" << test::read_file_bytes(dir_ / "killed.log");
  ASSERT_TRUE(WIFSIGNALED(status));
  std::cout << "  killed while " << (saving(killed) ? "a temporary checkpoint directory existed" : "renaming") << "\n";

  run = test::run_cli("train " + common + " --output-dir " + killed.string() + " --resume");
  ASSERT_EQ(run.status, 0) << run.out;
  EXPECT_NE(run.out.find("resuming from"), std::string::npos) << run.out;
  EXPECT_FALSE(saving(killed)) << "the interrupted save's temporary directory was left behind";

  // Same adapter, bit for bit, and the same loss at every step.
  const io::TensorMap a = io::SafetensorsFile::open(full / "shadow_adapter.safetensors").load_all();
  const io::TensorMap b = io::SafetensorsFile::open(killed / "shadow_adapter.safetensors").load_all();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [key, tensor] : a) EXPECT_TENSOR_BITWISE_EQ(b.at(key), tensor, key);
  const auto full_losses = logged_losses(full / "train_log.jsonl"), resumed_losses = logged_losses(killed / "train_log.jsonl");
  EXPECT_EQ(full_losses.size(), 8u);
  for (const auto& [step, loss] : full_losses) {
    ASSERT_TRUE(resumed_losses.count(step)) << "step " << step;
    EXPECT_EQ(resumed_losses.at(step), loss) << "step " << step;
  }
}

TEST_F(TrainGenerateCli, DataParallelTrainingEqualsGradientAccumulation) {
  // Two processes with batch 2 average their gradients: one process accumulating two batches of 2
  // (taken in the same order) computes the same update. Dropout 0: the processes draw their own masks.
  const std::string common = model_flag() + " --data " + data("numbers_train.jsonl") + " --eval-data " + data("numbers_eval.jsonl") +
                             " --batch-size 2 --eval-batch-size 4 --learning-rate 1e-2 --logging-steps 1 --save-steps 2 "
                             "--max-length 48 --max-steps 4 --dropout 0 --json";
  const fs::path single = dir_ / "single", parallel = dir_ / "parallel", torchrun = dir_ / "torchrun";
  auto run = test::run_cli("train " + common + " --gradient-accumulation-steps 2 --output-dir " + single.string());
  ASSERT_EQ(run.status, 0) << run.out;
  const io::Json single_summary = last_json(run.out);
  run = test::run_cli("train " + common + " --nproc-per-node 2 --output-dir " + parallel.string());
  ASSERT_EQ(run.status, 0) << run.out;
  EXPECT_NE(run.out.find("data-parallel training: 2 processes (gloo)"), std::string::npos) << run.out;
  const io::Json parallel_summary = last_json(run.out);

  const auto expected = logged_losses(single / "train_log.jsonl");
  ASSERT_EQ(expected.size(), 4u);
  for (const auto& [step, loss] : logged_losses(parallel / "train_log.jsonl")) EXPECT_NEAR(loss, expected.at(step), 1e-6) << "step " << step;
  for (const char* key : {"eval_base_shadow_loss", "eval_shadow_only_loss", "eval_base_loss"}) {
    EXPECT_NEAR(parallel_summary["before"][key].get<double>(), single_summary["before"][key].get<double>(), 1e-6) << key;
    EXPECT_NEAR(parallel_summary["after"][key].get<double>(), single_summary["after"][key].get<double>(), 1e-5) << key;
  }
  const io::TensorMap a = io::SafetensorsFile::open(single / "shadow_adapter.safetensors").load_all();
  const io::TensorMap b = io::SafetensorsFile::open(parallel / "shadow_adapter.safetensors").load_all();
  for (const auto& [key, tensor] : a) EXPECT_TRUE(test::tensors_close(b.at(key), tensor, 1e-6, 1e-5, key));
  EXPECT_TRUE(fs::exists(parallel / "checkpoint-2" / "trainer_state.json"));

  // Launched by torchrun instead (its agent hosts the rendezvous store), resumed from checkpoint-2.
  fs::create_directories(torchrun);
  fs::copy(parallel / "checkpoint-2", torchrun / "checkpoint-2", fs::copy_options::recursive);
  run = test::run_cli_command("python3 -m torch.distributed.run --no-python --nproc-per-node 2 --master-addr 127.0.0.1 --master-port " +
                              std::to_string(29400 + ::getpid() % 500) + " " + test::cli_path() + " train " + common +
                              " --output-dir " + torchrun.string() + " --resume");
  ASSERT_EQ(run.status, 0) << run.out;
  const io::TensorMap c = io::SafetensorsFile::open(torchrun / "shadow_adapter.safetensors").load_all();
  for (const auto& [key, tensor] : b) EXPECT_TRUE(test::tensors_close(c.at(key), tensor, 1e-6, 1e-5, "torchrun " + key));

  // A process that fails stops the others, and the launcher says so.
  run = test::run_cli("train " + common + " --nproc-per-node 2 --output-dir " + (dir_ / "failing").string() + " --adapter " +
                      (dir_ / "missing").string());
  EXPECT_NE(run.status, 0);
  EXPECT_NE(run.out.find("a training process failed"), std::string::npos) << run.out;
}

TEST_F(TrainGenerateCli, ClassifiesWithACausalLanguageModelBase) {
  // Two classes the model can tell apart by the first word; a causal-LM directory gets a new score head.
  const fs::path data = dir_ / "sentiment.jsonl";
  {
    std::ofstream out(data);
    for (int i = 0; i < 24; ++i)
      out << fmt::format("{{\"text\": \"{} number {}\", \"label\": \"{}\"}}\n", i % 2 ? "great" : "awful", i,
                         i % 2 ? "positive" : "negative");
  }
  const fs::path out = dir_ / "classifier";
  auto run = test::run_cli("train --task seq_cls " + model_flag() + " --data " + data.string() + " --eval-data " + data.string() +
                           " --output-dir " + out.string() + " --batch-size 4 --learning-rate 2e-2 --max-steps 8 --json");
  ASSERT_EQ(run.status, 0) << run.out;
  EXPECT_NE(run.out.find("classifying into 2 classes (from the labels in the data)"), std::string::npos) << run.out;
  const io::Json summary = last_json(run.out);
  EXPECT_LT(summary["after"]["eval_base_shadow_loss"].get<double>(), summary["before"]["eval_base_shadow_loss"].get<double>());
  const io::TensorMap heads = io::SafetensorsFile::open(out / "shadow_modules.safetensors").load_all();
  ASSERT_TRUE(heads.count("classifier_head.weight"));
  EXPECT_EQ(heads.at("classifier_head.weight").sizes(), (std::vector<int64_t>{2, 32}));

  // eval sizes the head from the adapter and restores the trained one: the numbers training reported.
  run = test::run_cli("eval --task seq_cls " + model_flag() + " --adapter " + out.string() + " --data " + data.string() + " --json");
  ASSERT_EQ(run.status, 0) << run.out;
  const io::Json metrics = last_json(run.out);
  for (const char* key : {"eval_base_shadow_accuracy", "eval_base_shadow_loss", "eval_shadow_only_loss"})
    EXPECT_NEAR(metrics[key].get<double>(), summary["after"][key].get<double>(), 1e-5) << key;
}

TEST_F(TrainGenerateCli, PretrainsAShadowAndAlignsAProjection) {
  // Shadow pretraining: the model itself trains (embeddings frozen) and is saved ready to use.
  const fs::path pretrained = dir_ / "pretrained";
  auto run = test::run_cli("train --task shadow_pretraining " + model_flag() + " --data " + data("numbers_train.jsonl") +
                           " --eval-data " + data("numbers_eval.jsonl") + " --output-dir " + pretrained.string() +
                           " --batch-size 4 --learning-rate 1e-2 --max-steps 4 --max-length 48 --json");
  ASSERT_EQ(run.status, 0) << run.out;
  io::Json summary = last_json(run.out);
  EXPECT_LT(summary["after"]["eval_model_loss"].get<double>(), summary["before"]["eval_model_loss"].get<double>());
  for (const char* file : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "checkpoint-4/trainer_state.json"})
    EXPECT_TRUE(fs::exists(pretrained / file)) << file;
  const models::CausalLM before = models::load_causal_lm((dir_ / "model").string());
  const models::CausalLM after = models::load_causal_lm(pretrained.string());
  EXPECT_TRUE(before->model->embed_tokens->weight.equal(after->model->embed_tokens->weight));
  EXPECT_FALSE(before->model->layers->ptr<models::DecoderLayerImpl>(0)->parameters()[0].equal(
      after->model->layers->ptr<models::DecoderLayerImpl>(0)->parameters()[0]));
  run = test::run_cli("generate --model " + pretrained.string() + " --chat --prompt Hi --max-new-tokens 3");
  EXPECT_EQ(run.status, 0) << run.out;
  run = test::run_cli("eval --task shadow_pretraining --model " + pretrained.string() + " --data " + data("numbers_eval.jsonl") +
                      " --max-length 48 --json");
  ASSERT_EQ(run.status, 0) << run.out;
  EXPECT_NEAR(last_json(run.out)["eval_model_loss"].get<double>(), summary["after"]["eval_model_loss"].get<double>(), 1e-5);

  // Projection alignment: wrap the pretrained small model under a wider model's head, then train
  // only the projection against the small model's own head.
  const fs::path large = dir_ / "large", projected = dir_ / "projected", aligned = dir_ / "aligned";
  fs::create_directories(large);
  write_tiny_llama(large, 64);
  run = test::run_cli("wrap-projection --small " + pretrained.string() + " --large " + large.string() + " --out " + projected.string());
  ASSERT_EQ(run.status, 0) << run.out;
  run = test::run_cli("train --task projection_alignment --model " + projected.string() + " --teacher " + pretrained.string() +
                      " --data " + data("numbers_train.jsonl") + " --eval-data " + data("numbers_eval.jsonl") +
                      " --output-dir " + aligned.string() +
                      " --batch-size 4 --learning-rate 1e-2 --max-steps 3 --max-length 48 --distill-loss both --json");
  ASSERT_EQ(run.status, 0) << run.out;
  summary = last_json(run.out);
  EXPECT_TRUE(summary["after"].contains("eval_small_model_loss")) << summary.dump();
  EXPECT_DOUBLE_EQ(summary["after"]["eval_small_model_loss"].get<double>(), summary["before"]["eval_small_model_loss"].get<double>());
  const models::CausalLM wrapped = models::load_causal_lm(projected.string());
  const models::CausalLM trained = models::load_causal_lm(aligned.string());
  EXPECT_FALSE(wrapped->head().projection()->weight.equal(trained->head().projection()->weight));
  EXPECT_TRUE(wrapped->output_embedding().equal(trained->output_embedding()));
  run = test::run_cli("generate --model " + aligned.string() + " --chat --prompt Hi --max-new-tokens 3");
  EXPECT_EQ(run.status, 0) << run.out;

  run = test::run_cli("train --task projection_alignment --model " + projected.string() + " --data " + data("numbers_train.jsonl") +
                      " --output-dir " + (dir_ / "no_teacher").string() + " --max-steps 1");
  EXPECT_NE(run.status, 0);
  EXPECT_NE(run.out.find("needs --teacher"), std::string::npos) << run.out;
}

}  // namespace
}  // namespace shadowpeft
