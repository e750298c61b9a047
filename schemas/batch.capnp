@0xdd2d2cf8a0816844;
# What travels between task instances on different nodes. In one process batches
# are never encoded; across nodes every batch is one RecordBatch message, carried
# as an opaque byte buffer inside the CAF message (see docs/architecture.md).

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("sage::schema");

struct RecordBatch {
  # A fingerprint of the record type, so that a receiver never decodes records of
  # one type as another (both ends run the same program: see docs/architecture.md).
  recordType @0 :UInt64;
  # How many records `records` holds.
  count @1 :UInt32;
  # The records, each written by its codec (sage/codec.hpp), back to back.
  records @2 :Data;
  # The event time of each record (ms), when the stream has event time; else empty.
  timestamps @3 :List(Int64);
}
