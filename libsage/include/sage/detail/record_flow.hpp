#pragma once
/// @file record_flow.hpp
/// How records move inside one task: every operator instance consumes records
/// through `Receiver<T>::push` and hands its results to a `FanOut<T>`, which calls
/// the chained operators and channel writers that follow it. Between tasks,
/// records travel as `Batch<T>` objects behind a `BatchPtr`.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <sage/codec.hpp>
#include <sage/detail/time.hpp>

namespace sage::detail {

/// Something that consumes records of type `T`: an operator instance or a
/// channel writer. One virtual call per record and hop.
template <class T>
class Receiver {
 public:
  virtual ~Receiver() = default;
  virtual void push(T&& record) = 0;
};

/// The consumers that follow one operator. The common case (one consumer)
/// moves the record; further consumers get copies.
template <class T>
class FanOut {
 public:
  void add(Receiver<T>* target) { targets_.push_back(target); }
  [[nodiscard]] size_t size() const { return targets_.size(); }

  void push(T&& x) {
    const size_t n = targets_.size();
    if (n == 1) [[likely]] {
      targets_[0]->push(std::move(x));
      return;
    }
    if (n == 0) return;
    for (size_t i = 0; i + 1 < n; ++i) {
      T copy(x);
      targets_[i]->push(std::move(copy));
    }
    targets_[n - 1]->push(std::move(x));
  }

  void push(const T& x) {
    T copy(x);
    push(std::move(copy));
  }

 private:
  std::vector<Receiver<T>*> targets_;
};

/// A batch of records. The runtime moves batches between tasks without looking
/// inside; only the typed ends (`ChannelWriter<T>`, `InputPort<T>`) know `T`.
/// Between tasks of one process a batch travels as a `Batch<T>`, never encoded;
/// when it crosses a node it is encoded as one Cap'n Proto `RecordBatch`
/// (schemas/batch.capnp) and arrives as an `EncodedBatch`.
class BatchBase {
 public:
  virtual ~BatchBase() = default;
  [[nodiscard]] virtual size_t size() const = 0;
  /// The batch as one `RecordBatch` message (a Cap'n Proto flat array). Throws
  /// `std::logic_error` when the record type has no codec.
  [[nodiscard]] virtual std::vector<uint8_t> encode() const = 0;
};

using BatchPtr = std::shared_ptr<BatchBase>;

/// A readable (demangled) name of a type, for error messages.
std::string type_name(const std::type_info& type);

/// A fingerprint of a record type: the same in every process of one program.
template <class T>
uint64_t record_type_id() {
  static const uint64_t id = [] {
    uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a of the type's mangled name
    for (const char* p = typeid(T).name(); *p != 0; ++p)
      h = (h ^ static_cast<uint8_t>(*p)) * 0x100000001b3ULL;
    return h;
  }();
  return id;
}

/// Wraps encoded records (and their event times, if the stream has them: one
/// per record, or none) into a `RecordBatch` message (wire.cpp).
std::vector<uint8_t> frame_batch(uint64_t record_type, size_t count,
                                 const std::vector<uint8_t>& records,
                                 const std::vector<EventTime>& timestamps = {});

/// The records inside a `RecordBatch` message; valid while the message is.
struct BatchView {
  uint64_t record_type = 0;
  size_t count = 0;
  const uint8_t* data = nullptr;
  size_t size = 0;
  std::vector<EventTime> timestamps;  ///< one per record, or none
};

/// A batch that arrived from another node: the `RecordBatch` message, decoded
/// by the receiving input port, which knows the record type.
class EncodedBatch final : public BatchBase {
 public:
  explicit EncodedBatch(std::vector<uint8_t> frame) : frame_(std::move(frame)) {}
  /// The record count it claims (0 if the frame is malformed: `view()` says why).
  [[nodiscard]] size_t size() const override;
  [[nodiscard]] std::vector<uint8_t> encode() const override { return frame_; }
  /// Parses the message with reader limits; throws `DecodeError` when malformed.
  [[nodiscard]] BatchView view() const;
  [[nodiscard]] const std::vector<uint8_t>& frame() const { return frame_; }

 private:
  std::vector<uint8_t> frame_;
  mutable std::vector<uint64_t> aligned_;  // a copy, if the frame is not 8-byte aligned
};

/// Records of one channel, and their event times when the stream has them
/// (`timestamps` then holds one per record; it is empty otherwise).
template <class T>
class Batch final : public BatchBase {
 public:
  explicit Batch(std::vector<T>&& records, std::vector<EventTime>&& timestamps = {})
      : records(std::move(records)), timestamps(std::move(timestamps)) {}
  [[nodiscard]] size_t size() const override { return records.size(); }
  [[nodiscard]] std::vector<uint8_t> encode() const override {
    if constexpr (has_codec<T>) {
      std::vector<uint8_t> bytes;
      encode_records(records, bytes);
      return frame_batch(record_type_id<T>(), records.size(), bytes, timestamps);
    } else {
      throw std::logic_error("record type " + type_name(typeid(T)) +
                             " has no codec: it cannot cross a node (see sage/codec.hpp)");
    }
  }
  std::vector<T> records;
  std::vector<EventTime> timestamps;
};

/// The records of a batch that arrived encoded (`view` is its parsed message);
/// throws `DecodeError` when the bytes are malformed or hold another record type.
template <class T>
std::vector<T> decode_batch(const BatchView& v) {
  if constexpr (has_codec<T>) {
    if (v.record_type != record_type_id<T>())
      throw DecodeError("a batch of another record type arrived on this channel");
    if (!v.timestamps.empty() && v.timestamps.size() != v.count)
      throw DecodeError("a batch with " + std::to_string(v.timestamps.size()) + " timestamps for " +
                        std::to_string(v.count) + " records");
    return decode_records<T>(v.data, v.size, v.count);
  } else {
    throw DecodeError("record type " + type_name(typeid(T)) + " has no codec");
  }
}
template <class T>
std::vector<T> decode_batch(const EncodedBatch& batch) {
  return decode_batch<T>(batch.view());
}

class StateBackend;
struct KeyGroupRange;

/// Reads the current key of a keyed stream from the record being processed
/// (`RuntimeContext::key<K>()`); typed on the key only.
class KeyExtractorBase {
 public:
  virtual ~KeyExtractorBase() = default;
  /// A copy for one operator instance (a key selector may keep state).
  [[nodiscard]] virtual std::unique_ptr<KeyExtractorBase> clone_extractor() const = 0;
  /// The keyed state of an instance that owns `groups`, for keys of this type.
  [[nodiscard]] virtual std::unique_ptr<StateBackend> make_state_backend(
      int max_parallelism, const KeyGroupRange& groups) const = 0;
  /// Makes `record`'s key the current key of `backend` (one made by `make_state_backend`).
  virtual void set_current_key(StateBackend& backend, const void* record) const = 0;
};

template <class K>
class KeyExtractor : public KeyExtractorBase {
 public:
  virtual K extract(const void* record) const = 0;
};

/// Mixes a 64-bit hash (murmur3's finalizer) so that identity hashes of small
/// integers, as libstdc++'s `std::hash` gives, still spread over instances.
constexpr uint64_t mix_hash(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

/// The hash of a key: `std::hash` where it exists, combined element-wise for
/// pairs and tuples. The same key gives the same value in every process built
/// from the same program, so keyed routing agrees across nodes.
template <class K, class = void>
struct KeyHash {
  size_t operator()(const K& k) const { return std::hash<K>{}(k); }
};

template <class A, class B>
struct KeyHash<std::pair<A, B>> {
  size_t operator()(const std::pair<A, B>& p) const {
    return mix_hash(KeyHash<A>{}(p.first)) ^ (KeyHash<B>{}(p.second) + 0x9e3779b97f4a7c15ULL);
  }
};

template <class... Ts>
struct KeyHash<std::tuple<Ts...>> {
  size_t operator()(const std::tuple<Ts...>& t) const {
    size_t h = 0;
    std::apply(
        [&](const auto&... e) {
          ((h = mix_hash(h ^ KeyHash<std::decay_t<decltype(e)>>{}(e))), ...);
        },
        t);
    return h;
  }
};

/// A key selector of some record type, as an edge holds it (`EdgeRouting`);
/// only the edge's typed writer casts it back to its `KeySelector<T>`.
class KeySelectorBase {
 public:
  virtual ~KeySelectorBase() = default;
};

/// Picks the downstream instance of a keyed record; also serves `ctx().key<K>()`.
template <class T>
class KeySelector : public KeySelectorBase {
 public:
  [[nodiscard]] virtual size_t hash(const T& record) const = 0;
  /// A copy for one writer: the user's selector is copied per instance.
  [[nodiscard]] virtual std::unique_ptr<KeySelector<T>> clone_selector() const = 0;
};

}  // namespace sage::detail
