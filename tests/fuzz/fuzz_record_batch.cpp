// libFuzzer target: what a peer's record batch can hold. The input's first
// byte chooses what the rest is:
//   even: a whole batch frame (Cap'n Proto), parsed with EncodedBatch::view()
//         and its records decoded as each record type below;
//   odd:  the records themselves, framed here into a valid batch (so the
//         codecs see every byte, not only what survives the framing).
// Malformed bytes must end in DecodeError; any other exception, a crash, a
// sanitizer report or an allocation beyond -malloc_limit_mb is a finding.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <sage/codec.hpp>
#include <sage/detail/record_flow.hpp>

#include "sample_records.hpp"

namespace {

using sage::test_records::Order;
using sage::test_records::Trade;

template <class T>
void decode_as(const sage::detail::EncodedBatch& batch) {
  try {
    (void)sage::detail::decode_batch<T>(batch);
  } catch (const sage::DecodeError&) {
  }
}

template <class T>
void decode_all(const sage::detail::EncodedBatch& batch) {
  decode_as<T>(batch);
}

template <class T, class U, class... Ts>
void decode_all(const sage::detail::EncodedBatch& batch) {
  decode_as<T>(batch);
  decode_all<U, Ts...>(batch);
}

template <class... Ts>
void decode_framed(const uint8_t* data, size_t size, size_t count) {
  const std::vector<uint8_t> records(data, data + size);
  (
      [&] {
        sage::detail::EncodedBatch batch(
            sage::detail::frame_batch(sage::detail::record_type_id<Ts>(), count, records));
        decode_as<Ts>(batch);
      }(),
      ...);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  ++data;
  --size;
  if (mode % 2 == 0) {
    sage::detail::EncodedBatch batch(std::vector<uint8_t>(data, data + size));
    try {
      (void)batch.view();
    } catch (const sage::DecodeError&) {
      return 0;
    }
    decode_all<int64_t, double, bool, std::string, std::vector<int32_t>, Order, Trade>(batch);
  } else {
    const size_t count = mode >> 1;  // 0..127 records claimed
    decode_framed<int64_t, bool, std::string, std::vector<std::string>, Order, Trade,
                  std::map<int, std::optional<std::string>>>(data, size, count);
  }
  return 0;
}
