// The heap state backend: keyed state per key, snapshot and restore, also into
// another parallelism (key groups handed to their new owners), operator state,
// snapshots that are not ones, and the panes of aligned windows.

#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <sage/detail/state_backend.hpp>
#include <sage/detail/window_state.hpp>

using namespace sage::detail;

namespace {

constexpr int max_p = 128;

int owner(int key, int parallelism) {
  const int group = key_group_of(mix_hash(KeyHash<int>{}(key)), max_p);
  return owner_of_key_group(group, max_p, parallelism);
}

/// Writes three states for `key`, derived from it.
void write_key(StateBackend& b, int key) {
  b.set_current_key(key);
  b.value_state<int64_t>("sum").update(int64_t{key} * 2);
  b.list_state<std::string>("seen").add("a" + std::to_string(key));
  b.list_state<std::string>("seen").add("b");
  b.map_state<std::string, int>("counts").put("k" + std::to_string(key % 7), key);
  b.clear_current_key();
}

/// Checks the three states of `key` are what `write_key` wrote.
void check_key(StateBackend& b, int key) {
  CAPTURE(key);
  b.set_current_key(key);
  CHECK(b.value_state<int64_t>("sum").value() == int64_t{key} * 2);
  CHECK(b.list_state<std::string>("seen").get() ==
        std::vector<std::string>{"a" + std::to_string(key), "b"});
  const auto entries = b.map_state<std::string, int>("counts").entries();
  REQUIRE(entries.size() == 1);
  CHECK(entries[0] == std::make_pair("k" + std::to_string(key % 7), key));
  b.clear_current_key();
}

}  // namespace

TEST_CASE("state backend: each key sees its own state") {
  auto b = StateBackend::keyed<int>(max_p, key_groups_of(0, max_p, 1));
  for (int k = 0; k < 1000; ++k) write_key(*b, k);
  for (int k = 0; k < 1000; ++k) check_key(*b, k);
  b->set_current_key(5);
  b->value_state<int64_t>("sum").clear();
  CHECK_FALSE(b->value_state<int64_t>("sum").value());
  CHECK(b->map_state<std::string, int>("counts").contains("k5"));
  b->map_state<std::string, int>("counts").remove("k5");
  CHECK_FALSE(b->map_state<std::string, int>("counts").contains("k5"));
  b->set_current_key(6);
  CHECK(b->value_state<int64_t>("sum").value() == 12);  // untouched by key 5's changes
  b->clear_current_key();
  CHECK_THROWS_WITH_AS(b->value_state<int64_t>("sum").value(),
                       doctest::Contains("only while a record is processed"), std::logic_error);
}

TEST_CASE("state backend: a snapshot restores every state, also one not asked for yet") {
  auto b = StateBackend::keyed<int>(max_p, key_groups_of(0, max_p, 1));
  for (int k = 0; k < 300; ++k) write_key(*b, k);
  const auto bytes = b->snapshot();

  auto restored = StateBackend::keyed<int>(max_p, key_groups_of(0, max_p, 1));
  restored->restore(bytes);
  // Snapshotted again before any state was asked for: nothing is lost on the way.
  auto again = StateBackend::keyed<int>(max_p, key_groups_of(0, max_p, 1));
  again->restore(restored->snapshot());
  for (int k = 0; k < 300; ++k) {
    check_key(*restored, k);
    check_key(*again, k);
  }
  CHECK(again->snapshot() == restored->snapshot());
}

TEST_CASE("state backend: state taken at parallelism 3 restores at 5, each key at its owner") {
  std::vector<std::vector<uint8_t>> snapshots;
  for (int i = 0; i < 3; ++i) {
    auto b = StateBackend::keyed<int>(max_p, key_groups_of(i, max_p, 3));
    for (int k = 0; k < 1000; ++k)
      if (owner(k, 3) == i) write_key(*b, k);
    snapshots.push_back(b->snapshot());
  }
  for (int j = 0; j < 5; ++j) {
    auto b = StateBackend::keyed<int>(max_p, key_groups_of(j, max_p, 5));
    for (const auto& s : snapshots) b->restore(s);
    for (int k = 0; k < 1000; ++k) {
      if (owner(k, 5) == j)
        check_key(*b, k);
      else
        CHECK_THROWS_AS(b->set_current_key(k), std::logic_error);  // another instance's key
    }
  }
}

TEST_CASE("state backend: operator state is one entry per state") {
  StateBackend b;
  b.value_state<std::string>("offset").update("line 42");
  b.list_state<int>("pending").update({1, 2, 3});
  StateBackend restored;
  restored.restore(b.snapshot());
  CHECK(restored.value_state<std::string>("offset").value() == "line 42");
  CHECK(restored.list_state<int>("pending").get() == std::vector<int>{1, 2, 3});
  auto keyed = StateBackend::keyed<int>(max_p, key_groups_of(0, max_p, 1));
  CHECK_THROWS_AS(keyed->restore(b.snapshot()), std::logic_error);
}

TEST_CASE(
    "state backend: what does not fit is refused with a reason, bytes that are no "
    "snapshot too") {
  auto b = StateBackend::keyed<int>(max_p, key_groups_of(0, max_p, 1));
  for (int k = 0; k < 20; ++k) write_key(*b, k);
  const auto bytes = b->snapshot();

  auto other_groups = StateBackend::keyed<int>(64, key_groups_of(0, 64, 1));
  CHECK_THROWS_WITH_AS(other_groups->restore(bytes), doctest::Contains("state.max_parallelism"),
                       std::logic_error);
  auto other_keys = StateBackend::keyed<std::string>(max_p, key_groups_of(0, max_p, 1));
  CHECK_THROWS_AS(other_keys->restore(bytes), std::logic_error);
  auto other_type = StateBackend::keyed<int>(max_p, key_groups_of(0, max_p, 1));
  other_type->restore(bytes);
  other_type->set_current_key(1);
  CHECK_THROWS_WITH_AS(other_type->value_state<std::string>("sum"),
                       doctest::Contains("was written as"), std::logic_error);

  // Every truncation and a flipped byte at every position: an error, never a crash.
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto cut = std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(n));
    auto fresh = StateBackend::keyed<int>(max_p, key_groups_of(0, max_p, 1));
    CHECK_THROWS(fresh->restore(cut));
  }
  for (size_t i = 0; i < bytes.size(); i += 3) {
    auto flipped = bytes;
    flipped[i] ^= 0x5a;
    auto fresh = StateBackend::keyed<int>(max_p, key_groups_of(0, max_p, 1));
    try {
      fresh->restore(flipped);  // may still decode (a changed value): fine, if it does not crash
    } catch (const std::exception&) {
    }
  }
}

// -- window panes ---------------------------------------------------------------------

namespace {

using Panes = PaneTable<int, int64_t>;

/// Adds key `key` to the pane of `w` with accumulator `acc`, fired or not.
void put_pane(StateBackend& b, Panes& panes, const sage::Window& w, int key, int64_t acc,
              bool fired) {
  b.set_current_key(key);
  auto& p = panes.pane(w, fired);
  const uint32_t slot = panes.slot_for(
      p, key, key_index_hash(key), [] { return int64_t{0}; }, [&] { return b.current(); });
  p.accs[slot] = acc;
  p.fired_slots[slot] = fired ? 1 : 0;
  b.clear_current_key();
}

/// Key k has records in the windows [w * 10, w * 10 + 10) for w in 0..k % 4,
/// its accumulator there k * 100 + w; the first window has fired.
void write_panes(StateBackend& b, Panes& panes, int key) {
  for (int w = 0; w <= key % 4; ++w)
    put_pane(b, panes, sage::Window{w * 10, w * 10 + 10}, key, int64_t{key} * 100 + w, w < 1);
}

void check_panes(Panes& panes, int key) {
  CAPTURE(key);
  int windows = 0;
  for (auto& [order, p] : panes.panes()) {
    const uint32_t slot = panes.slot_of(p, key);
    const int w = static_cast<int>(p.window.start / 10);
    CHECK(p.window.end == p.window.start + 10);
    CHECK(p.fired == (w < 1));
    if (w <= key % 4) {
      REQUIRE(slot != FlatKeyIndex<int>::none);
      CHECK(p.accs[slot] == int64_t{key} * 100 + w);
      CHECK(p.fired_slots[slot] == (w < 1 ? 1 : 0));
      CHECK(panes.key(p.ids[slot]) == key);
      ++windows;
    } else {
      CHECK(slot == FlatKeyIndex<int>::none);
    }
  }
  CHECK(windows == key % 4 + 1);
}

Panes& panes_of(StateBackend& b) { return b.internal_table<Panes>("sage.windows"); }

}  // namespace

TEST_CASE("window panes: each key's windows restore at another parallelism, fired or not") {
  std::vector<std::vector<uint8_t>> snapshots;
  for (int i = 0; i < 3; ++i) {
    auto b = StateBackend::keyed<int>(max_p, key_groups_of(i, max_p, 3));
    auto& panes = panes_of(*b);
    for (int k = 0; k < 1000; ++k)
      if (owner(k, 3) == i) write_panes(*b, panes, k);
    for (int k = 0; k < 1000; ++k)
      if (owner(k, 3) == i) check_panes(panes, k);
    snapshots.push_back(b->snapshot());
  }
  for (int j = 0; j < 5; ++j) {
    auto b = StateBackend::keyed<int>(max_p, key_groups_of(j, max_p, 5));
    for (const auto& s : snapshots) b->restore(s);
    auto& panes = panes_of(*b);
    for (int k = 0; k < 1000; ++k)
      if (owner(k, 5) == j) check_panes(panes, k);
    auto again = StateBackend::keyed<int>(max_p, key_groups_of(j, max_p, 5));
    again->restore(b->snapshot());
    CHECK(again->snapshot() == b->snapshot());
  }
}

TEST_CASE("window panes: a pane with a key that has not fired is not fired") {
  // Two instances at different watermarks: one fired window [0, 10), one did not.
  auto fired = StateBackend::keyed<int>(max_p, key_groups_of(0, max_p, 2));
  auto open = StateBackend::keyed<int>(max_p, key_groups_of(1, max_p, 2));
  int a = 0, b = 1;
  while (owner(a, 2) != 0) ++a;
  while (owner(b, 2) != 1) ++b;
  put_pane(*fired, panes_of(*fired), sage::Window{0, 10}, a, 7, true);
  put_pane(*open, panes_of(*open), sage::Window{0, 10}, b, 8, false);
  auto one = StateBackend::keyed<int>(max_p, key_groups_of(0, max_p, 1));
  one->restore(fired->snapshot());
  one->restore(open->snapshot());
  auto& panes = panes_of(*one);
  REQUIRE(panes.panes().size() == 1);
  auto& p = panes.panes().begin()->second;
  CHECK_FALSE(p.fired);
  CHECK(p.fired_slots[panes.slot_of(p, a)] == 1);
  CHECK(p.fired_slots[panes.slot_of(p, b)] == 0);
  CHECK(p.accs[panes.slot_of(p, a)] == 7);
  CHECK(p.accs[panes.slot_of(p, b)] == 8);
}

TEST_CASE("flat key index: every key found among many, inline or not") {
  FlatKeyIndex<uint64_t> numbers;
  std::vector<uint64_t> added;
  auto number_of = [&](uint32_t n) -> const uint64_t& { return added.at(n); };
  for (uint64_t k = 0; k < 5000; k += 3) {
    const auto next = static_cast<uint32_t>(added.size());
    CHECK(numbers.find_or_add(k, key_index_hash(k), next, number_of) == next);
    added.push_back(k);
  }
  for (uint64_t k = 0; k < 5000; ++k)
    CHECK(numbers.find(k, key_index_hash(k), number_of) ==
          (k % 3 == 0 ? static_cast<uint32_t>(k / 3) : FlatKeyIndex<uint64_t>::none));
  FlatKeyIndex<std::string> words;
  std::vector<std::string> seen;
  auto word_of = [&](uint32_t n) -> const std::string& { return seen.at(n); };
  for (int i = 0; i < 3000; ++i) {
    const std::string w = "w" + std::to_string(i % 1000);
    const auto next = static_cast<uint32_t>(seen.size());
    const uint32_t n = words.find_or_add(w, key_index_hash(w), next, word_of);
    if (n == next) seen.push_back(w);
    CHECK(seen[n] == w);
  }
  CHECK(seen.size() == 1000);
}
