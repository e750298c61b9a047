// Record codecs: round trips for every supported kind of type, and malformed
// bytes that must fail with DecodeError rather than crash or over-allocate.

#include <doctest/doctest.h>

#include <random>

#include <sage/codec.hpp>

#include "sample_records.hpp"

namespace {

using sage::test_records::Order;
using sage::test_records::Side;
using sage::test_records::Trade;

struct NoCodec {
  int x;
};

template <class T>
T round_trip(const T& x) {
  std::vector<uint8_t> bytes;
  sage::ByteWriter w(bytes);
  sage::Codec<T>::encode(w, x);
  sage::ByteReader r(bytes.data(), bytes.size());
  T y{};
  sage::Codec<T>::decode(r, y);
  CHECK(r.remaining() == 0);
  return y;
}

Trade sample_trade() {
  Trade t;
  t.order = {"ada", 12.5, -42};
  t.side = Side::sell;
  t.tags = std::vector<std::pair<std::string, int>>{{"a", 1}, {"", -1}};
  t.extra["k"] = {7, true, std::string(300, 'z')};
  return t;
}

}  // namespace

TEST_CASE("codec: which types have one") {
  CHECK(sage::has_codec<int>);
  CHECK(sage::has_codec<std::string>);
  CHECK(sage::has_codec<std::vector<std::map<std::string, std::optional<double>>>>);
  CHECK(sage::has_codec<Order>);
  CHECK(sage::has_codec<Trade>);
  CHECK_FALSE(sage::has_codec<NoCodec>);
  CHECK_FALSE(sage::has_codec<std::vector<NoCodec>>);
  CHECK_FALSE(sage::has_codec<std::pair<int, NoCodec>>);
}

TEST_CASE("codec: round trips") {
  CHECK(round_trip(int64_t{-5}) == -5);
  CHECK(round_trip(3.25) == 3.25);
  CHECK(round_trip(true));
  CHECK(round_trip(Side::sell) == Side::sell);
  CHECK(round_trip(std::string("héllo\0x", 8)) == std::string("héllo\0x", 8));
  CHECK(round_trip(std::vector<int>{1, 2, 3}) == std::vector<int>{1, 2, 3});
  CHECK(round_trip(std::vector<bool>{true, false}) == std::vector<bool>{true, false});
  CHECK(round_trip(std::array<uint16_t, 3>{1, 2, 3}) == std::array<uint16_t, 3>{1, 2, 3});
  std::unordered_map<std::string, int> um{{"a", 1}, {"b", 2}};
  CHECK(round_trip(um) == um);
  CHECK(round_trip(std::optional<std::string>{}) == std::nullopt);
  CHECK(round_trip(std::make_pair(std::string("k"), 2u)) == std::make_pair(std::string("k"), 2u));
  CHECK(round_trip(Order{"bob", 1.5, 99}) == Order{"bob", 1.5, 99});
  CHECK(round_trip(sample_trade()) == sample_trade());
}

TEST_CASE("codec: batches of records") {
  std::vector<Order> orders{{"a", 1, 1}, {"b", 2, 2}, {"", 0, 0}};
  std::vector<uint8_t> bytes;
  sage::encode_records(orders, bytes);
  CHECK(sage::decode_records<Order>(bytes.data(), bytes.size(), 3) == orders);
  CHECK_THROWS_AS(sage::decode_records<Order>(bytes.data(), bytes.size(), 4), sage::DecodeError);
  CHECK_THROWS_AS(sage::decode_records<Order>(bytes.data(), bytes.size(), 2), sage::DecodeError);
}

TEST_CASE("codec: every truncation of a record fails cleanly") {
  std::vector<uint8_t> bytes;
  sage::encode_records(std::vector<Trade>{sample_trade()}, bytes);
  for (size_t n = 0; n < bytes.size(); ++n)
    CHECK_THROWS_AS(sage::decode_records<Trade>(bytes.data(), n, 1), sage::DecodeError);
}

TEST_CASE("codec: garbage never crashes nor allocates by its lengths") {
  std::mt19937_64 rng(7);
  int refused = 0;
  for (int round = 0; round < 20000; ++round) {
    std::vector<uint8_t> junk(rng() % 64);
    for (auto& b : junk) b = static_cast<uint8_t>(rng());
    try {
      (void)sage::decode_records<Trade>(junk.data(), junk.size(), 1 + rng() % 3);
    } catch (const sage::DecodeError&) {
      ++refused;
    }
  }
  // A huge claimed length must be refused before anything is allocated.
  std::vector<uint8_t> huge;
  sage::ByteWriter w(huge);
  w.varint(uint64_t{1} << 60);
  CHECK_THROWS_AS(sage::decode_records<std::vector<int64_t>>(huge.data(), huge.size(), 1),
                  sage::DecodeError);
  CHECK_THROWS_AS(sage::decode_records<std::string>(huge.data(), huge.size(), 1),
                  sage::DecodeError);
  CHECK(refused > 19000);  // random bytes are almost never a valid trade
}
