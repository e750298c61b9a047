#pragma once
// Record types with a codec that reach into every kind of field the codecs
// support (strings, floats, enums, optionals, vectors, pairs, maps, tuples,
// nested structs): shared by the codec tests and the record-batch fuzz target.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <sage/codec.hpp>

namespace sage::test_records {

struct Order {
  std::string user;
  double amount = 0;
  int64_t ts = 0;
  friend bool operator==(const Order&, const Order&) = default;
};

template <class Inspector>
auto inspect(Inspector& f, Order& x) {
  return f(caf::meta::type_name("Order"), x.user, x.amount, x.ts);
}

enum class Side : uint8_t { buy, sell };

struct Trade {
  Order order;
  Side side = Side::buy;
  std::optional<std::vector<std::pair<std::string, int>>> tags;
  std::map<std::string, std::tuple<int, bool, std::string>> extra;
  friend bool operator==(const Trade&, const Trade&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Trade& x) {
  return f(caf::meta::type_name("Trade"), x.order, x.side, x.tags, x.extra);
}

}  // namespace sage::test_records
