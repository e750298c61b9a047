// The Cap'n Proto framing of record batches (schemas/batch.capnp). The records
// themselves are written by their codecs (sage/codec.hpp); this file wraps them
// in a RecordBatch message and reads such messages back, with reader limits, so
// that no bytes a peer sends can make it read out of bounds or allocate without limit.

#include <cstring>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <sage/detail/record_flow.hpp>
#include "schemas/batch.capnp.h"

namespace sage::detail {

namespace {

static_assert(sizeof(capnp::word) == 8);

/// Words of the message around the records: the segment table and the root struct.
constexpr size_t frame_overhead_words = 8;

}  // namespace

std::vector<uint8_t> frame_batch(uint64_t record_type, size_t count,
                                 const std::vector<uint8_t>& records,
                                 const std::vector<EventTime>& timestamps) {
  if (count > UINT32_MAX) throw std::logic_error("a batch of more than 2^32 records");
  // One segment big enough for everything: no reallocation while building.
  capnp::MallocMessageBuilder message(
      static_cast<unsigned>(frame_overhead_words + records.size() / 8 + 1 + timestamps.size() + 1));
  auto batch = message.initRoot<schema::RecordBatch>();
  batch.setRecordType(record_type);
  batch.setCount(static_cast<uint32_t>(count));
  auto data = batch.initRecords(static_cast<unsigned>(records.size()));
  if (!records.empty()) std::memcpy(data.begin(), records.data(), records.size());
  if (!timestamps.empty()) {
    auto stamps = batch.initTimestamps(static_cast<unsigned>(timestamps.size()));
    for (unsigned i = 0; i < timestamps.size(); ++i) stamps.set(i, timestamps[i]);
  }
  auto words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

BatchView EncodedBatch::view() const {
  if (frame_.empty())
    throw DecodeError(
        "the sending node could not encode this batch (a record type without a codec?)");
  if (frame_.size() % sizeof(capnp::word) != 0)
    throw DecodeError("a record batch of " + std::to_string(frame_.size()) +
                      " bytes: not a Cap'n Proto message");
  const auto* words = reinterpret_cast<const capnp::word*>(frame_.data());
  if (reinterpret_cast<uintptr_t>(frame_.data()) % alignof(capnp::word) != 0) {
    // Cap'n Proto reads 8-byte aligned words only.
    aligned_.resize(frame_.size() / 8);
    std::memcpy(aligned_.data(), frame_.data(), frame_.size());
    words = reinterpret_cast<const capnp::word*>(aligned_.data());
  }
  try {
    capnp::ReaderOptions limits;
    limits.traversalLimitInWords = frame_.size() / 8 + 16;  // never more than the message itself
    limits.nestingLimit = 8;
    capnp::FlatArrayMessageReader reader(kj::arrayPtr(words, frame_.size() / 8), limits);
    auto batch = reader.getRoot<schema::RecordBatch>();
    auto data = batch.getRecords();
    BatchView v;
    v.record_type = batch.getRecordType();
    v.count = batch.getCount();
    // The data lives inside the frame (or its aligned copy), which outlives the view.
    v.data = data.begin();
    v.size = data.size();
    auto stamps = batch.getTimestamps();
    v.timestamps.reserve(stamps.size());
    for (auto t : stamps) v.timestamps.push_back(t);
    return v;
  } catch (const kj::Exception& e) {
    throw DecodeError(std::string("malformed record batch: ") + e.getDescription().cStr());
  }
}

size_t EncodedBatch::size() const {
  try {
    return view().count;
  } catch (const DecodeError&) {
    return 0;
  }
}

}  // namespace sage::detail
