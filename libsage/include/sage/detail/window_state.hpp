#pragma once
/// @file window_state.hpp
/// The managed state of the window operators (docs/state-and-time.md):
/// - windows that merge or count (session, count windows) keep, per key, a
///   short list of `WindowEntry` in a `HeapTable` (state "sage.windows");
/// - aligned windows (tumbling, sliding), where every key shares the same
///   windows, keep one `Pane` per window with the accumulators of the keys that
///   have records in it (`PaneTable`, also "sage.windows"), as Flink's heap
///   state keyed by (key, window). A record costs one probe of its pane's
///   index by key, and a window fires for all its keys at once: no timer per key.
/// Both snapshot per key: the key's windows, as `WindowEntry`s. (Aligned
/// windows keep the function's own accumulator, session windows whose
/// function cannot merge their records: no snapshot of one restores into the
/// other, nor into the per-key layout aligned windows had before 2026-12-03.)

#include <cstdint>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include <sage/codec.hpp>
#include <sage/detail/flat_key_index.hpp>
#include <sage/detail/state_backend.hpp>
#include <sage/event_time.hpp>

namespace sage::detail {

/// One window of one key: its contents so far, and whether it has fired (a
/// fired window is kept for its allowed lateness, and fires again when a late
/// record updates it).
template <class Acc>
struct WindowEntry {
  Window window;
  Acc acc{};
  bool fired = false;
};

template <class Inspector, class Acc>
requires has_codec<Acc>
auto inspect(Inspector& f, WindowEntry<Acc>& e) { return f(e.window, e.acc, e.fired); }

/// One aligned window of an instance: the accumulators of the keys with
/// records in it, by slot, whether each key's result has fired
/// (`fired_slots`), and whether all have (`fired`: the window's time has
/// passed and it fired; a record that arrives within the allowed lateness
/// fires its key's result again at once). A pane restored from snapshots
/// taken at different watermarks may hold fired and unfired keys.
template <class K, class Acc>
struct Pane {
  Window window;
  bool fired = false;
  std::vector<uint32_t> ids;         ///< the keys' ids in the state backend, by slot
  std::vector<Acc> accs;             ///< by slot
  std::vector<uint8_t> fired_slots;  ///< by slot: 1 once the key's result has fired
  FlatKeyIndex<K> index;             ///< keys to slots
};

/// The panes of an aligned window operator, in the order they fire (by end).
/// A record finds its accumulator by its key in its pane's index, without the
/// state backend's dictionary (one lookup instead of two); a key new to a pane
/// is interned there too, so that snapshots and firing (which makes each key
/// current) see it. The snapshot is, per key, the key's windows
/// (`WindowEntry<Acc>`s), as the per-key table of the other windows writes it.
template <class K, class Acc>
class PaneTable final : public StateTableBase {
 public:
  using PaneType = Pane<K, Acc>;
  using Panes = std::map<std::pair<int64_t, int64_t>, PaneType>;  // by (end, start)
  using Entries = std::vector<WindowEntry<Acc>>;

  explicit PaneTable(const StateBackend& backend) : backend_(&backend) {}

  [[nodiscard]] StateKind kind() const override { return StateKind::windows; }
  [[nodiscard]] std::string value_type() const override { return type_name(typeid(Entries)); }

  /// The pane of `w`, made if absent (`fired` then says whether its time has passed).
  PaneType& pane(const Window& w, bool fired) {
    if (last_ != panes_.end() && last_->second.window == w) return last_->second;
    last_ = find_or_make(w, fired);
    return last_->second;
  }
  /// The panes; remove one only through `erase` (it keeps the cache of the last).
  [[nodiscard]] Panes& panes() { return panes_; }
  typename Panes::iterator erase(typename Panes::iterator it) {
    if (it == last_) last_ = panes_.end();
    return panes_.erase(it);
  }

  /// The slot of `key` (of hash `key_index_hash(key)`) in `pane`; if absent,
  /// its accumulator is made by `make()` and `id_of()` gives the key's id.
  template <class Make, class IdOf>
  uint32_t slot_for(PaneType& pane, const K& key, uint64_t hash, Make&& make, IdOf&& id_of) {
    const uint32_t found = pane.index.find(key, hash, key_of(pane));
    if (found != FlatKeyIndex<K>::none) return found;
    // The slot first (`id_of` and `make` may throw), then the index.
    const auto next = static_cast<uint32_t>(pane.accs.size());
    pane.ids.push_back(id_of());
    pane.accs.push_back(make());
    pane.fired_slots.push_back(0);
    pane.index.find_or_add(key, hash, next, key_of(pane));
    return next;
  }
  /// The slot of `key` in `pane`, or `FlatKeyIndex<K>::none`.
  [[nodiscard]] uint32_t slot_of(const PaneType& pane, const K& key) const {
    return pane.index.find(key, key_index_hash(key), key_of(pane));
  }
  /// The key of id `id`.
  [[nodiscard]] const K& key(uint32_t id) const {
    return *static_cast<const K*>(backend_->key_address(id));
  }

  void write_entries(const std::vector<uint32_t>& ids, ByteWriter& w) const override {
    if constexpr (has_codec<Acc>) {
      std::vector<std::pair<size_t, Entries>> gathered;
      for (size_t i = 0; i < ids.size(); ++i) {
        const K& k = key(ids[i]);
        Entries entries;
        for (const auto& [order, p] : panes_)
          if (const uint32_t slot = slot_of(p, k); slot != FlatKeyIndex<K>::none)
            entries.push_back(WindowEntry<Acc>{p.window, p.accs[slot], p.fired_slots[slot] != 0});
        if (!entries.empty()) gathered.emplace_back(i, std::move(entries));
      }
      std::vector<std::pair<size_t, const Entries*>> present;
      for (const auto& [index, entries] : gathered) present.emplace_back(index, &entries);
      write_entry_frames(present, w);
    } else {
      throw std::logic_error("window contents of type " + type_name(typeid(Acc)) +
                             " have no codec: they cannot be snapshotted (sage/codec.hpp)");
    }
  }

  void read_entries(const std::vector<uint32_t>& ids, ByteReader& r) override {
    if constexpr (has_codec<Acc>) {
      read_entry_frames<Entries>(ids, r, [&](uint32_t id, Entries&& entries) {
        const K& k = key(id);
        // A pane has fired when every key restored into it has: the others fire
        // with the next watermark that passes it, the fired ones not again.
        for (auto& e : entries) {
          auto& p = find_or_make(e.window, true)->second;
          p.fired = p.fired && e.fired;
          const uint32_t slot = slot_for(
              p, k, key_index_hash(k), [] { return Acc{}; }, [&] { return id; });
          p.accs[slot] = std::move(e.acc);
          p.fired_slots[slot] = e.fired ? 1 : 0;
        }
      });
    } else {
      throw std::logic_error("window contents of type " + type_name(typeid(Acc)) +
                             " have no codec: they cannot be restored (sage/codec.hpp)");
    }
  }

 private:
  /// The key in `pane`'s slot `n` (for keys the index does not hold itself).
  [[nodiscard]] auto key_of(const PaneType& pane) const {
    return [this, &pane](uint32_t n) -> const K& { return key(pane.ids[n]); };
  }
  typename Panes::iterator find_or_make(const Window& w, bool fired) {
    auto [it, fresh] = panes_.try_emplace({w.end, w.start});
    if (fresh) {
      it->second.window = w;
      it->second.fired = fired;
    }
    return it;
  }

  const StateBackend* backend_;
  Panes panes_;
  typename Panes::iterator last_ = panes_.end();
};

}  // namespace sage::detail
