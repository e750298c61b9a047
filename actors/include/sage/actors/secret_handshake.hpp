// The cluster secret's handshake on loopback: both sides prove they hold the
// secret (HMAC-SHA256 challenge and response, mutual), then the connection
// carries CAF's BASP in plain. Off loopback, connections are TLS instead
// (secure_transport.cpp decides; docs/operations.md, "Security").
//
// A state machine over bytes, without sockets or CAF, so that a fuzz target and
// unit tests can drive it. The wire, client first:
//
//   client -> server  hello:   "SAGEAUT1" (8 bytes), client nonce (32)
//   server -> client  'Y', server nonce (32), HMAC(key, "sage server" Nc Ns) (32)
//                  or 'N', length (1), reason (length bytes), then it closes
//   client -> server  HMAC(key, "sage client" Nc Ns) (32)
//
// and then BASP. The labels keep one side's proof from serving as the other's;
// fresh nonces on both sides keep a recorded exchange from being replayed. What
// follows is not bound to the handshake, so it runs only between processes of
// one user on one machine (loopback_peer.hpp: a relay by another user would
// see and could change the plain bytes); every other connection is TLS.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sage::actors {

class SecretHandshake {
 public:
  /// The key both sides derive from the cluster secret (`key_of_secret`).
  using Key = std::array<unsigned char, 32>;
  enum class Role { client, server };
  enum class State {
    running,  ///< needs `wanted()` more bytes from the peer
    done,     ///< both sides proved the secret: what follows is the connection's
    refused,  ///< `failure()` says why; nothing more goes either way
  };

  /// The first byte of every client hello: a server that reads another first
  /// byte is not spoken to in this handshake (0x16 starts a TLS handshake).
  static constexpr unsigned char first_byte = 'S';

  /// A client starts with its hello waiting in `output()`. A server answers a
  /// hello; given a `refusal` (why its peer may not have a plaintext session:
  /// another host, another user) it refuses every hello, telling the client.
  SecretHandshake(Role role, const Key& key, std::string refusal = {});

  [[nodiscard]] State state() const { return state_; }
  [[nodiscard]] const std::string& failure() const { return failure_; }

  /// How many more bytes the handshake reads before its next step: read no
  /// more than this, for what follows belongs to the connection (BASP).
  [[nodiscard]] size_t wanted() const { return need_ - in_.size(); }
  /// Takes up to `wanted()` bytes of `data` (the rest is left); returns how
  /// many it took.
  size_t feed(const unsigned char* data, size_t len);

  /// The bytes to send now; the caller sends them and erases what went out.
  std::vector<unsigned char>& output() { return out_; }
  [[nodiscard]] const std::vector<unsigned char>& output() const { return out_; }

 private:
  enum class Expect { hello, verdict, refusal_length, refusal_text, server_proof, client_proof };

  void expect(Expect what, size_t bytes);
  void step();
  void refuse(std::string why);
  /// Refuses, and tells the client why (a server's refusal).
  void tell_and_refuse(const std::string& why);
  /// HMAC(key, label || client nonce || server nonce); false if OpenSSL failed.
  [[nodiscard]] bool proof(const char* label, std::array<unsigned char, 32>& mac) const;
  /// Whether `theirs` is the proof `label` calls for (in constant time).
  [[nodiscard]] bool proves(const char* label, const unsigned char* theirs) const;

  Role role_;
  Key key_;
  std::string refusal_;
  State state_ = State::running;
  std::string failure_;
  Expect expect_ = Expect::hello;
  size_t need_ = 0;
  std::vector<unsigned char> in_;  ///< what the current step has read so far
  std::vector<unsigned char> out_;
  std::array<unsigned char, 32> client_nonce_{};
  std::array<unsigned char, 32> server_nonce_{};
};

/// The handshake's key for the cluster secret in `secret_file`: SHA-256 over a
/// label and the DER form of the secret's private key, so that the key is the
/// same whatever the file's layout. Throws `std::runtime_error` if the file has
/// no private key.
SecretHandshake::Key key_of_secret(const std::string& secret_file);

}  // namespace sage::actors
