// Gradient checkpointing (models::set_gradient_checkpointing, TrainingArguments::gradient_checkpointing)
// changes what autograd keeps, never the numbers: on the fixture Llama + 1-layer shadow of the
// training parity test (itself proven against PyTorch), losses, every trainable gradient, the RNG
// stream and whole Trainer runs equal those without it; the graph loses the layers' internals; and
// nothing changes without grad, in eval mode or with a KV cache.
//
// Our decoder layers hold no dropout (attention and MLP are deterministic), so dropout inside a
// checkpointed function is tested on models::checkpoint directly, and the model cases use the
// adapter's dropout 0.2 (injection and update, outside the layers) to show the recomputation
// leaves the random stream of everything else untouched.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <unordered_set>

#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/gradient_checkpoint.h"
#include "shadowpeft/models/kv_cache.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/shadow/task_models.h"
#include "shadowpeft/train/trainer.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;

fs::path case_dir() { return test::fixtures_dir() / "training" / "llama_linear"; }
io::Json case_info() { return io::read_json_file(case_dir() / "case.json"); }

models::CausalLM load_base() {
  return models::load_causal_lm((test::fixtures_dir() / case_info().at("base_dir").get<std::string>()).string());
}

// The fixture's initial adapter (4-layer Llama base, implicit 1-layer shadow) with `dropout`.
ShadowForCausalLM make_model(double dropout) {
  ShadowConfig config = ShadowConfig::from_pretrained(case_dir() / "initial");
  config.dropout = dropout;
  ShadowPeftModel peft = get_shadow_model(load_base(), config);
  const fs::path adapter = case_dir() / "initial" / "shadow_adapter.safetensors";
  peft->load_adapter_state_dict(io::SafetensorsFile::open(adapter).load_all(), adapter.string());
  return ShadowForCausalLM(peft, case_info().at("args").at("shadow_loss_weight").get<double>());
}

std::vector<train::TrainBatch> batches() {
  const auto file = io::SafetensorsFile::open(case_dir() / "batches.safetensors");
  std::vector<train::TrainBatch> out;
  for (int64_t s = 0; s < 3; ++s) {
    const std::string prefix = fmt::format("step{}.micro0.", s);
    out.push_back({file.tensor(prefix + "input_ids"), file.tensor(prefix + "attention_mask"), file.tensor(prefix + "labels")});
  }
  return out;
}

at::Tensor loss_of(ShadowForCausalLM& model, const train::TrainBatch& batch) {
  models::ForwardOptions options;
  options.attention_mask = batch.attention_mask;
  return model->forward(batch.input_ids, options, batch.labels).loss;
}

struct GraphStats {
  int64_t nodes = 0;        // distinct autograd nodes reachable from the root
  int64_t matmuls = 0;      // MmBackward / BmmBackward / ... nodes among them
  int64_t checkpoints = 0;  // CheckpointFunction nodes among them
};

GraphStats graph_stats(const at::Tensor& root) {
  GraphStats stats;
  std::unordered_set<torch::autograd::Node*> seen;
  std::vector<torch::autograd::Node*> stack{root.grad_fn().get()};
  while (!stack.empty()) {
    torch::autograd::Node* node = stack.back();
    stack.pop_back();
    if (!node || !seen.insert(node).second) continue;
    ++stats.nodes;
    const std::string name = node->name();
    if (name.find("CheckpointFunction") != std::string::npos) ++stats.checkpoints;
    if (name.find("mmBackward") != std::string::npos || name.find("MmBackward") != std::string::npos) ++stats.matmuls;
    for (const auto& edge : node->next_edges()) stack.push_back(edge.function.get());
  }
  return stats;
}

struct Pass {
  std::vector<double> losses;
  std::map<std::string, at::Tensor> grads;  // accumulated over the micro-batches
  at::Tensor rng_after;                     // CPU generator state after the last backward
  GraphStats graph;                         // of the first loss
};

// Forward + backward over `count` batches from one seed, gradients accumulating as in the trainer.
Pass run(ShadowForCausalLM& model, bool checkpointing, int64_t count) {
  EXPECT_EQ(models::set_gradient_checkpointing(*model, checkpointing), 2) << "base decoder and shadow backbone";
  model->train();
  model->zero_grad();
  at::manual_seed(1234);
  Pass r;
  const auto data = batches();
  for (int64_t i = 0; i < count; ++i) {
    const at::Tensor loss = loss_of(model, data.at(static_cast<std::size_t>(i)));
    if (i == 0) r.graph = graph_stats(loss);
    loss.backward();
    r.losses.push_back(loss.item<double>());
  }
  for (const auto& item : model->named_parameters())
    if (item.value().requires_grad() && item.value().grad().defined()) r.grads.emplace(item.key(), item.value().grad().clone());
  r.rng_after = at::detail::getDefaultCPUGenerator().get_state();
  return r;
}

// Recomputation repeats the forward's operations on the same values, so the forward is bitwise
// equal; backward sums the same terms, but gradients reaching a tensor from several consumers could
// be added in another order, hence a tolerance of 1e-7 (absolute) on gradients of order 1e-2..1.
// Measured on CPU: all 22 gradients bitwise equal, with and without adapter dropout.
constexpr double kGradTolerance = 1e-7;

TEST(GradientCheckpointing, LossAndEveryTrainableGradientEqualWithout) {
  for (const double dropout : {0.0, 0.2}) {
    SCOPED_TRACE(fmt::format("adapter dropout {}", dropout));
    ShadowForCausalLM model = make_model(dropout);
    const Pass plain = run(model, false, 2);
    const Pass checkpointed = run(model, true, 2);
    for (std::size_t i = 0; i < plain.losses.size(); ++i)
      EXPECT_EQ(checkpointed.losses[i], plain.losses[i]) << "loss of micro-batch " << i;
    ASSERT_EQ(checkpointed.grads.size(), plain.grads.size());
    ASSERT_GT(plain.grads.size(), 10u);
    double worst = 0;
    int64_t bitwise = 0;
    for (const auto& [name, grad] : plain.grads) {
      ASSERT_TRUE(checkpointed.grads.count(name)) << name;
      const at::Tensor& got = checkpointed.grads.at(name);
      EXPECT_TRUE(test::tensors_close(got, grad, kGradTolerance, 0, name));
      worst = std::max(worst, (got.to(at::kDouble) - grad.to(at::kDouble)).abs().max().item<double>());
      bitwise += at::equal(got, grad);
    }
    std::cout << fmt::format("  dropout {}: {} gradients, {} bitwise equal, max |diff| {:.3e}; loss {:.9f}\n", dropout,
                             plain.grads.size(), bitwise, worst, plain.losses[0]);
    // The second micro-batch's dropout masks came from the stream after the first backward.
    EXPECT_TRUE(at::equal(checkpointed.rng_after, plain.rng_after)) << "the recomputation moved the CPU RNG";
    // Proof that checkpointing ran: base layers 1..3 (layer 0 has nothing requiring grad: frozen
    // weights on frozen embeddings) and the shadow layer went through CheckpointFunction.
    EXPECT_EQ(plain.graph.checkpoints, 0);
    EXPECT_EQ(checkpointed.graph.checkpoints, 4);
  }
}

TEST(GradientCheckpointing, CheckpointReplaysDropoutMasks) {
  at::manual_seed(7);
  const at::Tensor w0 = at::randn({16, 16});
  const at::Tensor x0 = at::randn({4, 16});
  for (const bool input_requires_grad : {true, false}) {
    SCOPED_TRACE(input_requires_grad ? "input requires grad" : "only the parameter requires grad");
    auto fn = [](const at::Tensor& w) {
      return [w](const at::Tensor& x) { return at::dropout(at::tanh(at::matmul(x, w)), 0.5, true) * 2; };
    };
    auto pass = [&](bool checkpointed) {
      at::Tensor w = w0.clone().requires_grad_(true), x = x0.clone().requires_grad_(input_requires_grad);
      at::manual_seed(99);
      at::Tensor y = checkpointed ? models::checkpoint(fn(w), x, true) : fn(w)(x);
      // A draw after the checkpointed call: must see the stream as if there were no recomputation.
      y = (y * at::rand_like(y)).sum();
      y.backward();
      return std::make_tuple(y.detach(), w.grad(), input_requires_grad ? x.grad() : at::Tensor());
    };
    const auto [y_plain, w_plain, x_plain] = pass(false);
    const auto [y_ckpt, w_ckpt, x_ckpt] = pass(true);
    EXPECT_TENSOR_BITWISE_EQ(y_ckpt, y_plain, "output");
    ASSERT_TRUE(w_ckpt.defined()) << "the parameter got no gradient";
    EXPECT_TENSOR_BITWISE_EQ(w_ckpt, w_plain, "parameter gradient");
    if (input_requires_grad) EXPECT_TENSOR_BITWISE_EQ(x_ckpt, x_plain, "input gradient");
    // The masks matter: a different stream in the recomputation would give another gradient.
    EXPECT_GT(w_plain.abs().sum().item<double>(), 0);
  }
}

TEST(GradientCheckpointing, TrainerStepsEqualWithout) {
  std::vector<train::StepRecord> records[2];
  io::TensorMap adapters[2];
  for (const bool checkpointing : {false, true}) {
    ShadowForCausalLM model = make_model(0.2);
    auto task = train::make_training_task(model);
    train::FixedBatches data(batches());
    train::TrainingArguments args;
    args.output_dir = test::scratch_dir(checkpointing ? "checkpointed" : "plain").string();
    args.max_steps = 3;
    args.learning_rate = 1e-3;
    args.logging_steps = 1;
    args.save_steps = 0;
    args.gradient_checkpointing = checkpointing;
    train::Trainer trainer(*task, args, data);
    EXPECT_EQ(model->peft_model->base_model->model->gradient_checkpointing, checkpointing);
    EXPECT_EQ(model->peft_model->shadow_model->gradient_checkpointing, checkpointing);
    trainer.train();
    records[checkpointing] = trainer.step_records();
    adapters[checkpointing] = model->peft_model->adapter_state_dict();
  }
  ASSERT_EQ(records[1].size(), 3u);
  ASSERT_EQ(records[0].size(), 3u);
  double worst_norm = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    // Same gradients (bitwise on CPU, see above) give the same steps; 1e-7 for summation order.
    EXPECT_NEAR(records[1][i].loss, records[0][i].loss, 1e-7) << "step " << i + 1;
    EXPECT_NEAR(records[1][i].grad_norm, records[0][i].grad_norm, 1e-7) << "step " << i + 1;
    worst_norm = std::max(worst_norm, std::abs(records[1][i].grad_norm - records[0][i].grad_norm));
    std::cout << fmt::format("  step {}: loss {:.9f} vs {:.9f}\n", i + 1, records[1][i].loss, records[0][i].loss);
  }
  std::cout << fmt::format("  max |grad norm diff| {:.3e}\n", worst_norm);
  ASSERT_EQ(adapters[1].size(), adapters[0].size());
  for (const auto& [name, tensor] : adapters[0]) {
    ASSERT_TRUE(adapters[1].count(name)) << name;
    EXPECT_TRUE(test::tensors_close(adapters[1].at(name), tensor, 1e-7, 0, name));
  }
}

TEST(GradientCheckpointing, GraphKeepsNoLayerInternals) {
  ShadowForCausalLM model = make_model(0.0);
  const Pass plain = run(model, false, 1);
  const Pass checkpointed = run(model, true, 1);
  std::cout << fmt::format("  autograd nodes: {} without, {} with checkpointing; matmul nodes {} vs {}\n",
                           plain.graph.nodes, checkpointed.graph.nodes, plain.graph.matmuls, checkpointed.graph.matmuls);
  // Each checkpointed layer (7 linears, attention, norms, rotary, ...) becomes one node. Measured:
  // 397 nodes without, 127 with; matmul nodes 44 vs 16 (exactly the 4 × 7 layer projections gone).
  EXPECT_LT(checkpointed.graph.nodes * 2, plain.graph.nodes);
  // Matmuls left: those outside the layers (injection, update, heads), none of the layers' own.
  const int64_t layer_projections = 4 * 7;  // 4 checkpointed layers × q, k, v, o, gate, up, down
  EXPECT_LE(checkpointed.graph.matmuls + layer_projections, plain.graph.matmuls);
}

TEST(GradientCheckpointing, InactiveWithoutGradInEvalModeAndWithACache) {
  ShadowForCausalLM model = make_model(0.0);
  const train::TrainBatch batch = batches().front();
  models::ForwardOptions options;
  options.attention_mask = batch.attention_mask;
  auto logits = [&](bool checkpointing) {
    models::set_gradient_checkpointing(*model, checkpointing);
    return model->forward(batch.input_ids, options).logits;
  };
  model->train();
  {
    at::NoGradGuard no_grad;
    const at::Tensor on = logits(true);
    EXPECT_FALSE(on.requires_grad());
    EXPECT_TENSOR_BITWISE_EQ(on, logits(false), "NoGradGuard");
  }
  {
    c10::InferenceMode inference;
    EXPECT_TENSOR_BITWISE_EQ(logits(true), logits(false), "InferenceMode");
  }
  // Eval mode with grad on (transformers, too, checkpoints in training mode only).
  model->eval();
  const at::Tensor eval_on = logits(true);
  EXPECT_EQ(graph_stats(eval_on).checkpoints, 0);
  EXPECT_TENSOR_BITWISE_EQ(eval_on.detach(), logits(false).detach(), "eval mode");

  // A KV cache: a base model with trainable weights, training mode, grad on — checkpointed without
  // the cache (every layer), not with it, and the same logits.
  models::CausalLM base = load_base();
  for (auto& p : base->parameters()) p.set_requires_grad(true);
  base->train();
  const int64_t layers = static_cast<int64_t>(base->model->layers->size());
  EXPECT_EQ(models::set_gradient_checkpointing(*base, true), 1);
  const at::Tensor ids = batch.input_ids.narrow(0, 0, 1);
  EXPECT_EQ(graph_stats(base->forward(ids)).checkpoints, layers);
  auto cached = [&] {
    models::KVCache cache(base->config(), 1, ids.size(1), base->output_embedding().options());
    models::ForwardOptions with_cache;
    with_cache.cache = &cache;
    return base->forward(ids, with_cache);
  };
  const at::Tensor on = cached();
  EXPECT_EQ(graph_stats(on).checkpoints, 0);
  models::set_gradient_checkpointing(*base, false);
  EXPECT_TENSOR_BITWISE_EQ(on.detach(), cached().detach(), "KV cache");
}

TEST(GradientCheckpointing, TrainingArgumentsAcceptIt) {
  train::TrainingArguments args;
  args.output_dir = "unused";
  args.gradient_checkpointing = true;
  EXPECT_NO_THROW(args.validate());
}

}  // namespace
}  // namespace shadowpeft
