#include <sage/detail/state_backend.hpp>

#include <algorithm>
#include <cstring>
#include <limits>

namespace sage::detail {

namespace {

constexpr char magic[4] = {'S', 'G', 'S', '1'};

void write_string(ByteWriter& w, const std::string& s) { Codec<std::string>::encode(w, s); }

std::string read_string(ByteReader& r) {
  std::string s;
  Codec<std::string>::decode(r, s);
  return s;
}

/// The bytes of one group's entries (as `write_entries` writes them), read
/// without knowing their type.
std::vector<uint8_t> take_entries(ByteReader& r, size_t keys) {
  const uint8_t* start = r.take(0);
  const size_t n = r.size(2);
  for (size_t i = 0; i < n; ++i) {
    if (r.varint() >= keys) throw DecodeError("a state entry names a key the snapshot lacks");
    r.take(r.size(1));
  }
  const uint8_t* end = r.take(0);
  return {start, end};
}

/// `bytes` (entries indexed into `from`), re-indexed into `to`, which holds
/// every key of `from`.
void write_reindexed(const std::vector<uint8_t>& bytes, const std::vector<uint32_t>& from,
                     const std::vector<uint32_t>& to, ByteWriter& w) {
  std::unordered_map<uint32_t, size_t> index_in_to;
  for (size_t i = 0; i < to.size(); ++i) index_in_to.emplace(to[i], i);
  ByteReader r(bytes.data(), bytes.size());
  const size_t n = r.size(2);
  w.varint(n);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t id = from.at(r.varint());
    const size_t length = r.size(1);
    w.varint(index_in_to.at(id));
    w.varint(length);
    w.bytes(r.take(length), length);
  }
}

}  // namespace

std::vector<uint8_t> StateBackend::snapshot() const {
  std::vector<uint8_t> out;
  ByteWriter w(out);
  w.bytes(magic, sizeof magic);
  w.varint(keyed() ? static_cast<uint64_t>(max_parallelism_) : 0);
  write_string(w, keyed() ? keys_->key_type() : std::string{});
  // The keys, by group; operator state has one pseudo group 0 with one entry.
  const std::vector<int> groups = keyed() ? keys_->groups() : std::vector<int>{0};
  const std::vector<uint32_t> operator_ids{operator_state_id};
  auto ids_of = [&](int g) -> const std::vector<uint32_t>& {
    return keyed() ? keys_->ids_of(g) : operator_ids;
  };
  w.varint(keyed() ? groups.size() : 0);
  if (keyed())
    for (int g : groups) {
      w.varint(static_cast<uint64_t>(g));
      w.varint(ids_of(g).size());
      keys_->write_keys(ids_of(g), w);
    }
  // The states: those asked for, and those restored but not asked for yet.
  w.varint(tables_.size() + pending_.size());
  for (const auto& [name, table] : tables_) {
    write_string(w, name);
    w.varint(static_cast<uint64_t>(table->kind()));
    write_string(w, table->value_type());
    w.varint(groups.size());
    for (int g : groups) {
      w.varint(static_cast<uint64_t>(g));
      table->write_entries(ids_of(g), w);
    }
  }
  for (const auto& [name, restored] : pending_) {
    write_string(w, name);
    w.varint(static_cast<uint64_t>(restored.kind));
    write_string(w, restored.value_type);
    w.varint(restored.groups.size());
    for (const auto& p : restored.groups) {
      w.varint(static_cast<uint64_t>(p.group));
      write_reindexed(p.bytes, p.ids, ids_of(p.group), w);
    }
  }
  return out;
}

void StateBackend::restore(const std::vector<uint8_t>& snapshot) {
  ByteReader r(snapshot.data(), snapshot.size());
  if (snapshot.size() < sizeof magic || std::memcmp(r.take(sizeof magic), magic, sizeof magic) != 0)
    throw DecodeError("not a state snapshot");
  const uint64_t max_parallelism = r.varint();
  const std::string key_type = read_string(r);
  if (keyed() != (max_parallelism != 0))
    throw std::logic_error(keyed() ? "a snapshot of operator state cannot restore keyed state"
                                   : "a snapshot of keyed state cannot restore operator state");
  if (keyed() && max_parallelism != static_cast<uint64_t>(max_parallelism_))
    throw std::logic_error("a snapshot taken with state.max_parallelism " +
                           std::to_string(max_parallelism) + " cannot be restored with " +
                           std::to_string(max_parallelism_));
  if (keyed() && key_type != keys_->key_type())
    throw std::logic_error("a snapshot of keys " + key_type + " cannot restore keys " +
                           keys_->key_type());
  // Keys: each group this instance owns gets its keys interned.
  std::map<int, std::vector<uint32_t>> ids;  // by group, in the snapshot's order
  const size_t group_count = r.size();
  for (size_t i = 0; i < group_count; ++i) {
    const uint64_t group = r.varint();
    const size_t n = r.size();
    if (group >= static_cast<uint64_t>(max_parallelism))
      throw DecodeError("a state snapshot names key group " + std::to_string(group));
    const int g = static_cast<int>(group);
    if (groups_.contains(g))
      ids[g] = keys_->read_keys(g, n, r);
    else
      keys_->skip_keys(n, r);
  }
  if (!keyed()) ids[0] = {operator_state_id};
  // States: into the table if it was asked for, else kept until it is.
  const size_t table_count = r.size();
  for (size_t t = 0; t < table_count; ++t) {
    const std::string name = read_string(r);
    const auto kind = static_cast<StateKind>(r.varint());
    const std::string value_type = read_string(r);
    auto live = tables_.find(name);
    if (live != tables_.end()) check_fits(name, *live->second, kind, value_type);
    auto pending = pending_.find(name);
    if (live == tables_.end() && pending == pending_.end())
      pending = pending_.emplace(name, Restored{kind, value_type, {}}).first;
    else if (live == tables_.end() &&
             (pending->second.kind != kind || pending->second.value_type != value_type))
      throw std::logic_error("state '" + name + "' has different types in two snapshots");
    const size_t groups = r.size();
    for (size_t i = 0; i < groups; ++i) {
      const int g = static_cast<int>(r.varint());
      auto keys = ids.find(g);
      const size_t key_count =
          keys == ids.end() ? std::numeric_limits<size_t>::max() : keys->second.size();
      auto bytes = take_entries(r, key_count);
      if (keys == ids.end()) continue;  // another instance's group
      if (live != tables_.end()) {
        ByteReader entries(bytes.data(), bytes.size());
        live->second->read_entries(keys->second, entries);
      } else {
        pending->second.groups.push_back(Pending{g, keys->second, std::move(bytes)});
      }
    }
  }
  if (r.remaining() != 0) throw DecodeError("a state snapshot has bytes after its end");
}

void StateBackend::check_fits(const std::string& name, const StateTableBase& table, StateKind kind,
                              const std::string& value_type) {
  if (table.kind() != kind || table.value_type() != value_type)
    throw std::logic_error("state '" + name + "' was written as a " + value_type +
                           " state and is read as a " + table.value_type() + " state");
}

}  // namespace sage::detail

namespace sage::detail {

void HeapTimers::add(Domain d, int64_t ts) {
  const uint32_t id = backend_->current();
  auto& mine = entries_[id];
  const std::pair<int32_t, int64_t> timer{d, ts};
  if (std::find(mine.begin(), mine.end(), timer) != mine.end()) return;  // one per key and time
  mine.push_back(timer);
  queue_[d].emplace(ts, id);
}

void HeapTimers::remove(Domain d, int64_t ts) {
  const uint32_t id = backend_->current();
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  auto& mine = it->second;
  const std::pair<int32_t, int64_t> timer{d, ts};
  auto t = std::find(mine.begin(), mine.end(), timer);
  if (t == mine.end()) return;
  mine.erase(t);
  if (mine.empty()) entries_.erase(it);
  queue_[d].erase({ts, id});
}

std::optional<std::pair<int64_t, uint32_t>> HeapTimers::pop_due(Domain d, int64_t now) {
  auto& q = queue_[d];
  if (q.empty() || q.begin()->first > now) return std::nullopt;
  const auto due = *q.begin();
  q.erase(q.begin());
  if (auto it = entries_.find(due.second); it != entries_.end()) {
    auto& mine = it->second;
    mine.erase(std::remove(mine.begin(), mine.end(), std::pair<int32_t, int64_t>{d, due.first}),
               mine.end());
    if (mine.empty()) entries_.erase(it);
  }
  return due;
}

void HeapTimers::read_entries(const std::vector<uint32_t>& ids, ByteReader& r) {
  HeapTable::read_entries(ids, r);
  for (uint32_t id : ids)
    if (auto it = entries_.find(id); it != entries_.end())
      for (const auto& [d, ts] : it->second) {
        if (d != event_time && d != processing_time)
          throw DecodeError("a timer of an unknown time domain");
        queue_[d].emplace(ts, id);
      }
}

}  // namespace sage::detail
