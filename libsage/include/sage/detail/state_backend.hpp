#pragma once
/// @file state_backend.hpp
/// The heap state backend: the managed state of one operator instance, and its
/// snapshot to bytes and restore (docs/state-and-time.md).
///
/// Keyed state is kept by key group (key_groups.hpp). The keys an instance has
/// seen are interned in a `KeyDictionary<K>`, each with a dense id, so that
/// every state is a table typed on its value only, indexed by that id; the
/// current key is set once per record. A snapshot writes, per key group, the
/// group's keys and then every state's entries of the group, all through the
/// record codecs. A restore keeps the groups the instance owns, from any
/// number of snapshots: state taken at one parallelism restores at another.
/// Operator state (an operator that is not on a keyed stream) is one entry per
/// state.
///
/// Snapshot format (all integers varints unless said otherwise):
///   "SGS1" (4 bytes), max_parallelism (0: operator state), key type name,
///   group count; per group: group, key count, keys (codec of K),
///   table count; per table: name, kind (1 byte), value type name,
///     group count; per group: group, entry count, entries (the key's index in
///     its group's key list, the value's byte length, the value's codec).

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sage/codec.hpp>
#include <sage/detail/flat_key_index.hpp>
#include <sage/detail/key_groups.hpp>
#include <sage/detail/record_flow.hpp>
#include <sage/event_time.hpp>
#include <sage/state.hpp>

namespace sage::detail {

/// The id of the one entry of operator state.
inline constexpr uint32_t operator_state_id = 0;

/// Where a keyed backend finds the current key, kept by the operator's
/// `RuntimeContext`: the record being processed, the extractor of its key, and
/// a count that changes with every record (a record's address may be reused).
/// The key is looked up only when a state is used, once per record.
/// Outside a record (a timer that fires) the current key is a fixed one
/// instead: `fixed_key` (a `K` kept by the backend's dictionary) of id `fixed_id`.
struct KeySource {
  const void* record = nullptr;
  const KeyExtractorBase* extractor = nullptr;
  uint64_t seq = 0;
  const void* fixed_key = nullptr;
  uint32_t fixed_id = 0;
};

// -- keys ------------------------------------------------------------------------------

/// The keys a keyed operator instance has seen, each with a dense id.
class KeyDictionaryBase {
 public:
  virtual ~KeyDictionaryBase() = default;
  /// The ids of `group`'s keys, in the order they were first seen.
  [[nodiscard]] virtual const std::vector<uint32_t>& ids_of(int group) const = 0;
  /// Every group with a key.
  [[nodiscard]] virtual std::vector<int> groups() const = 0;
  /// Writes the keys of `ids` (of one group), in that order.
  virtual void write_keys(const std::vector<uint32_t>& ids, ByteWriter& w) const = 0;
  /// Reads `n` keys of `group` as `write_keys` wrote them; returns their ids here.
  virtual std::vector<uint32_t> read_keys(int group, size_t n, ByteReader& r) = 0;
  /// Reads `n` keys and forgets them (a group another instance owns).
  virtual void skip_keys(size_t n, ByteReader& r) const = 0;
  [[nodiscard]] virtual std::string key_type() const = 0;
  /// The key of `id`, a `K`.
  [[nodiscard]] virtual const void* key_address(uint32_t id) const = 0;
};

/// Ids are found through a `FlatKeyIndex`, from the key's mixed hash (the one
/// that also gives its key group): every record whose operator uses keyed
/// state pays that lookup.
template <class K>
class KeyDictionary final : public KeyDictionaryBase {
 public:
  /// The id of `key`, of key group `group`: given one when first seen.
  uint32_t intern(const K& key, int group) { return intern(key, group, key_index_hash(key)); }
  /// The same, `hash` being `key_index_hash(key)`.
  uint32_t intern(const K& key, int group, uint64_t hash) {
    const uint32_t found = index_.find(key, hash, key_of());
    if (found != FlatKeyIndex<K>::none) return found;
    const auto id = static_cast<uint32_t>(keys_.size());  // the key first, then the index
    keys_.push_back(key);
    by_group_[group].push_back(id);
    index_.find_or_add(key, hash, id, key_of());
    return id;
  }
  [[nodiscard]] const K& key(uint32_t id) const { return keys_.at(id); }
  [[nodiscard]] size_t size() const { return keys_.size(); }

  [[nodiscard]] const std::vector<uint32_t>& ids_of(int group) const override {
    static const std::vector<uint32_t> none;
    auto it = by_group_.find(group);
    return it == by_group_.end() ? none : it->second;
  }
  [[nodiscard]] std::vector<int> groups() const override {
    std::vector<int> out;
    for (const auto& [g, ids] : by_group_) out.push_back(g);
    return out;
  }
  void write_keys(const std::vector<uint32_t>& ids, ByteWriter& w) const override {
    if constexpr (has_codec<K>) {
      for (uint32_t id : ids) Codec<K>::encode(w, keys_.at(id));
    } else {
      throw std::logic_error("the key type " + key_type() +
                             " has no codec: its keyed state cannot be snapshotted");
    }
  }
  std::vector<uint32_t> read_keys(int group, size_t n, ByteReader& r) override {
    std::vector<uint32_t> ids;
    if constexpr (has_codec<K>) {
      ids.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        K key{};
        Codec<K>::decode(r, key);
        ids.push_back(intern(key, group));
      }
    } else {
      throw std::logic_error("the key type " + key_type() +
                             " has no codec: its keyed state cannot be restored");
    }
    return ids;
  }
  void skip_keys(size_t n, ByteReader& r) const override {
    if constexpr (has_codec<K>) {
      for (size_t i = 0; i < n; ++i) {
        K key{};
        Codec<K>::decode(r, key);
      }
    } else {
      throw std::logic_error("the key type " + key_type() +
                             " has no codec: its keyed state cannot be restored");
    }
  }
  [[nodiscard]] std::string key_type() const override { return type_name(typeid(K)); }
  [[nodiscard]] const void* key_address(uint32_t id) const override { return &keys_.at(id); }

 private:
  [[nodiscard]] auto key_of() const {
    return [this](uint32_t id) -> const K& { return keys_[id]; };
  }

  std::deque<K> keys_;  // by id; a deque, so that a key's address never changes
  FlatKeyIndex<K> index_;
  std::map<int, std::vector<uint32_t>> by_group_;
};

// -- tables ----------------------------------------------------------------------------

enum class StateKind : uint8_t { value = 1, list = 2, map = 3, timers = 4, windows = 5 };

/// One named state of an instance, untyped.
class StateTableBase {
 public:
  virtual ~StateTableBase() = default;
  [[nodiscard]] virtual StateKind kind() const = 0;
  [[nodiscard]] virtual std::string value_type() const = 0;
  /// Writes the entries of the keys `ids` (one group's, in order): their count,
  /// then each as (index in `ids`, byte length, value): an entry can be read,
  /// moved or skipped without knowing its type.
  virtual void write_entries(const std::vector<uint32_t>& ids, ByteWriter& w) const = 0;
  /// Reads what `write_entries` wrote, `ids` being the same keys' ids here.
  virtual void read_entries(const std::vector<uint32_t>& ids, ByteReader& r) = 0;
};

class StateBackend;

/// Writes entries as `write_entries` does: their count, then each as (its
/// index in the group's keys, byte length, value by its codec). `present`
/// holds (index, value) pairs.
template <class V>
void write_entry_frames(const std::vector<std::pair<size_t, const V*>>& present, ByteWriter& w) {
  w.varint(present.size());
  std::vector<uint8_t> bytes;
  for (const auto& [index, value] : present) {
    bytes.clear();
    ByteWriter one(bytes);
    Codec<V>::encode(one, *value);
    w.varint(index);
    w.varint(bytes.size());
    w.bytes(bytes.data(), bytes.size());
  }
}

/// Reads what `write_entry_frames` wrote: `each(id, value)` per entry, `ids`
/// being the group's keys' ids here. `DecodeError` on bytes that do not fit.
template <class V, class Each>
void read_entry_frames(const std::vector<uint32_t>& ids, ByteReader& r, Each&& each) {
  const size_t n = r.size();
  for (size_t i = 0; i < n; ++i) {
    const uint64_t index = r.varint();
    if (index >= ids.size()) throw DecodeError("a state entry names a key the snapshot lacks");
    const size_t length = r.size();
    ByteReader one(r.take(length), length);
    V value{};
    Codec<V>::decode(one, value);
    if (one.remaining() != 0) throw DecodeError("a state entry is longer than its value");
    each(ids[index], std::move(value));
  }
}

/// A state's entries, by key id, of stored type `S`. The user's states need a
/// codec for `S` (a compile error otherwise: `StateBackend::value_state`); the
/// runtime's own (window accumulators of the user's type) may lack one, and
/// then cannot be snapshotted (an error that says so).
template <class S, StateKind Kind>
class HeapTable : public StateTableBase {
 public:
  explicit HeapTable(const StateBackend& backend) : backend_(&backend) {}
  [[nodiscard]] StateKind kind() const override { return Kind; }
  [[nodiscard]] std::string value_type() const override { return type_name(typeid(S)); }
  void write_entries(const std::vector<uint32_t>& ids, ByteWriter& w) const override {
    if constexpr (has_codec<S>)
      write_with_codec(ids, w);
    else
      throw std::logic_error("state of type " + value_type() +
                             " has no codec: it cannot be snapshotted (sage/codec.hpp)");
  }
  void read_entries(const std::vector<uint32_t>& ids, ByteReader& r) override {
    if constexpr (has_codec<S>)
      read_with_codec(ids, r);
    else
      throw std::logic_error("state of type " + value_type() +
                             " has no codec: it cannot be restored (sage/codec.hpp)");
  }

  /// The current key's entry, or null.
  [[nodiscard]] const S* find() const;
  [[nodiscard]] S* find_mutable();
  /// The current key's entry, made if absent.
  S& get_or_create();
  void erase();
  /// The entry of key `id`, or null.
  [[nodiscard]] S* find_id(uint32_t id) {
    auto it = entries_.find(id);
    return it == entries_.end() ? nullptr : &it->second;
  }
  void erase_id(uint32_t id) { entries_.erase(id); }

 private:
  void write_with_codec(const std::vector<uint32_t>& ids, ByteWriter& w) const {
    std::vector<std::pair<size_t, const S*>> present;
    for (size_t i = 0; i < ids.size(); ++i)
      if (auto it = entries_.find(ids[i]); it != entries_.end())
        present.emplace_back(i, &it->second);
    write_entry_frames(present, w);
  }
  void read_with_codec(const std::vector<uint32_t>& ids, ByteReader& r) {
    read_entry_frames<S>(ids, r, [&](uint32_t id, S&& value) { entries_[id] = std::move(value); });
  }

 protected:
  std::unordered_map<uint32_t, S> entries_;
  const StateBackend* backend_;
};

template <class T>
class HeapValueState final : public HeapTable<T, StateKind::value>, public ValueState<T> {
 public:
  using HeapTable<T, StateKind::value>::HeapTable;
  [[nodiscard]] std::optional<T> value() const override {
    const T* v = this->find();
    return v ? std::optional<T>(*v) : std::nullopt;
  }
  void update(T value) override { this->get_or_create() = std::move(value); }
  void clear() override { this->erase(); }
};

template <class T>
class HeapListState final : public HeapTable<std::vector<T>, StateKind::list>, public ListState<T> {
 public:
  using HeapTable<std::vector<T>, StateKind::list>::HeapTable;
  void add(T value) override { this->get_or_create().push_back(std::move(value)); }
  [[nodiscard]] std::vector<T> get() const override {
    const auto* v = this->find();
    return v ? *v : std::vector<T>{};
  }
  void update(std::vector<T> values) override {
    if (values.empty())
      this->erase();
    else
      this->get_or_create() = std::move(values);
  }
  void clear() override { this->erase(); }
};

template <class K, class V>
class HeapMapState final : public HeapTable<std::unordered_map<K, V, KeyHash<K>>, StateKind::map>,
                           public MapState<K, V> {
 public:
  using Map = std::unordered_map<K, V, KeyHash<K>>;
  using HeapTable<Map, StateKind::map>::HeapTable;
  [[nodiscard]] std::optional<V> get(const K& key) const override {
    const Map* m = this->find();
    if (!m) return std::nullopt;
    auto it = m->find(key);
    return it == m->end() ? std::nullopt : std::optional<V>(it->second);
  }
  void put(K key, V value) override { this->get_or_create()[std::move(key)] = std::move(value); }
  void remove(const K& key) override {
    if (const Map* m = this->find(); m && m->count(key)) {
      auto& mine = this->get_or_create();
      mine.erase(key);
      if (mine.empty()) this->erase();
    }
  }
  [[nodiscard]] bool contains(const K& key) const override {
    const Map* m = this->find();
    return m && m->count(key) > 0;
  }
  [[nodiscard]] std::vector<std::pair<K, V>> entries() const override {
    const Map* m = this->find();
    return m ? std::vector<std::pair<K, V>>(m->begin(), m->end()) : std::vector<std::pair<K, V>>{};
  }
  void clear() override { this->erase(); }
};

/// Timers of a keyed instance (`TimerService`): per key its timers, and per
/// time domain one queue by time, so that the due ones pop in order. One timer
/// per key, domain and time. Kept as a state, so that snapshots cover them.
class HeapTimers final
    : public HeapTable<std::vector<std::pair<int32_t, int64_t>>, StateKind::timers>,
      public TimerService {
 public:
  enum Domain : int32_t { event_time = 0, processing_time = 1 };
  using HeapTable::HeapTable;

  void at_event_time(int64_t ts) override { add(event_time, ts); }
  void at_processing_time(int64_t ts) override { add(processing_time, ts); }
  void delete_event_time(int64_t ts) override { remove(event_time, ts); }
  void delete_processing_time(int64_t ts) override { remove(processing_time, ts); }

  /// Registers a timer of the current key.
  void add(Domain d, int64_t ts);
  void remove(Domain d, int64_t ts);
  /// The earliest timer of `d`, if any.
  [[nodiscard]] std::optional<int64_t> next(Domain d) const {
    const auto& q = queue_[d];
    return q.empty() ? std::nullopt : std::optional<int64_t>(q.begin()->first);
  }
  /// Removes and returns the earliest timer of `d` due at `now` (time <= now):
  /// its time and key id.
  std::optional<std::pair<int64_t, uint32_t>> pop_due(Domain d, int64_t now);

  void read_entries(const std::vector<uint32_t>& ids, ByteReader& r) override;

 private:
  std::set<std::pair<int64_t, uint32_t>> queue_[2];
};

// -- the backend -----------------------------------------------------------------------

class StateBackend {
 public:
  /// Operator state: one entry per state.
  StateBackend() = default;

  /// Keyed state of keys `K`, for the instance that owns `groups` of `max_parallelism`.
  template <class K>
  static std::unique_ptr<StateBackend> keyed(int max_parallelism, KeyGroupRange groups) {
    auto b = std::make_unique<StateBackend>();
    b->max_parallelism_ = max_parallelism;
    b->groups_ = groups;
    b->keys_ = std::make_unique<KeyDictionary<K>>();
    return b;
  }

  [[nodiscard]] bool keyed() const { return keys_ != nullptr; }
  [[nodiscard]] KeyGroupRange key_groups() const { return groups_; }

  /// The key of the record being processed, from now until `clear_current_key`.
  /// `K` is the backend's key type; its group must be one this instance owns.
  template <class K>
  void set_current_key(const K& key) {
    const uint64_t hash = key_index_hash(key);
    const int group = key_group_of(hash, max_parallelism_);
    if (!groups_.contains(group))
      throw std::logic_error("a key of key group " + std::to_string(group) +
                             " reached the instance of groups " + std::to_string(groups_.first) +
                             ".." + std::to_string(groups_.last));
    current_ = static_cast<KeyDictionary<K>&>(*keys_).intern(key, group, hash);
    has_current_ = true;
  }
  void clear_current_key() { has_current_ = false; }

  /// From now on the current key is that of `source`'s record (the operator's
  /// context), instead of one set by `set_current_key`.
  void follow(const KeySource* source) { source_ = source; }

  /// The entry the handles read and write now: the current key's (keyed state)
  /// or the one entry of operator state.
  [[nodiscard]] uint32_t current() const {
    if (!keyed()) return operator_state_id;
    if (source_ != nullptr) {
      if (source_->fixed_key != nullptr) return source_->fixed_id;
      if (source_->record == nullptr || source_->extractor == nullptr) {
        has_current_ = false;
      } else if (!has_current_ || source_->seq != resolved_seq_) {
        source_->extractor->set_current_key(const_cast<StateBackend&>(*this), source_->record);
        resolved_seq_ = source_->seq;
      }
    }
    if (!has_current_)
      throw std::logic_error("keyed state is there only while a record is processed");
    return current_;
  }

  template <class T>
  ValueState<T>& value_state(const std::string& name) {
    static_assert(has_codec<T>,
                  "a state's type needs a codec (sage/codec.hpp): state is snapshotted through it");
    return table<HeapValueState<T>>(name);
  }
  template <class T>
  ListState<T>& list_state(const std::string& name) {
    static_assert(has_codec<T>,
                  "a state's type needs a codec (sage/codec.hpp): state is snapshotted through it");
    return table<HeapListState<T>>(name);
  }
  template <class K2, class V>
  MapState<K2, V>& map_state(const std::string& name) {
    static_assert(has_codec<K2> && has_codec<V>,
                  "a state's type needs a codec (sage/codec.hpp): state is snapshotted through it");
    return table<HeapMapState<K2, V>>(name);
  }
  /// The instance's timers (a state named "sage.timers"; names starting with
  /// "sage." are the runtime's).
  HeapTimers& timers() {
    if (timers_ == nullptr) timers_ = &table<HeapTimers>("sage.timers");
    return *timers_;
  }
  /// A state of the runtime's own (window contents): `Table` is a `HeapTable`.
  template <class Table>
  Table& internal_table(const std::string& name) {
    return table<Table>(name);
  }
  /// The key of id `id` (a `K` of the backend's key type).
  [[nodiscard]] const void* key_address(uint32_t id) const { return keys_->key_address(id); }

  /// Every state of the instance, as bytes.
  [[nodiscard]] std::vector<uint8_t> snapshot() const;
  /// Adds what `snapshot` wrote: of keyed state, the key groups this instance
  /// owns (the others are skipped), so that several snapshots of another
  /// parallelism restore into one instance. A state not yet asked for waits in
  /// its bytes until a handle asks for it. Throws `DecodeError` on bytes that
  /// are not a snapshot, `std::logic_error` when they do not fit this backend.
  void restore(const std::vector<uint8_t>& snapshot);

 private:
  struct Pending {  // a state's entries of one group, restored before it was asked for
    int group = 0;
    std::vector<uint32_t> ids;   // the group's keys, by index in `bytes`
    std::vector<uint8_t> bytes;  // as `write_entries` writes them
  };
  struct Restored {
    StateKind kind;
    std::string value_type;
    std::vector<Pending> groups;
  };

  template <class Table>
  Table& table(const std::string& name) {
    auto it = tables_.find(name);
    if (it == tables_.end()) {
      auto made = std::make_unique<Table>(*this);
      auto* typed = made.get();
      if (auto p = pending_.find(name); p != pending_.end()) {
        check_fits(name, *typed, p->second.kind, p->second.value_type);
        for (const auto& g : p->second.groups) {
          ByteReader r(g.bytes.data(), g.bytes.size());
          typed->read_entries(g.ids, r);
        }
        pending_.erase(p);
      }
      tables_.emplace(name, std::move(made));
      return *typed;
    }
    auto* typed = dynamic_cast<Table*>(it->second.get());
    if (typed == nullptr)
      throw std::logic_error("state '" + name + "' is a " + it->second->value_type() +
                             " state of another kind or type");
    return *typed;
  }
  static void check_fits(const std::string& name, const StateTableBase& table, StateKind kind,
                         const std::string& value_type);

  int max_parallelism_ = 0;
  KeyGroupRange groups_{0, 0};
  std::unique_ptr<KeyDictionaryBase> keys_;
  mutable uint32_t current_ = 0;
  mutable bool has_current_ = false;
  const KeySource* source_ = nullptr;
  mutable uint64_t resolved_seq_ = 0;
  std::map<std::string, std::unique_ptr<StateTableBase>> tables_;
  std::map<std::string, Restored> pending_;
  HeapTimers* timers_ = nullptr;
};

template <class S, StateKind Kind>
const S* HeapTable<S, Kind>::find() const {
  auto it = entries_.find(backend_->current());
  return it == entries_.end() ? nullptr : &it->second;
}
template <class S, StateKind Kind>
S* HeapTable<S, Kind>::find_mutable() {
  auto it = entries_.find(backend_->current());
  return it == entries_.end() ? nullptr : &it->second;
}
template <class S, StateKind Kind>
S& HeapTable<S, Kind>::get_or_create() {
  return entries_[backend_->current()];
}
template <class S, StateKind Kind>
void HeapTable<S, Kind>::erase() {
  entries_.erase(backend_->current());
}

}  // namespace sage::detail
