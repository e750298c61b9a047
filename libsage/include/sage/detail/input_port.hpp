#pragma once
/// @file input_port.hpp
/// Between tasks, the receiving side: `InputPort` feeds the records of an
/// arriving batch (in-process, or encoded by another node) into an operator.

#include <memory>
#include <type_traits>
#include <vector>

#include <sage/detail/operator_instance.hpp>
#include <sage/detail/record_flow.hpp>

namespace sage::detail {

/// Feeds arriving batches of `T` into an operator instance.
template <class T>
class InputPort final : public InputPortBase {
 public:
  InputPort(Receiver<T>* target, RuntimeContext& ctx, const KeyExtractorBase* key)
      : target_(target), ctx_(&ctx), key_(key ? key->clone_extractor() : nullptr) {}
  size_t consume(BatchBase& batch) override {
    ContextAccess::set_key_extractor(*ctx_, key_.get());
    if (auto* encoded = dynamic_cast<EncodedBatch*>(&batch)) {
      auto records = decode_batch<T>(*encoded);
      return push_all(records);
    }
    return push_all(static_cast<Batch<T>&>(batch).records);
  }

 private:
  size_t push_all(std::vector<T>& records) {
    if constexpr (std::is_same_v<T, bool>) {
      for (bool b : records) target_->push(bool(b));  // std::vector<bool> has no bool&
    } else {
      for (auto& r : records) target_->push(std::move(r));
    }
    return records.size();
  }

  Receiver<T>* target_;
  RuntimeContext* ctx_;
  std::unique_ptr<KeyExtractorBase> key_;  // this instance's copy of the key selector
};

}  // namespace sage::detail
