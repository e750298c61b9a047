#pragma once
/// @file window_state.hpp
/// The managed state of the window operators (docs/state-and-time.md):
/// - windows that merge or count (session, count windows) keep, per key, a
///   short list of `WindowEntry` in a `HeapTable` (state "sage.windows");
/// - aligned windows (tumbling, sliding), where every key shares the same
///   windows, keep one `Pane` per window with the accumulators of the keys that
///   have records in it (`PaneTable`, also "sage.windows"), as Flink's heap
///   state keyed by (key, window). A record costs one probe in its pane's
///   index, and a window fires for all its keys at once: no timer per key.
/// Both snapshot to the same entries: per key, its windows.

#include <cstdint>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include <sage/codec.hpp>
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

/// Key ids to the slots of a pane: open addressing with linear probing, at most
/// half full, so that a lookup is one or two reads of one small array.
class SlotIndex {
 public:
  static constexpr uint32_t none = UINT32_MAX;

  /// The slot of `id`, or `none`.
  [[nodiscard]] uint32_t find(uint32_t id) const {
    if (cells_.empty()) return none;
    for (size_t i = home(id);; i = (i + 1) & mask_) {
      const Cell& c = cells_[i];
      if (c.id == id) return c.slot;
      if (c.id == none) return none;
    }
  }
  /// Records that `id` has slot `slot` (`id` must be absent).
  void insert(uint32_t id, uint32_t slot) {
    if ((used_ + 1) * 2 > cells_.size()) grow();
    place(id, slot);
    ++used_;
  }

 private:
  struct Cell {
    uint32_t id = none;
    uint32_t slot = 0;
  };
  [[nodiscard]] size_t home(uint32_t id) const {
    return static_cast<size_t>((id * 0x9E3779B1u) >> shift_) & mask_;
  }
  void place(uint32_t id, uint32_t slot) {
    size_t i = home(id);
    while (cells_[i].id != none) i = (i + 1) & mask_;
    cells_[i] = Cell{id, slot};
  }
  void grow() {
    std::vector<Cell> old = std::move(cells_);
    const size_t capacity = old.empty() ? 16 : old.size() * 2;
    cells_.assign(capacity, Cell{});
    mask_ = capacity - 1;
    int bits = 0;
    while ((size_t{1} << bits) < capacity) ++bits;
    shift_ = 32 - bits;
    for (const Cell& c : old)
      if (c.id != none) place(c.id, c.slot);
  }

  std::vector<Cell> cells_;
  size_t mask_ = 0;
  int shift_ = 32;
  size_t used_ = 0;
};

/// One aligned window of an instance: the accumulators of the keys with
/// records in it, by slot, and whether the window has fired (its time has
/// passed: a record that arrives within the allowed lateness fires its key's
/// result again at once). Each key's result has fired or not (`fired_slots`):
/// a pane restored from snapshots taken at different watermarks may hold both.
template <class Acc>
struct Pane {
  Window window;
  bool fired = false;
  std::vector<uint32_t> ids;         ///< key ids, by slot
  std::vector<Acc> accs;             ///< by slot
  std::vector<uint8_t> fired_slots;  ///< by slot: 1 once the key's result has fired
  SlotIndex index;

  [[nodiscard]] uint32_t slot_of(uint32_t id) const { return index.find(id); }

  /// The accumulator of key `id`, or null.
  [[nodiscard]] Acc* find(uint32_t id) {
    const uint32_t slot = index.find(id);
    return slot == SlotIndex::none ? nullptr : &accs[slot];
  }
  /// The slot of key `id`, its accumulator made by `make()` if absent.
  template <class Make>
  uint32_t slot_for(uint32_t id, Make&& make) {
    uint32_t slot = index.find(id);
    if (slot != SlotIndex::none) return slot;
    slot = static_cast<uint32_t>(accs.size());
    index.insert(id, slot);
    ids.push_back(id);
    fired_slots.push_back(0);
    accs.push_back(make());
    return slot;
  }
};

/// The panes of an aligned window operator, in the order they fire (by end).
/// Its snapshot is, per key, the key's windows (`WindowEntry<Acc>`s), as the
/// per-key table of the other windows writes it.
template <class Acc>
class PaneTable final : public StateTableBase {
 public:
  using Panes = std::map<std::pair<int64_t, int64_t>, Pane<Acc>>;  // by (end, start)
  using Entries = std::vector<WindowEntry<Acc>>;

  explicit PaneTable(const StateBackend&) {}

  [[nodiscard]] StateKind kind() const override { return StateKind::windows; }
  [[nodiscard]] std::string value_type() const override { return type_name(typeid(Entries)); }

  /// The pane of `w`, made if absent (`fired` then says whether its time has passed).
  Pane<Acc>& pane(const Window& w, bool fired) {
    if (last_ != panes_.end() && last_->second.window == w) return last_->second;
    auto [it, fresh] = panes_.try_emplace({w.end, w.start});
    if (fresh) {
      it->second.window = w;
      it->second.fired = fired;
    }
    last_ = it;
    return it->second;
  }
  [[nodiscard]] Panes& panes() { return panes_; }
  typename Panes::iterator erase(typename Panes::iterator it) {
    if (it == last_) last_ = panes_.end();
    return panes_.erase(it);
  }

  void write_entries(const std::vector<uint32_t>& ids, ByteWriter& w) const override {
    if constexpr (has_codec<Acc>) {
      std::vector<std::pair<size_t, Entries>> present;
      for (size_t i = 0; i < ids.size(); ++i) {
        Entries entries;
        for (const auto& [order, p] : panes_)
          if (const uint32_t slot = p.slot_of(ids[i]); slot != SlotIndex::none)
            entries.push_back(WindowEntry<Acc>{p.window, p.accs[slot], p.fired_slots[slot] != 0});
        if (!entries.empty()) present.emplace_back(i, std::move(entries));
      }
      w.varint(present.size());
      std::vector<uint8_t> bytes;
      for (const auto& [index, entries] : present) {
        bytes.clear();
        ByteWriter one(bytes);
        Codec<Entries>::encode(one, entries);
        w.varint(index);
        w.varint(bytes.size());
        w.bytes(bytes.data(), bytes.size());
      }
    } else {
      throw std::logic_error("window contents of type " + type_name(typeid(Acc)) +
                             " have no codec: they cannot be snapshotted (sage/codec.hpp)");
    }
  }

  void read_entries(const std::vector<uint32_t>& ids, ByteReader& r) override {
    if constexpr (has_codec<Acc>) {
      const size_t n = r.size();
      for (size_t i = 0; i < n; ++i) {
        const uint64_t index = r.varint();
        if (index >= ids.size()) throw DecodeError("a state entry names a key the snapshot lacks");
        const size_t length = r.size();
        ByteReader one(r.take(length), length);
        Entries entries;
        Codec<Entries>::decode(one, entries);
        if (one.remaining() != 0) throw DecodeError("a state entry is longer than its value");
        // A pane has fired when every key restored into it has: the others fire
        // with the next watermark that passes it, the fired ones not again.
        for (auto& e : entries) {
          auto [it, fresh] = panes_.try_emplace({e.window.end, e.window.start});
          auto& p = it->second;
          if (fresh) {
            p.window = e.window;
            p.fired = true;
          }
          p.fired = p.fired && e.fired;
          const uint32_t slot = p.slot_for(ids[index], [] { return Acc{}; });
          p.accs[slot] = std::move(e.acc);
          p.fired_slots[slot] = e.fired ? 1 : 0;
        }
      }
    } else {
      throw std::logic_error("window contents of type " + type_name(typeid(Acc)) +
                             " have no codec: they cannot be restored (sage/codec.hpp)");
    }
  }

 private:
  Panes panes_;
  typename Panes::iterator last_ = panes_.end();
};

}  // namespace sage::detail
