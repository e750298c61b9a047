// libFuzzer target: what the cluster secret's handshake reads from a peer
// (actors/secret_handshake.hpp), as a server and as a client. The input is
// fed in chunks whose sizes its first byte chooses, as the network would
// deliver it; the handshake must never read past what it wants, and must end
// refused, or running (waiting for more), never done without the key.

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include <sage/actors/secret_handshake.hpp>

namespace {

using sage::actors::SecretHandshake;

void feed(SecretHandshake& h, const uint8_t* data, size_t size, size_t chunk) {
  size_t at = 0;
  while (at < size && h.state() == SecretHandshake::State::running) {
    const size_t n = std::min(chunk, size - at);
    const size_t taken = h.feed(data + at, n);
    if (taken > n) std::abort();  // took bytes it was not given
    if (taken < n && h.state() == SecretHandshake::State::running)
      std::abort();  // stopped reading while it still wanted bytes
    at += taken;
    if (taken < n) break;  // the rest belongs to the connection
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0] % 64;
  ++data;
  --size;
  SecretHandshake::Key key{};
  key.fill(0x5a);
  // A server without a refusal, one with, and a client: a peer without the
  // key must never get any of them to `done` (the nonces are fresh, so no
  // input can hold a valid proof).
  SecretHandshake server(SecretHandshake::Role::server, key);
  feed(server, data, size, chunk);
  if (server.state() == SecretHandshake::State::done) std::abort();
  SecretHandshake refusing(SecretHandshake::Role::server, key,
                           "connections from other hosts must use TLS");
  feed(refusing, data, size, chunk);
  if (refusing.state() == SecretHandshake::State::done) std::abort();
  SecretHandshake client(SecretHandshake::Role::client, key);
  client.output().clear();
  feed(client, data, size, chunk);
  if (client.state() == SecretHandshake::State::done) std::abort();
  if (client.state() == SecretHandshake::State::refused && client.failure().empty()) std::abort();
  return 0;
}
