#pragma once
/// @file flat_key_index.hpp
/// Keys to the order they were added in (0, 1, 2, ...), by open addressing:
/// the lookup every record of a keyed operator makes, in the key dictionary of
/// its state backend and in the panes of its windows.

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include <sage/detail/record_flow.hpp>

namespace sage::detail {

/// The hash the index probes with: the one key groups are taken from.
template <class K>
uint64_t key_index_hash(const K& key) {
  return mix_hash(KeyHash<K>{}(key));
}

/// A table of cells at most half full, probed linearly from the key's hash
/// mixed once more (its low bits are its key group's, alike within an
/// instance). Each cell holds the key's number and the hash's high half, so
/// that most mismatches are found without the key; small plain keys (numbers,
/// mostly) are in the cell too, so that a lookup reads one cell and nothing
/// else. Other keys are where the owner keeps them: `key_of(n)` gives the key
/// numbered `n`. Keys are never removed.
template <class K>
class FlatKeyIndex {
 public:
  static constexpr uint32_t none = UINT32_MAX;

  /// The number of `key` (of hash `key_index_hash(key)`), or `none`.
  template <class KeyOf>
  [[nodiscard]] uint32_t find(const K& key, uint64_t hash, const KeyOf& key_of) const {
    if (cells_.empty()) return none;
    const auto tag = static_cast<uint32_t>(hash >> 32);
    for (size_t i = home(hash);; i = (i + 1) & mask_) {
      const Cell& c = cells_[i];
      if (c.n == none) return none;
      if (c.tag == tag && c.holds(key, key_of)) return c.n;
    }
  }

  /// The number of `key`; if absent, it is added as number `next` (the count
  /// of keys so far), which is returned. `key_of(n)` is asked only for keys
  /// already in the table; owners store the key before they add it, so that
  /// a throw between the two leaves no number without a key.
  template <class KeyOf>
  uint32_t find_or_add(const K& key, uint64_t hash, uint32_t next, const KeyOf& key_of) {
    if ((size_t{next} + 1) * 2 > cells_.size()) grow(next, key_of);
    const auto tag = static_cast<uint32_t>(hash >> 32);
    size_t i = home(hash);
    for (;; i = (i + 1) & mask_) {
      const Cell& c = cells_[i];
      if (c.n == none) break;
      if (c.tag == tag && c.holds(key, key_of)) return c.n;
    }
    cells_[i] = Cell::of(next, tag, key);
    return next;
  }

 private:
  static constexpr bool inline_keys =
      std::is_trivially_copyable_v<K> && sizeof(K) <= 8 && std::is_default_constructible_v<K>;
  struct Numbered {
    uint32_t n = none;
    uint32_t tag = 0;
  };
  struct CellWithKey : Numbered {
    K key{};
    static CellWithKey of(uint32_t n, uint32_t tag, const K& key) { return {{n, tag}, key}; }
    template <class KeyOf>
    [[nodiscard]] bool holds(const K& k, const KeyOf&) const {
      return key == k;
    }
    template <class KeyOf>
    [[nodiscard]] const K& stored(const KeyOf&) const {
      return key;
    }
  };
  struct CellWithoutKey : Numbered {
    static CellWithoutKey of(uint32_t n, uint32_t tag, const K&) { return {{n, tag}}; }
    template <class KeyOf>
    [[nodiscard]] bool holds(const K& k, const KeyOf& key_of) const {
      return key_of(this->n) == k;
    }
    template <class KeyOf>
    [[nodiscard]] decltype(auto) stored(const KeyOf& key_of) const {
      return key_of(this->n);
    }
  };
  using Cell = std::conditional_t<inline_keys, CellWithKey, CellWithoutKey>;

  [[nodiscard]] size_t home(uint64_t hash) const {
    return static_cast<size_t>((hash * 0x9E3779B97F4A7C15ULL) >> shift_);
  }
  /// Room for `count` + 1 keys, at most half full.
  template <class KeyOf>
  void grow(uint32_t count, const KeyOf& key_of) {
    size_t capacity = cells_.empty() ? 16 : cells_.size();
    while ((size_t{count} + 1) * 2 > capacity) capacity *= 2;
    std::vector<Cell> old = std::move(cells_);
    cells_.assign(capacity, Cell{});
    mask_ = capacity - 1;
    shift_ = 64;
    for (size_t c = capacity; c > 1; c >>= 1) --shift_;
    for (const Cell& c : old) {
      if (c.n == none) continue;
      size_t i = home(key_index_hash<K>(c.stored(key_of)));
      while (cells_[i].n != none) i = (i + 1) & mask_;
      cells_[i] = c;
    }
  }

  std::vector<Cell> cells_;
  size_t mask_ = 0;
  int shift_ = 64;
};

}  // namespace sage::detail
