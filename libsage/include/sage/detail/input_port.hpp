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
      : target_(target),
        ctx_(&ctx),
        time_(&ContextAccess::time(ctx)),
        key_(key ? key->clone_extractor() : nullptr) {}
  size_t consume(BatchBase& batch) override {
    ContextAccess::set_key_extractor(*ctx_, key_.get());
    if (auto* encoded = dynamic_cast<EncodedBatch*>(&batch)) {
      const BatchView view = encoded->view();
      auto records = decode_batch<T>(view);
      return push_all(records, view.timestamps);
    }
    auto& typed = static_cast<Batch<T>&>(batch);
    return push_all(typed.records, typed.timestamps);
  }

 private:
  /// Each record is processed at its event time, if the stream has one.
  size_t push_all(std::vector<T>& records, const std::vector<EventTime>& stamps) {
    const size_t n = records.size();
    const bool stamped = stamps.size() == n && n > 0;
    if (!stamped) time_->record_timestamp = min_watermark;  // a union of streams with and without
    if constexpr (std::is_same_v<T, bool>) {
      for (size_t i = 0; i < n; ++i) {  // std::vector<bool> has no bool&
        if (stamped) time_->record_timestamp = stamps[i];
        target_->push(bool(records[i]));
      }
    } else {
      if (stamped) {
        for (size_t i = 0; i < n; ++i) {
          time_->record_timestamp = stamps[i];
          target_->push(std::move(records[i]));
        }
      } else {
        for (auto& r : records) target_->push(std::move(r));
      }
    }
    return n;
  }

  Receiver<T>* target_;
  RuntimeContext* ctx_;
  TaskTime* time_;
  std::unique_ptr<KeyExtractorBase> key_;  // this instance's copy of the key selector
};

}  // namespace sage::detail
