#pragma once
/// @file key_selector.hpp
/// `TypedKeySelector`: the user's `key_by` function, as the router of a hash
/// edge, the key of `ctx().key<K>()`, and the maker of the keyed state of the
/// operator it feeds.

#include <memory>
#include <utility>

#include <sage/detail/record_flow.hpp>
#include <sage/detail/state_backend.hpp>

namespace sage::detail {

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
  [[nodiscard]] std::unique_ptr<StateBackend> make_state_backend(
      int max_parallelism, const KeyGroupRange& groups) const override {
    return StateBackend::keyed<K>(max_parallelism, groups);
  }
  void set_current_key(StateBackend& backend, const void* record) const override {
    backend.set_current_key(extract(record));
  }

 private:
  mutable F f_;
};

}  // namespace sage::detail
