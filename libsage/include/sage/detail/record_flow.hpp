#pragma once
/// @file record_flow.hpp
/// How records move inside one task: every operator instance consumes records
/// through `Output<T>::push` and hands its results to a `FanOut<T>`, which calls
/// the chained operators and channel writers that follow it. Between tasks,
/// records travel as `Batch<T>` objects behind a `BatchPtr`.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace sage::detail {

/// Something that consumes records of type `T`: an operator instance or a
/// channel writer. One virtual call per record and hop.
template <class T>
class Output {
 public:
  virtual ~Output() = default;
  virtual void push(T&& record) = 0;
};

/// The consumers that follow one operator. The common case (one consumer)
/// moves the record; further consumers get copies.
template <class T>
class FanOut {
 public:
  void add(Output<T>* target) { targets_.push_back(target); }
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
  std::vector<Output<T>*> targets_;
};

/// A batch of records in memory. The runtime moves batches between tasks without
/// looking inside; only the typed ends (`ChannelWriter<T>`, `InputPort<T>`) know `T`.
class BatchBase {
 public:
  virtual ~BatchBase() = default;
  [[nodiscard]] virtual size_t size() const = 0;
};

template <class T>
class Batch final : public BatchBase {
 public:
  explicit Batch(std::vector<T>&& records) : records(std::move(records)) {}
  [[nodiscard]] size_t size() const override { return records.size(); }
  std::vector<T> records;
};

using BatchPtr = std::shared_ptr<BatchBase>;

/// Reads the current key of a keyed stream from the record being processed
/// (`RuntimeContext::key<K>()`); typed on the key only.
class KeyExtractorBase {
 public:
  virtual ~KeyExtractorBase() = default;
  /// A copy for one operator instance (a key selector may keep state).
  [[nodiscard]] virtual std::unique_ptr<KeyExtractorBase> clone_extractor() const = 0;
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

/// Picks the downstream instance of a keyed record; also serves `ctx().key<K>()`.
template <class T>
class KeySelector {
 public:
  virtual ~KeySelector() = default;
  [[nodiscard]] virtual size_t hash(const T& record) const = 0;
  /// A copy for one writer: the user's selector is copied per instance.
  [[nodiscard]] virtual std::unique_ptr<KeySelector<T>> clone_selector() const = 0;
};

/// The user's key selector `F` (`K(const T&)`), both as the writer's router and
/// as the downstream context's key extractor. Each instance uses its own copy,
/// so a selector may keep state (a `mutable` lambda).
template <class T, class K, class F>
class TypedKeySelector final : public KeySelector<T>, public KeyExtractor<K> {
 public:
  explicit TypedKeySelector(F f) : f_(std::move(f)) {}
  [[nodiscard]] size_t hash(const T& record) const override {
    return mix_hash(KeyHash<K>{}(f_(record)));
  }
  K extract(const void* record) const override { return f_(*static_cast<const T*>(record)); }
  [[nodiscard]] std::unique_ptr<KeySelector<T>> clone_selector() const override {
    return std::make_unique<TypedKeySelector>(f_);
  }
  [[nodiscard]] std::unique_ptr<KeyExtractorBase> clone_extractor() const override {
    return std::make_unique<TypedKeySelector>(f_);
  }

 private:
  mutable F f_;
};

}  // namespace sage::detail
