// The sessions of authenticated connections, without CAF: what
// secure_transport.cpp's scribes read and write through. A session runs its
// handshake (TLS 1.3, the cluster secret's, or none for --insecure), then
// carries BASP's bytes. Which one a connection gets is decided here: the
// connecting side by its credentials and its peer (loopback_peer.hpp), the
// accepting side by the client's first byte.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include <sage/actors/credentials.hpp>

namespace sage::actors {

enum class IoResult { ok, broken };

/// One authenticated connection as CAF's stream sees it: a handshake, then
/// reads and writes of BASP's bytes.
class Session {
 public:
  enum class Step { done, wants_read, wants_write, failed };
  virtual ~Session() = default;

  [[nodiscard]] virtual bool handshaking() const = 0;
  /// Takes the handshake as far as it goes without waiting.
  virtual Step advance_handshake() = 0;
  /// After a failed handshake: whether the peer was refused (wrong
  /// credentials, another protocol), or the connection broke; and why.
  [[nodiscard]] virtual bool refused() const = 0;
  [[nodiscard]] virtual const std::string& failure() const = 0;

  /// Reads or writes BASP's bytes: `ok` with `done` bytes (0: not now, the
  /// socket would block), or `broken` (the peer closed, or the session broke).
  virtual IoResult read(size_t& done, void* buf, size_t len) = 0;
  virtual IoResult write(size_t& done, const void* buf, size_t len) = 0;

  /// Whether bytes of the handshake still wait to be sent.
  [[nodiscard]] virtual bool output_waits() const = 0;
  /// Whether the session holds data read from the socket that no read took
  /// yet: then the socket may never signal it again, so reading goes on.
  [[nodiscard]] virtual bool has_buffered_data() const = 0;
};

class TlsContext;

/// What a process authenticates with: its TLS context, and with a cluster
/// secret also the key of the secret's handshake (for peers of its own user
/// on this machine); neither for an --insecure process, whose connections are
/// plain BASP. One per process; throws `std::runtime_error` if the files do
/// not make a TLS context.
struct Credentials {
  explicit Credentials(const TlsFiles& files);
  ~Credentials();
  Credentials(const Credentials&) = delete;
  Credentials& operator=(const Credentials&) = delete;
  [[nodiscard]] bool insecure() const { return tls == nullptr; }

  std::unique_ptr<TlsContext> tls;
  std::optional<std::array<unsigned char, 32>> secret_key;
};

using CredentialsPtr = std::shared_ptr<const Credentials>;

/// The session of a connection this process opened on `fd`; null, with
/// `error` saying why, if none can start.
std::unique_ptr<Session> connecting_session(int fd, const Credentials& credentials,
                                            std::string& error);

/// The session of a connection accepted on `fd`; its handshake decides which
/// kind it is as the client's bytes arrive.
std::unique_ptr<Session> accepted_session(int fd, const CredentialsPtr& credentials);

}  // namespace sage::actors
