#pragma once
/// @file state.hpp
/// Managed state (API.md section 5): what `ctx().value_state<T>(name)`,
/// `ctx().list_state<T>(name)` and `ctx().map_state<K, V>(name)` return. In an
/// operator on a keyed stream a handle reads and writes the state of the key of
/// the record being processed; elsewhere it is the operator instance's own.
/// State is what checkpoints snapshot and restores bring back; a function's own
/// members are not. Every state type needs a codec (sage/codec.hpp).

#include <optional>
#include <utility>
#include <vector>

namespace sage {

/// One value.
template <class T>
class ValueState {
 public:
  virtual ~ValueState() = default;
  [[nodiscard]] virtual std::optional<T> value() const = 0;
  virtual void update(T value) = 0;
  virtual void clear() = 0;
};

/// A list of values, in the order they were added.
template <class T>
class ListState {
 public:
  virtual ~ListState() = default;
  virtual void add(T value) = 0;
  [[nodiscard]] virtual std::vector<T> get() const = 0;
  virtual void update(std::vector<T> values) = 0;
  virtual void clear() = 0;
};

/// A map from `K` to `V` (in no particular order).
template <class K, class V>
class MapState {
 public:
  virtual ~MapState() = default;
  [[nodiscard]] virtual std::optional<V> get(const K& key) const = 0;
  virtual void put(K key, V value) = 0;
  virtual void remove(const K& key) = 0;
  [[nodiscard]] virtual bool contains(const K& key) const = 0;
  [[nodiscard]] virtual std::vector<std::pair<K, V>> entries() const = 0;
  virtual void clear() = 0;
};

}  // namespace sage
