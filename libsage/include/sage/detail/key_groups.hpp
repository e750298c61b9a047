#pragma once
/// @file key_groups.hpp
/// Key groups, as Flink assigns them (`KeyGroupRangeAssignment`): a keyed
/// stream is partitioned by key group, the key's hash modulo
/// `state.max_parallelism` (default 128), and each instance of the keyed
/// operator owns one contiguous range of groups. Keyed state is kept by key
/// group, so that state taken at one parallelism can be restored at another by
/// handing whole groups to their new owners, without rehashing a key.
///
///   groups  0 ........ 42 | 43 ........ 85 | 86 ....... 127     max_parallelism 128
///   owner   instance 0    | instance 1     | instance 2         parallelism 3

#include <cstdint>

namespace sage::detail {

/// `state.max_parallelism` unless the config says otherwise; also the most
/// instances a keyed operator may have.
inline constexpr int default_max_parallelism = 128;
/// The largest `state.max_parallelism` accepted (Flink's bound too).
inline constexpr int max_max_parallelism = 32768;

/// The key group of a key whose (well mixed) hash is `key_hash`. (A power of
/// two, as the default is, takes a mask instead of a division: every record
/// of a keyed stream asks, twice.)
constexpr int key_group_of(uint64_t key_hash, int max_parallelism) {
  const auto n = static_cast<uint64_t>(max_parallelism);
  return static_cast<int>((n & (n - 1)) == 0 ? key_hash & (n - 1) : key_hash % n);
}

/// The instance, of `parallelism`, that owns key group `group`.
constexpr int owner_of_key_group(int group, int max_parallelism, int parallelism) {
  return static_cast<int>(int64_t{group} * parallelism / max_parallelism);
}

/// The key groups one instance owns: `first` to `last`, both included.
struct KeyGroupRange {
  int first = 0;
  int last = -1;
  [[nodiscard]] constexpr bool contains(int group) const { return group >= first && group <= last; }
  [[nodiscard]] constexpr int size() const { return last - first + 1; }
};

/// The key groups instance `instance` of `parallelism` owns (the inverse of
/// `owner_of_key_group`).
constexpr KeyGroupRange key_groups_of(int instance, int max_parallelism, int parallelism) {
  const int64_t first = (int64_t{instance} * max_parallelism + parallelism - 1) / parallelism;
  const int64_t last = ((int64_t{instance} + 1) * max_parallelism - 1) / parallelism;
  return KeyGroupRange{static_cast<int>(first), static_cast<int>(last)};
}

}  // namespace sage::detail
