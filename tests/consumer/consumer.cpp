// Loads a model directory, wraps it with an implicit shadow and prints the logits' shape and the
// trainable-parameter line: every layer (io, models, shadow) through the installed headers.
#include <shadowpeft/models/loader.h>
#include <shadowpeft/shadow/task_models.h>

#include <iostream>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: consumer MODEL_DIR\n";
    return 2;
  }
  try {
    shadowpeft::ShadowConfig config;
    config.num_shadow_layers = 1;
    shadowpeft::ShadowForCausalLM model(shadowpeft::get_shadow_model(shadowpeft::models::load_causal_lm(argv[1]), config));
    const at::Tensor logits = model->forward(at::tensor({1, 2, 3}, at::kLong).unsqueeze(0)).logits;
    std::cout << "logits " << logits.sizes() << "\n" << model->trainable_parameters_string() << "\n";
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
