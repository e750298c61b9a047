// Batches that cross nodes: encoded as one Cap'n Proto RecordBatch, decoded by
// the typed input port; malformed messages fail with DecodeError.

#include <doctest/doctest.h>

#include <random>

#include <sage/detail/typed_node.hpp>

namespace {

using namespace sage::detail;

struct Sink : Receiver<std::pair<std::string, int64_t>> {
  std::vector<std::pair<std::string, int64_t>> got;
  void push(std::pair<std::string, int64_t>&& x) override { got.push_back(std::move(x)); }
};

using Rec = std::pair<std::string, int64_t>;

std::vector<Rec> sample(int n) {
  std::vector<Rec> v;
  for (int i = 0; i < n; ++i) v.emplace_back("key-" + std::to_string(i), i * 1000003LL);
  return v;
}

struct NoCodec {
  int x;
};

}  // namespace

TEST_CASE("wire: a batch round-trips through a RecordBatch message") {
  const auto records = sample(1000);
  Batch<Rec> batch{std::vector<Rec>(records)};
  EncodedBatch encoded(batch.encode());
  CHECK(encoded.frame().size() % 8 == 0);
  CHECK(encoded.size() == 1000);
  CHECK(decode_batch<Rec>(encoded) == records);

  // Through the input port, as a task receives it.
  Sink sink;
  sage::RuntimeContext ctx;
  InputPort<Rec> port(&sink, ctx, nullptr);
  CHECK(port.consume(encoded) == 1000);
  CHECK(sink.got == records);
}

TEST_CASE("wire: empty batches and a misaligned frame") {
  Batch<int> empty{std::vector<int>{}};
  EncodedBatch e(empty.encode());
  CHECK(decode_batch<int>(e).empty());
  // A frame that starts at an odd address is copied before Cap'n Proto reads it.
  Batch<int> b{std::vector<int>{1, 2, 3}};
  auto frame = b.encode();
  std::vector<uint8_t> shifted(frame.size() + 1);
  std::memcpy(shifted.data() + 1, frame.data(), frame.size());
  EncodedBatch misaligned(std::vector<uint8_t>(shifted.begin() + 1, shifted.end()));
  CHECK(decode_batch<int>(misaligned) == std::vector<int>{1, 2, 3});
}

TEST_CASE("wire: a record type without a codec cannot be encoded") {
  Batch<NoCodec> b{std::vector<NoCodec>{{1}}};
  CHECK_THROWS_WITH_AS((void)b.encode(), doctest::Contains("has no codec"), std::logic_error);
}

TEST_CASE("wire: malformed messages fail cleanly") {
  Batch<Rec> batch{sample(50)};
  const auto frame = batch.encode();
  // Another record type.
  CHECK_THROWS_WITH_AS(decode_batch<int64_t>(EncodedBatch(frame)),
                       doctest::Contains("another record type"), sage::DecodeError);
  // Every truncation (to whole words, and not).
  for (size_t n = 0; n < frame.size(); n += 3) {
    EncodedBatch cut(std::vector<uint8_t>(frame.begin(), frame.begin() + static_cast<long>(n)));
    CHECK_THROWS_AS(decode_batch<Rec>(cut), sage::DecodeError);
  }
  // Flip bytes all over the message: never a crash, a DecodeError or (rarely) other records.
  std::mt19937 rng(11);
  int refused = 0;
  for (int round = 0; round < 5000; ++round) {
    auto bad = frame;
    for (int k = 0; k < 4; ++k) bad[rng() % bad.size()] = static_cast<uint8_t>(rng());
    try {
      (void)decode_batch<Rec>(EncodedBatch(std::move(bad)));
    } catch (const sage::DecodeError&) {
      ++refused;
    }
  }
  CHECK(refused > 0);
  // Pure garbage, including a segment table that claims huge segments.
  for (int round = 0; round < 5000; ++round) {
    std::vector<uint8_t> junk(8 * (rng() % 16));
    for (auto& byte : junk) byte = static_cast<uint8_t>(rng());
    CHECK_THROWS_AS(decode_batch<Rec>(EncodedBatch(std::move(junk))), sage::DecodeError);
  }
}

TEST_CASE("wire: a count that does not match the records is refused") {
  // Records of one batch framed with another batch's count.
  Batch<Rec> three{sample(3)};
  std::vector<uint8_t> bytes;
  sage::encode_records(three.records, bytes);
  for (size_t claimed : {size_t{0}, size_t{2}, size_t{4}, size_t{1} << 31}) {
    EncodedBatch lie(frame_batch(record_type_id<Rec>(), claimed, bytes));
    CHECK_THROWS_AS(decode_batch<Rec>(lie), sage::DecodeError);
  }
}
