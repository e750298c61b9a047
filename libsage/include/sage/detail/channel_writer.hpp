#pragma once
/// @file channel_writer.hpp
/// Between tasks, the sending side: `ChannelWriter` partitions one edge's
/// records over its network channels (forward, hash, broadcast, round robin, a
/// user's `Partitioner`) and ships full batches through the task's transport.

#include <algorithm>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <sage/detail/footprint.hpp>
#include <sage/detail/graph.hpp>
#include <sage/detail/key_groups.hpp>
#include <sage/detail/operator_instance.hpp>
#include <sage/detail/record_flow.hpp>
#include <sage/functions.hpp>

namespace sage::detail {

// -- between tasks ---------------------------------------------------------------

/// Makes the per-instance partitioner of a custom edge.
template <class T>
class PartitionerFactory : public PartitionerFactoryBase {
 public:
  [[nodiscard]] virtual std::function<size_t(const T&, size_t)> make() const = 0;
};

template <class T, class P>
class TypedPartitionerFactory final : public PartitionerFactory<T> {
 public:
  explicit TypedPartitionerFactory(P p) : prototype_(std::move(p)) {}
  [[nodiscard]] std::function<size_t(const T&, size_t)> make() const override {
    auto p = std::make_shared<P>(prototype_);
    return [p](const T& x, size_t n) { return static_cast<size_t>(p->partition(x, n)); };
  }

 private:
  P prototype_;
};

/// Partitions the records of one edge over its channels, one batch buffer per
/// channel, and ships a buffer through the transport once it holds a batch.
template <class T>
class ChannelWriter final : public Receiver<T>, public ChannelWriterBase {
 public:
  ChannelWriter(const EdgeRouting& routing, WriterSetup setup, const RuntimeContext& ctx)
      : kind_(routing.kind),
        setup_(std::move(setup)),
        buffers_(setup_.channels.size()),
        bytes_(setup_.channels.size(), 0),
        stamps_(setup_.timestamped ? setup_.channels.size() : 0),
        ctx_(&ctx) {
    if (setup_.timestamped && setup_.time == nullptr)
      throw std::logic_error("a timestamped stream's writer without the task's time");
    // Records of one size: the byte bound is a count bound, with no cost per record.
    if constexpr (fixed_footprint<T>)
      setup_.batch_size =
          std::max<size_t>(1, std::min(setup_.batch_size, setup_.batch_bytes / sizeof(T)));
    if (kind_ == Routing::hash) {
      key_ = typed<KeySelector<T>>(routing.key_selector)->clone_selector();
      // Each group's owner, looked up per record (no division on the hot path);
      // with a power of two of groups (the default 128) the group is a mask.
      groups_ = std::max(1, setup_.max_parallelism);
      group_owner_.resize(static_cast<size_t>(groups_));
      for (int g = 0; g < groups_; ++g)
        group_owner_[static_cast<size_t>(g)] = static_cast<uint32_t>(
            owner_of_key_group(g, groups_, static_cast<int>(setup_.channels.size())));
      if ((groups_ & (groups_ - 1)) == 0) group_mask_ = static_cast<uint64_t>(groups_ - 1);
    }
    if (kind_ == Routing::custom)
      custom_ = typed<PartitionerFactory<T>>(routing.partitioner)->make();
    next_ = static_cast<size_t>(setup_.instance) % buffers_.size();
    for (auto& b : buffers_) b.reserve(setup_.batch_size);
  }

  void push(T&& x) override {
    const size_t n = buffers_.size();
    size_t i = 0;
    switch (kind_) {
      case Routing::hash: {  // to the owner of the key's group (key_groups.hpp)
        const uint64_t h = key_hash(x);
        i = group_owner_[group_mask_ != 0 ? (h & group_mask_)
                                          : static_cast<uint64_t>(key_group_of(h, groups_))];
        break;
      }
      case Routing::round_robin:
        i = next_;
        next_ = (next_ + 1 == n) ? 0 : next_ + 1;
        break;
      case Routing::custom:
        i = guarded(*ctx_, [&] { return custom_(x, n); });
        if (i >= n)
          throw OperatorFailure(ctx_->operator_name(), ctx_->index(),
                                "partitioner returned " + std::to_string(i) + " for " +
                                    std::to_string(n) + " instances");
        break;
      case Routing::broadcast:
        for (size_t j = 0; j + 1 < n; ++j) append(j, T(x));
        i = n - 1;
        break;
      default:  // forward: a single channel
        break;
    }
    append(i, std::move(x));
  }

  void flush() override {
    for (size_t i = 0; i < buffers_.size(); ++i)
      if (!buffers_[i].empty()) ship(i);
  }

  [[nodiscard]] const std::vector<uint32_t>& channels() const override { return setup_.channels; }

  [[nodiscard]] bool has_partial() const override {
    for (const auto& b : buffers_)
      if (!b.empty()) return true;
    return false;
  }

 private:
  /// The edge's typed part, for this writer's records (another type would be a
  /// bug of the graph: caught here, once per task, not per record).
  template <class Typed, class Erased>
  static const Typed* typed(const std::shared_ptr<const Erased>& erased) {
    const auto* t = dynamic_cast<const Typed*>(erased.get());
    if (t == nullptr)
      throw std::logic_error("an edge's routing is not for records of type " +
                             type_name(typeid(T)));
    return t;
  }

  /// The user's key selector runs here, in the operator whose output is keyed:
  /// a throw fails the job under that operator's name.
  size_t key_hash(const T& x) {
    try {
      return key_->hash(x);
    } catch (const std::exception& e) {
      throw OperatorFailure(ctx_->operator_name(), ctx_->index(),
                            std::string("its key selector (key_by) threw: ") + e.what());
    } catch (...) {
      throw OperatorFailure(ctx_->operator_name(), ctx_->index(),
                            "its key selector (key_by) threw an unknown exception");
    }
  }

  void append(size_t i, T&& x) {
    auto& b = buffers_[i];
    if (!stamps_.empty()) stamps_[i].push_back(setup_.time->record_timestamp);
    if constexpr (fixed_footprint<T>) {
      b.push_back(std::move(x));
      if (b.size() >= setup_.batch_size) ship(i);
    } else {
      const size_t bytes = footprint(x);
      if (bytes > setup_.record_max_bytes)
        throw OperatorFailure(ctx_->operator_name(), ctx_->index(),
                              "a record of " + std::to_string(bytes) +
                                  " bytes exceeds record.max_bytes (" +
                                  std::to_string(setup_.record_max_bytes) + ")");
      b.push_back(std::move(x));
      bytes_[i] += bytes;
      if (b.size() >= setup_.batch_size || bytes_[i] >= setup_.batch_bytes) ship(i);
    }
  }

  void ship(size_t i) {
    std::vector<EventTime> stamps;
    if (!stamps_.empty()) {
      stamps = std::move(stamps_[i]);
      stamps_[i] = std::vector<EventTime>();
      stamps_[i].reserve(setup_.batch_size);
    }
    auto batch = std::make_shared<Batch<T>>(std::move(buffers_[i]), std::move(stamps));
    bytes_[i] = 0;
    buffers_[i] = std::vector<T>();
    buffers_[i].reserve(setup_.batch_size);
    setup_.transport->send(setup_.channels[i], std::move(batch));
  }

  Routing kind_;
  WriterSetup setup_;
  std::vector<std::vector<T>> buffers_;
  std::vector<size_t> bytes_;                   ///< the footprint of each buffer's records
  std::vector<std::vector<EventTime>> stamps_;  ///< per buffer, of a timestamped stream
  std::unique_ptr<KeySelector<T>> key_;
  int groups_ = 1;                     ///< key groups (hash edges)
  uint64_t group_mask_ = 0;            ///< groups - 1 when a power of two, else 0
  std::vector<uint32_t> group_owner_;  ///< by key group: the channel of its owner
  std::function<size_t(const T&, size_t)> custom_;
  size_t next_ = 0;
  const RuntimeContext* ctx_;
};

}  // namespace sage::detail
