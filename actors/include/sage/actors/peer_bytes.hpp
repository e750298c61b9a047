#pragma once
/// @file peer_bytes.hpp
/// The bytes of a message element that crosses nodes (a batch, a call's
/// payload), written and read safely: an element that cannot be encoded
/// travels empty (CAF 0.17 ignores errors of a message's elements, and an
/// exception would take down the node's middleman), and a length a peer
/// claims is checked against a limit and the bytes it sent before anything
/// is allocated (CAF 0.17 would resize first: one message could make a node
/// allocate gigabytes).

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include <caf/binary_deserializer.hpp>
#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/sec.hpp>

namespace sage::actors {

/// Writes `encode()`'s bytes as element `type`; empty, with the error's words
/// returned, if it throws.
template <class Serializer, class Encode>
caf::error write_peer_bytes(Serializer& f, const char* type, Encode&& encode) {
  std::vector<uint8_t> bytes;
  caf::error failure;
  try {
    bytes = encode();
  } catch (const std::exception& e) {
    bytes.clear();
    failure = caf::make_error(caf::sec::invalid_argument, e.what());
  }
  if (auto err = f(caf::meta::type_name(type), bytes)) return err;
  return failure;
}

/// Reads a byte sequence of at most `limit` bytes into `out`; `what` names it
/// in the refusal ("a batch").
template <class Deserializer>
caf::error read_peer_bytes(Deserializer& f, size_t limit, const char* what,
                           std::vector<uint8_t>& out) {
  size_t size = 0;
  if (auto err = f.begin_sequence(size)) return err;
  const auto* binary = dynamic_cast<caf::binary_deserializer*>(&f);
  if (size > limit || (binary != nullptr && size > binary->remaining()))
    return caf::make_error(caf::sec::invalid_argument,
                           std::string(what) + " of " + std::to_string(size) +
                               " bytes exceeds its message or the limit");
  out.assign(size, 0);
  if (size > 0)
    if (auto err = f.apply_raw(size, out.data())) return err;
  return f.end_sequence();
}

}  // namespace sage::actors
