#include "shadowpeft/train/dataset_batches.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <numeric>

#include "shadowpeft/core/error.h"
#include "shadowpeft/data/split.h"

namespace shadowpeft::train {

namespace {

// transformers' get_length_grouped_indices over our shuffled order: megabatches of
// min(n / (4 * batch), 50) batches (at least one), each sorted by length, longest first; then the
// megabatch whose first example is the longest of all swaps that example with the very first.
void group_by_length(std::vector<std::size_t>& order, const std::vector<data::Example>& examples, std::size_t batch) {
  const auto length = [&examples](std::size_t i) { return examples[i].input_ids.size(); };
  const std::size_t mega = std::max<std::size_t>(1, std::min<std::size_t>(order.size() / (batch * 4), 50)) * batch;
  std::size_t longest_start = 0;
  for (std::size_t start = 0; start < order.size(); start += mega) {
    const auto begin = order.begin() + static_cast<std::ptrdiff_t>(start);
    const auto end = order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), start + mega));
    std::stable_sort(begin, end, [&](std::size_t a, std::size_t b) { return length(a) > length(b); });
    if (length(*begin) > length(order[longest_start])) longest_start = start;
  }
  std::swap(order[0], order[longest_start]);
}

}  // namespace

DatasetBatches::DatasetBatches(std::vector<data::Example> examples, int64_t batch_size, int64_t pad_id, bool shuffle,
                               uint64_t seed, bool group_by_length)
    : examples_(std::move(examples)), batch_size_(batch_size), shuffle_(shuffle), seed_(seed), group_by_length_(group_by_length) {
  if (batch_size_ <= 0) throw ConfigError("batch size must be > 0");
  collate_.pad_id = pad_id;
}

int64_t DatasetBatches::size() const {
  return (static_cast<int64_t>(examples_.size()) + batch_size_ - 1) / batch_size_;
}

TrainBatch DatasetBatches::get(int64_t epoch, int64_t index) {
  if (order_epoch_ != epoch) {
    order_ = shuffle_ ? data::shuffled_indices(examples_.size(), seed_ + static_cast<uint64_t>(epoch))
                      : std::vector<std::size_t>(examples_.size());
    if (!shuffle_) std::iota(order_.begin(), order_.end(), std::size_t{0});
    if (group_by_length_ && !order_.empty()) group_by_length(order_, examples_, static_cast<std::size_t>(batch_size_));
    order_epoch_ = epoch;
  }
  const auto begin = static_cast<std::size_t>(index * batch_size_);
  const std::size_t end = std::min(order_.size(), begin + static_cast<std::size_t>(batch_size_));
  std::vector<data::Example> picked;
  for (std::size_t i = begin; i < end; ++i) picked.push_back(examples_[order_[i]]);
  const data::Batch batch = data::collate(picked, collate_);
  const auto b = static_cast<int64_t>(batch.batch_size), t = static_cast<int64_t>(batch.seq_len);
  const auto opts = at::TensorOptions().dtype(at::kLong);
  TrainBatch out;
  out.input_ids = at::tensor(batch.input_ids, opts).view({b, t});
  out.attention_mask = at::tensor(batch.attention_mask, opts).view({b, t});
  out.labels = batch.class_labels.empty() ? at::tensor(batch.labels, opts).view({b, t}) : at::tensor(batch.class_labels, opts);
  if (!batch.position_ids.empty()) out.position_ids = at::tensor(batch.position_ids, opts).view({b, t});
  for (const data::Example& example : picked) out.lines.push_back(example.line);
  return out;
}

}  // namespace shadowpeft::train
