// Flags every model-loading command shares: bad values and flags missing what they depend on are
// refused before anything loads, with one `error:` line and exit status 1; inspect takes --model
// like the other commands; train takes HF TrainingArguments spellings.
#include <gtest/gtest.h>

#include <algorithm>

#include "shadowpeft/io/json_file.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

using test::run_cli;

std::string model() { return (test::fixtures_dir() / "tiny_llama").string(); }

// Status 1: bad input (a value that fails its check, a file); 2: bad usage (flags missing, unknown,
// repeated, or without the flag they need).
void expect_one_line_error(const test::CommandResult& r, const std::string& says, int status = 1) {
  EXPECT_EQ(r.status, status) << r.out;
  EXPECT_EQ(r.out.rfind("error: ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find(says), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
}

TEST(CliFlags, AnUnknownDeviceIsOneLineAndStatusOne) {
  expect_one_line_error(run_cli("generate --model " + model() + " --input-ids 1,2 --device banana"),
                        "--device: 'banana' is not a device (cpu, cuda or cuda:N)");
  expect_one_line_error(run_cli("train --model " + model() + " --data x.jsonl --device gpu0"), "'gpu0' is not a device");
}

TEST(CliFlags, DependentFlagsNeedWhatTheyDependOn) {
  expect_one_line_error(run_cli("generate --model " + model() + " --input-ids 1,2 --mode shadow_only"), "--mode requires --adapter", 2);
  expect_one_line_error(run_cli("generate --model " + model() + " --input-ids 1,2 --system hi"), "--system requires --chat", 2);
  expect_one_line_error(run_cli("generate --input-ids 1,2"), "--model is required", 2);
  expect_one_line_error(run_cli("generate --model " + model() + " --input-ids 1,2 --no-such-flag"), "--no-such-flag", 2);
}

TEST(CliFlags, ThreadsBeforeOrAfterTheCommand) {
  const std::string logits = " --model " + model() + " --input-ids 1,2 --out " + (test::scratch_dir("cli_threads") / "logits.safetensors").string();
  EXPECT_EQ(run_cli("--threads 1 logits" + logits).status, 0);
  EXPECT_EQ(run_cli("logits" + logits + " --threads 2").status, 0);
  expect_one_line_error(run_cli("logits" + logits + " --threads 0"), "--threads");
}

TEST(CliFlags, QuietLeavesOnlyTheResult) {
  const std::string convert = " --model " + model() + " --out ";
  const auto loud = run_cli("convert" + convert + (test::scratch_dir("cli_loud") / "out").string());
  ASSERT_EQ(loud.status, 0) << loud.out;
  EXPECT_NE(loud.out.find("wrote file 1/1"), std::string::npos) << loud.out;
  for (const std::string form : {"--quiet convert", "convert -q"}) {
    const auto quiet = run_cli(form + convert + (test::scratch_dir("cli_quiet") / "out").string());
    ASSERT_EQ(quiet.status, 0) << quiet.out;
    EXPECT_EQ(quiet.out.find("wrote file"), std::string::npos) << quiet.out;
    EXPECT_EQ(std::count(quiet.out.begin(), quiet.out.end(), '\n'), 1) << quiet.out;  // the result line
  }
}

TEST(CliFlags, AnUnknownDtypeIsOneLine) {
  expect_one_line_error(run_cli("logits --model " + model() + " --input-ids 1,2 --out /tmp/x.safetensors --dtype float8"), "--dtype");
}

TEST(CliFlags, AnEmptyValueIsAValue) {
  // "--text=" is the empty text, not a flag that takes "--json" as its value.
  const auto r = run_cli("tokenize --tokenizer " + (test::fixtures_dir() / "tokenizer" / "bert_pre").string() + " --text= --json");
  ASSERT_EQ(r.status, 0) << r.out;
  const io::Json encoded = io::Json::parse(r.out);
  EXPECT_TRUE(encoded.at("ids").empty()) << r.out;
}

TEST(CliFlags, InspectTakesModelLikeTheOtherCommands) {
  const auto positional = run_cli("inspect --json " + model());
  const auto named = run_cli("inspect --json --model " + model());
  ASSERT_EQ(named.status, 0) << named.out;
  EXPECT_EQ(named.out, positional.out);
}

TEST(CliFlags, TrainAcceptsTrainingArgumentsSpellings) {
  const auto help = run_cli("train --help");
  ASSERT_EQ(help.status, 0) << help.out;
  for (const char* flag : {"--per_device_train_batch_size", "--num_train_epochs", "--learning_rate", "--gradient_accumulation_steps",
                           "--lr_scheduler_type", "--warmup_ratio", "--output_dir", "--distill-temperature"})
    EXPECT_NE(help.out.find(flag), std::string::npos) << flag;
  // An alias is the same option: given twice under both names, CLI11 refuses the repeat.
  expect_one_line_error(run_cli("train --model " + model() + " --data x.jsonl --batch-size 2 --per_device_train_batch_size 4"),
                        "--batch-size", 2);
}

}  // namespace
}  // namespace shadowpeft
