// Authenticated connections under CAF's network layer. With the cluster
// secret, a connection between two processes of one user on one machine
// (loopback_peer.hpp) proves the secret both ways (secret_handshake.hpp) and
// then carries CAF's BASP in plain, as an --insecure cluster's do: only the
// kernel sees those bytes, so encrypting them would buy nothing and cost a
// third of the bandwidth (two cores spent on AES). Every other connection, and
// every connection with a TLS directory of one's own, is TLS 1.3 with a
// certificate on both sides, of one OpenSSL context per process. An accepting
// side tells the two apart by the client's first byte, and refuses a plaintext
// handshake from another host or user, saying so. --insecure connections are
// plain BASP from the start, over the same scribes.
//
// It takes the place of CAF 0.17.6's openssl module, whose flaws cost a busy
// cluster dearly (docs/operations.md, "Security"):
//
// - it drives a handshake from the network thread and, while the handshake
//   waits for the peer, reports "nothing written yet" for the data queued
//   behind it (both sides queue BASP's handshake at once); the socket stays
//   writable, so the thread calls SSL_connect()/SSL_accept() again without
//   pause: every process with a handshake in flight spins a core, and 16
//   programs started at once on 2 cores took 50 to 100 s instead of 7;
// - it never empties OpenSSL's per-thread error queue, so one failed session
//   made the next healthy session of the thread that merely had no data look
//   failed, and dropped it;
// - it builds an OpenSSL context (reading and parsing the certificate files)
//   for every connection, and masks and unmasks SIGPIPE with three system
//   calls around every read and write of a TLS record.
//
// Here: the connecting side finishes its handshake where it connects (CAF's
// middleman thread, which may block), waiting in poll(); the accepting side
// advances its handshake on read events only, and holds back what BASP queues
// until the handshake is done, so nothing spins. The error queue is cleared
// before every OpenSSL call. OpenSSL writes its records into a buffer of the
// session, which sends them with send(MSG_NOSIGNAL) in as few calls as the
// socket takes (a peer that closed gives EPIPE, never SIGPIPE); sessions read
// ahead, so one read() takes in several TLS records.
//
// The pieces are CAF's own extension points: a middleman actor whose connect()
// and open() make our scribes and doormen, started by an actor-system module
// (in the slot of CAF's openssl module, which is not loaded).

#include "secure_transport.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/io/middleman_actor_impl.hpp>
#include <caf/io/network/default_multiplexer.hpp>
#include <caf/io/network/doorman_impl.hpp>
#include <caf/io/network/native_socket.hpp>
#include <caf/io/network/stream_impl.hpp>
#include <caf/io/scribe.hpp>
#include <caf/scoped_actor.hpp>

#include <sage/actors/secret_handshake.hpp>

#include "loopback_peer.hpp"

namespace sage::actors {

namespace {

using caf::io::network::default_multiplexer;
using caf::io::network::native_socket;
using caf::io::network::rw_state;

/// How long the connecting side waits for its handshake to finish. Past it the
/// connection counts as timed out (and `connect_to` tries again).
constexpr std::chrono::milliseconds handshake_patience{10000};
/// How long an accepted connection may take to finish its handshake before it
/// is closed (a peer that connects and says nothing holds no socket for long).
constexpr std::chrono::milliseconds accept_patience{10000};
/// How long a publish or connect request to the middleman may take: a TCP
/// connect, a handshake, then BASP's handshake.
constexpr auto request_patience = std::chrono::seconds(60);

/// Bytes OpenSSL reads from the socket at once (several TLS records).
constexpr size_t read_buffer_bytes = 64 * 1024;

std::string openssl_errors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    if (!text.empty()) text += "; ";
    text += buf;
  }
  return text.empty() ? "no detail from OpenSSL" : text;
}

/// The process's TLS context: its certificate and key, the CA that signs its
/// peers, a certificate required on both sides.
class TlsContext {
 public:
  explicit TlsContext(const TlsFiles& tls) : ctx_(SSL_CTX_new(TLS_method())) {
    if (ctx_ == nullptr)
      throw std::runtime_error("cannot create a TLS context: " + openssl_errors());
    auto require = [&](bool ok, const std::string& what) {
      if (!ok) {
        const std::string why = openssl_errors();
        SSL_CTX_free(ctx_);
        throw std::runtime_error(what + ": " + why);
      }
    };
    require(SSL_CTX_set_min_proto_version(ctx_, TLS1_3_VERSION) == 1, "cannot require TLS 1.3");
    require(SSL_CTX_use_certificate_chain_file(ctx_, tls.certificate().c_str()) == 1,
            "cannot load the certificate in " + tls.certificate());
    require(SSL_CTX_use_PrivateKey_file(ctx_, tls.key().c_str(), SSL_FILETYPE_PEM) == 1,
            "cannot load the key in " + tls.key());
    require(SSL_CTX_check_private_key(ctx_) == 1,
            "the key in " + tls.key() + " does not match its certificate");
    require(SSL_CTX_load_verify_locations(ctx_, tls.ca().c_str(), nullptr) == 1,
            "cannot load the CA certificate in " + tls.ca());
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    // A write takes all of CAF's buffer (records until the socket is full);
    // one that would block is retried with the same bytes (CAF keeps them
    // where they are). Partial writes would return after every 16 KB record:
    // one turn of the network loop each.
    SSL_CTX_set_mode(ctx_, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx_, 1);
    SSL_CTX_set_default_read_buffer_len(ctx_, read_buffer_bytes);
    // Connections are long-lived and never resumed: no session tickets.
    SSL_CTX_set_num_tickets(ctx_, 0);
  }
  ~TlsContext() { SSL_CTX_free(ctx_); }
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  /// A session on the connected socket `fd`, as its client or its server.
  [[nodiscard]] SSL* new_session(native_socket fd, bool client) const {
    SSL* ssl = SSL_new(ctx_);
    if (ssl == nullptr) return nullptr;
    BIO* in = BIO_new_socket(static_cast<int>(fd), BIO_NOCLOSE);
    if (in == nullptr) {
      SSL_free(ssl);
      return nullptr;
    }
    SSL_set0_rbio(ssl, in);  // what it writes goes to the session's buffer (TlsSession)
    if (client)
      SSL_set_connect_state(ssl);
    else
      SSL_set_accept_state(ssl);
    return ssl;
  }

 private:
  SSL_CTX* ctx_;
};

/// What a process authenticates with: its TLS context, and with a cluster
/// secret also the key of the secret's handshake (for loopback peers); neither
/// for an --insecure process, whose connections are plain BASP.
struct Credentials {
  explicit Credentials(const TlsFiles& files) {
    if (!files.enabled()) return;
    tls.emplace(files);
    if (!files.secret.empty()) secret_key = key_of_secret(files.secret);
  }
  [[nodiscard]] bool insecure() const { return !tls.has_value(); }
  std::optional<TlsContext> tls;
  std::optional<SecretHandshake::Key> secret_key;
};

using CredentialsPtr = std::shared_ptr<const Credentials>;

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

  /// Reads or writes BASP's bytes: `success` with `done` bytes (0: not now,
  /// the socket would block), or `failure` (the peer closed, or the session
  /// broke).
  virtual rw_state read(size_t& done, void* buf, size_t len) = 0;
  virtual rw_state write(size_t& done, const void* buf, size_t len) = 0;

  /// Whether bytes of the handshake still wait to be sent.
  [[nodiscard]] virtual bool output_waits() const = 0;
  /// Whether the session holds data read from the socket that no read took
  /// yet: then the socket may never signal it again, so reading goes on.
  [[nodiscard]] virtual bool has_buffered_data() const = 0;
};

/// A plain socket call's result as CAF's stream wants it.
rw_state socket_result(size_t& done, ssize_t n) {
  done = 0;
  if (n > 0) {
    done = static_cast<size_t>(n);
    return rw_state::success;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return rw_state::success;
  return rw_state::failure;  // closed by the peer (0), or broken
}

/// Plain BASP, read and written as CAF's own TCP connections are: an
/// --insecure process's connections.
class PlainSession final : public Session {
 public:
  explicit PlainSession(native_socket fd) : fd_(fd) {}
  [[nodiscard]] bool handshaking() const override { return false; }
  Step advance_handshake() override { return Step::done; }
  [[nodiscard]] bool refused() const override { return false; }
  [[nodiscard]] const std::string& failure() const override { return none_; }
  rw_state read(size_t& done, void* buf, size_t len) override {
    return socket_result(done, ::recv(fd_, buf, len, 0));
  }
  rw_state write(size_t& done, const void* buf, size_t len) override {
    return socket_result(done, ::send(fd_, buf, len, MSG_NOSIGNAL));
  }
  [[nodiscard]] bool output_waits() const override { return false; }
  [[nodiscard]] bool has_buffered_data() const override { return false; }

 private:
  native_socket fd_;
  std::string none_;
};

/// A connection on loopback: the cluster secret's handshake, then BASP in
/// plain, read and written as CAF's own TCP connections are.
class SecretSession final : public Session {
 public:
  SecretSession(native_socket fd, SecretHandshake::Role role, const SecretHandshake::Key& key,
                std::string refusal = {})
      : fd_(fd), handshake_(role, key, std::move(refusal)) {}

  [[nodiscard]] bool handshaking() const override { return handshaking_; }

  Step advance_handshake() override {
    for (;;) {
      auto& out = handshake_.output();
      while (!out.empty()) {
        const auto n = ::send(fd_, out.data(), out.size(), MSG_NOSIGNAL);
        if (n > 0) {
          out.erase(out.begin(), out.begin() + n);
        } else if (n < 0 && errno == EINTR) {
          continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          // A few dozen bytes on a new connection: only the connecting side
          // (which polls) could ever wait here. An accepting side that did
          // would be cut by its doorman's deadline.
          return Step::wants_write;
        } else {
          return broke();
        }
      }
      switch (handshake_.state()) {
        case SecretHandshake::State::done:
          handshaking_ = false;
          return Step::done;
        case SecretHandshake::State::refused:
          refused_ = true;
          failure_ = handshake_.failure();
          return Step::failed;
        case SecretHandshake::State::running:
          break;
      }
      // Only what the handshake wants: the bytes after it are BASP's.
      unsigned char buf[256];
      const auto n = ::recv(fd_, buf, std::min(sizeof buf, handshake_.wanted()), 0);
      if (n > 0)
        handshake_.feed(buf, static_cast<size_t>(n));
      else if (n < 0 && errno == EINTR)
        continue;
      else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return Step::wants_read;
      else
        return broke();
    }
  }

  [[nodiscard]] bool refused() const override { return refused_; }
  [[nodiscard]] const std::string& failure() const override { return failure_; }

  rw_state read(size_t& done, void* buf, size_t len) override {
    return socket_result(done, ::recv(fd_, buf, len, 0));
  }
  rw_state write(size_t& done, const void* buf, size_t len) override {
    return socket_result(done, ::send(fd_, buf, len, MSG_NOSIGNAL));
  }

  [[nodiscard]] bool output_waits() const override {
    return !const_cast<SecretHandshake&>(handshake_).output().empty();
  }
  [[nodiscard]] bool has_buffered_data() const override { return false; }

 private:
  Step broke() {
    refused_ = false;
    failure_ = "the connection closed during the handshake";
    return Step::failed;
  }

  native_socket fd_;
  SecretHandshake handshake_;
  bool handshaking_ = true;
  bool refused_ = false;
  std::string failure_;
};

/// A TLS 1.3 session and where its handshake stands.
class TlsSession final : public Session {
 public:
  TlsSession(SSL* ssl, native_socket fd) : ssl_(ssl), fd_(fd) {
    BIO* out = BIO_new(output_method());
    BIO_set_data(out, &out_);
    BIO_set_init(out, 1);
    SSL_set0_wbio(ssl_, out);
  }
  ~TlsSession() override { SSL_free(ssl_); }
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  [[nodiscard]] bool handshaking() const override { return handshaking_; }

  Step advance_handshake() override {
    ERR_clear_error();
    const int result = SSL_do_handshake(ssl_);
    if (!send_output() && broken_) {
      failure_ = "the connection closed during the TLS handshake";
      return Step::failed;
    }
    if (result == 1) {
      handshaking_ = false;
      return Step::done;
    }
    switch (SSL_get_error(ssl_, result)) {
      case SSL_ERROR_WANT_READ:
        return Step::wants_read;
      case SSL_ERROR_WANT_WRITE:
        return Step::wants_write;
      case SSL_ERROR_SSL:  // the peer's credentials, or what it sent, refused
        refused_ = true;
        failure_ = openssl_errors();
        if (const long verify = SSL_get_verify_result(ssl_); verify != X509_V_OK)
          failure_ += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
        return Step::failed;
      default:  // the connection broke (closed, reset) before the handshake was done
        refused_ = false;
        failure_ = "the connection closed during the TLS handshake";
        ERR_clear_error();
        return Step::failed;
    }
  }

  /// Refused: by the TLS layer (wrong credentials, not TLS), in OpenSSL's words.
  [[nodiscard]] bool refused() const override { return refused_; }
  [[nodiscard]] const std::string& failure() const override { return failure_; }

  rw_state read(size_t& done, void* buf, size_t len) override {
    ERR_clear_error();
    const rw_state state = transfer(done, SSL_read(ssl_, buf, clamp(len)));
    if (!out_.empty()) send_output();  // what reading made OpenSSL say (an alert)
    return state;
  }

  /// Encrypts up to `write_chunk` bytes of `buf` and sends them. `done` counts
  /// plaintext bytes only once their records have all left: until then the
  /// caller (CAF's stream, which offers the same bytes again) hears 0, and the
  /// records still waiting go out first.
  rw_state write(size_t& done, const void* buf, size_t len) override {
    ERR_clear_error();
    done = 0;
    if (owed_ == 0) {
      const int taken = SSL_write(ssl_, buf, clamp(std::min(len, write_chunk)));
      if (taken <= 0) return transfer(done, taken);
      owed_ = static_cast<size_t>(taken);
    }
    if (!send_output()) return broken_ ? rw_state::failure : rw_state::success;
    done = owed_;
    owed_ = 0;
    return rw_state::success;
  }

  /// Sends the records OpenSSL wrote; true once none waits. False if the
  /// socket would block (`broken_` false) or failed (`broken_` true).
  bool send_output() {
    while (sent_ < out_.size()) {
      const auto n = ::send(fd_, out_.data() + sent_, out_.size() - sent_, MSG_NOSIGNAL);
      if (n > 0) {
        sent_ += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        broken_ = !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
        return false;
      }
    }
    out_.clear();
    sent_ = 0;
    return true;
  }
  [[nodiscard]] bool output_waits() const override { return sent_ < out_.size(); }

  [[nodiscard]] bool has_buffered_data() const override { return SSL_has_pending(ssl_) == 1; }

 private:
  static int clamp(size_t len) {
    return static_cast<int>(std::min<size_t>(len, static_cast<size_t>(INT32_MAX)));
  }

  rw_state transfer(size_t& done, int result) {
    done = 0;
    if (result > 0) {
      done = static_cast<size_t>(result);
      return rw_state::success;
    }
    switch (SSL_get_error(ssl_, result)) {
      case SSL_ERROR_WANT_READ:
      case SSL_ERROR_WANT_WRITE:
        return rw_state::success;
      default:
        ERR_clear_error();
        return rw_state::failure;
    }
  }

  /// OpenSSL writes its records here (a BIO of our own), and the session sends
  /// them in as few send() calls as the socket takes: OpenSSL's socket BIO
  /// would make one system call per 16 KB record.
  static BIO_METHOD* output_method() {
    static BIO_METHOD* method = [] {
      BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sage.tls_out");
      BIO_meth_set_write(m, [](BIO* bio, const char* data, int len) {
        static_cast<std::vector<char>*>(BIO_get_data(bio))
            ->insert(static_cast<std::vector<char>*>(BIO_get_data(bio))->end(), data, data + len);
        return len;
      });
      BIO_meth_set_ctrl(m, [](BIO*, int cmd, long, void*) -> long {
        return cmd == BIO_CTRL_FLUSH ? 1 : 0;  // sending is the session's business
      });
      return m;
    }();
    return method;
  }

  /// Plaintext bytes per write call: CAF's buffer is taken in pieces of this
  /// size (their records wait in `out_` until the socket takes them).
  static constexpr size_t write_chunk = 256 * 1024;

  SSL* ssl_;
  native_socket fd_;
  bool handshaking_ = true;
  bool refused_ = false;
  std::string failure_;
  std::vector<char> out_;  ///< records to send, from `sent_` on
  size_t sent_ = 0;
  size_t owed_ = 0;  ///< plaintext bytes encrypted into `out_`, not yet reported done
  bool broken_ = false;
};

/// An accepted connection, until the client's first byte says which session
/// it is: 0x16 opens a TLS handshake, anything else is the cluster secret's
/// handshake (allowed in plain from loopback peers only). Then the chosen
/// session does everything.
class AcceptedSession final : public Session {
 public:
  AcceptedSession(native_socket fd, CredentialsPtr credentials)
      : fd_(fd), credentials_(std::move(credentials)) {}

  [[nodiscard]] bool handshaking() const override {
    return chosen_ == nullptr || chosen_->handshaking();
  }

  Step advance_handshake() override {
    if (chosen_ == nullptr) {
      if (auto undecided = choose()) return *undecided;
    }
    return chosen_->advance_handshake();
  }

  [[nodiscard]] bool refused() const override { return chosen_ ? chosen_->refused() : refused_; }
  [[nodiscard]] const std::string& failure() const override {
    return chosen_ ? chosen_->failure() : failure_;
  }
  // Reached only once the handshake is done, so with a chosen session.
  rw_state read(size_t& done, void* buf, size_t len) override {
    return chosen_->read(done, buf, len);
  }
  rw_state write(size_t& done, const void* buf, size_t len) override {
    return chosen_->write(done, buf, len);
  }
  [[nodiscard]] bool output_waits() const override { return chosen_ && chosen_->output_waits(); }
  [[nodiscard]] bool has_buffered_data() const override {
    return chosen_ && chosen_->has_buffered_data();
  }

 private:
  /// Chooses the session from the client's first byte (peeked, left for it);
  /// what to report while there is none yet, or if none fits.
  std::optional<Step> choose() {
    constexpr unsigned char tls_handshake_record = 0x16;
    unsigned char first = 0;
    const auto n = ::recv(fd_, &first, 1, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
      return Step::wants_read;
    if (n <= 0) {
      failure_ = "the connection closed during the handshake";
      return Step::failed;
    }
    if (first == tls_handshake_record) {
      SSL* ssl = credentials_->tls->new_session(fd_, false);
      if (ssl == nullptr) {
        failure_ = "cannot start a TLS session: " + openssl_errors();
        return Step::failed;
      }
      chosen_ = std::make_unique<TlsSession>(ssl, fd_);
    } else if (credentials_->secret_key && first == SecretHandshake::first_byte) {
      chosen_ = std::make_unique<SecretSession>(fd_, SecretHandshake::Role::server,
                                                *credentials_->secret_key, plaintext_refusal(fd_));
    } else if (first == SecretHandshake::first_byte) {  // told, not just dropped
      chosen_ = std::make_unique<SecretSession>(
          fd_, SecretHandshake::Role::server, SecretHandshake::Key{},
          "this node authenticates with TLS certificates (--tls-dir), not a cluster secret");
    } else {
      refused_ = true;
      failure_ = "the peer speaks neither TLS nor the cluster secret's handshake";
      return Step::failed;
    }
    return std::nullopt;
  }

  native_socket fd_;
  CredentialsPtr credentials_;
  std::unique_ptr<Session> chosen_;
  bool refused_ = false;
  std::string failure_;
};

class SessionScribe;

/// How CAF's stream reads and writes an authenticated socket (the policy of
/// `stream_impl`). While the handshake runs, read events advance it; once it
/// is done, the scribe lets out what BASP queued meanwhile.
class SessionStreamPolicy {
 public:
  SessionStreamPolicy(std::unique_ptr<Session> session, SessionScribe* owner)
      : session_(std::move(session)), owner_(owner) {}

  rw_state read_some(size_t& result, native_socket, void* buf, size_t len);
  rw_state write_some(size_t& result, native_socket, const void* buf, size_t len);

  /// Asked when CAF's read loop has had its turns: go on only for data that
  /// OpenSSL holds and the socket no longer signals (at most one read-ahead
  /// buffer). While the socket has more, epoll wakes the loop again, so this
  /// connection yields to the others.
  bool must_read_more(native_socket fd, size_t) {
    if (!session_->has_buffered_data()) return false;
    int queued = 0;
    return ioctl(fd, FIONREAD, &queued) != 0 || queued == 0;
  }

 private:
  /// While the handshake runs: takes it a step on; what to report if it is
  /// not done (`meanwhile`) or failed. Nothing once it is done.
  std::optional<rw_state> advance_handshake(rw_state meanwhile);

  std::unique_ptr<Session> session_;
  SessionScribe* owner_;
};

/// An authenticated connection of a broker (BASP's).
class SessionScribe final : public caf::io::scribe {
 public:
  SessionScribe(default_multiplexer& mpx, native_socket fd, std::unique_ptr<Session> session)
      : caf::io::scribe(unique_handle()),
        established_(!session->handshaking()),
        stream_(mpx, fd, std::move(session), this) {}

  void configure_read(caf::io::receive_policy::config config) override {
    stream_.configure_read(config);
    if (!launched_) {
      launched_ = true;
      stream_.start(this);
    }
  }
  void ack_writes(bool enable) override { stream_.ack_writes(enable); }
  std::vector<char>& wr_buf() override { return stream_.wr_buf(); }
  std::vector<char>& rd_buf() override { return stream_.rd_buf(); }
  void graceful_shutdown() override {
    if (!established_) {  // what BASP queued meanwhile never goes out
      flush_held_ = false;
      stream_.wr_buf().clear();
    }
    stream_.graceful_shutdown();
    detach(&stream_.backend(), false);
  }
  void flush() override {
    // Until the handshake is done, what BASP writes waits in the buffer:
    // asking for write events now would only spin (the socket is writable,
    // the session cannot write yet).
    if (established_)
      stream_.flush(this);
    else
      flush_held_ = true;
  }
  std::string addr() const override {
    auto x = caf::io::network::remote_addr_of_fd(stream_.fd());
    return x ? *x : std::string{};
  }
  uint16_t port() const override {
    auto x = caf::io::network::remote_port_of_fd(stream_.fd());
    return x ? *x : 0;
  }
  // Not called by BASP. Note for other brokers: data already in OpenSSL's
  // read-ahead buffer when reading is paused signals nothing on resumption.
  void add_to_loop() override { stream_.activate(this); }
  void remove_from_loop() override { stream_.passivate(); }

  /// The handshake is done: what was held back goes out.
  void established() {
    established_ = true;
    if (flush_held_ && !detached()) stream_.flush(this);
    flush_held_ = false;
  }

  /// Whether the handshake still runs (an accepted connection's).
  [[nodiscard]] bool handshaking() const { return !established_; }
  /// Ends the connection: its next read fails, and BASP closes it.
  void cut() { ::shutdown(stream_.fd(), SHUT_RDWR); }

 private:
  /// A handle no other connection of the process ever had. CAF names a
  /// connection by its socket's number, which the kernel hands to the next
  /// accepted connection as soon as the old socket closes; BASP cleans up
  /// after a closed connection later (behind the messages it still
  /// deserializes), by handle, so under load it erased the state of the new
  /// connection that had the old one's number: the new peer's requests were
  /// served and their answers dropped (a program's second job asking the head
  /// for its program, a task host asking the submitter, timed out after 60 s).
  static caf::io::connection_handle unique_handle() {
    static std::atomic<int64_t> next{int64_t{1} << 32};  // above every socket number
    return caf::io::connection_handle::from_int(next.fetch_add(1));
  }

  bool launched_ = false;
  bool established_;
  bool flush_held_ = false;
  caf::io::network::stream_impl<SessionStreamPolicy> stream_;
};

std::optional<rw_state> SessionStreamPolicy::advance_handshake(rw_state meanwhile) {
  if (!session_->handshaking()) return std::nullopt;
  switch (session_->advance_handshake()) {
    case Session::Step::failed:
      // The peer hears the end at once (what the session had to say, an
      // alert or a refusal, went out first); BASP drops the connection, and
      // the socket closes once the doorman lets go of it too.
      owner_->cut();
      return rw_state::failure;
    case Session::Step::wants_read:
    case Session::Step::wants_write:
      return meanwhile;
    case Session::Step::done:
      owner_->established();
      break;
  }
  return std::nullopt;
}

rw_state SessionStreamPolicy::read_some(size_t& result, native_socket, void* buf, size_t len) {
  result = 0;
  if (auto state = advance_handshake(rw_state::success)) return *state;  // nothing read yet
  if (len == 0) return rw_state::indeterminate;
  return session_->read(result, buf, len);
}

rw_state SessionStreamPolicy::write_some(size_t& result, native_socket, const void* buf,
                                         size_t len) {
  result = 0;
  // Not reached while the handshake runs: the scribe holds writes back until then.
  if (auto state = advance_handshake(len == 0 ? rw_state::indeterminate : rw_state::success))
    return *state;
  if (len == 0) return rw_state::indeterminate;
  return session_->write(result, buf, len);
}

/// Accepts connections on a listening socket and starts a server session on
/// each; its handshake goes on as the client's messages arrive.
class SessionDoorman final : public caf::io::network::doorman_impl {
 public:
  SessionDoorman(default_multiplexer& mpx, native_socket fd, CredentialsPtr credentials)
      : caf::io::network::doorman_impl(mpx, fd), credentials_(std::move(credentials)) {}

  bool new_connection() override {
    const native_socket fd = acceptor_.accepted_socket();
    if (detached()) {  // the broker let go of us; the loop has not yet
      caf::io::network::close_socket(fd);
      return false;
    }
    auto& mpx = acceptor_.backend();
    cut_stalled_handshakes();
    caf::io::network::nonblocking(fd, true);
    caf::io::network::keepalive(fd, true);  // as CAF's own connections
    std::unique_ptr<Session> session;
    if (credentials_->insecure())
      session = std::make_unique<PlainSession>(fd);
    else
      session = std::make_unique<AcceptedSession>(fd, credentials_);
    // The client's first message is usually here already: answer it now.
    if (session->advance_handshake() == Session::Step::failed) {
      session.reset();
      caf::io::network::close_socket(fd);
      return true;  // a refused peer; the doorman goes on accepting
    }
    // (A TLS handshake step that waits to write, its flight filling the
    // socket, goes on with the client's next message: the flight is a few KB.)
    auto scribe = caf::make_counted<SessionScribe>(mpx, fd, std::move(session));
    auto hdl = scribe->hdl();
    handshaking_.push_back({scribe, std::chrono::steady_clock::now() + accept_patience});
    parent()->add_scribe(std::move(scribe));
    return doorman::new_connection(&mpx, hdl);
  }

 private:
  struct Handshaking {
    caf::intrusive_ptr<SessionScribe> scribe;
    std::chrono::steady_clock::time_point deadline;
  };

  /// Closes the accepted connections whose handshake outlived its deadline,
  /// and forgets those that finished. Swept at every new connection (no
  /// timer): a flood of silent peers is cut as it goes on.
  void cut_stalled_handshakes() {
    const auto now = std::chrono::steady_clock::now();
    auto kept = handshaking_.begin();
    for (auto& h : handshaking_) {
      if (h.scribe->detached() || !h.scribe->handshaking()) continue;
      if (now >= h.deadline) {
        h.scribe->cut();
        continue;
      }
      *kept++ = std::move(h);
    }
    handshaking_.erase(kept, handshaking_.end());
  }

  CredentialsPtr credentials_;
  std::vector<Handshaking> handshaking_;
};

/// CAF's middleman actor, with authenticated connections: `connect_atom` and
/// `publish_atom` requests behave as CAF's.
class SecureMiddleman final : public caf::io::middleman_actor_impl {
 public:
  SecureMiddleman(caf::actor_config& cfg, caf::actor basp, CredentialsPtr credentials)
      : caf::io::middleman_actor_impl(cfg, std::move(basp)), credentials_(std::move(credentials)) {}

  const char* name() const override { return "sage.secure_middleman"; }

 protected:
  caf::expected<caf::io::scribe_ptr> connect(const std::string& host, uint16_t port) override {
    auto fd = caf::io::network::new_tcp_connection(host, port);
    if (!fd) return std::move(fd.error());
    caf::io::network::nonblocking(*fd, true);
    caf::io::network::keepalive(*fd, true);  // as CAF's own connections
    if (credentials_->insecure())
      return caf::make_counted<SessionScribe>(mpx(), *fd, std::make_unique<PlainSession>(*fd));
    std::unique_ptr<Session> session;
    // Plain after the secret's handshake only with a process of this user on
    // this machine; through anything else (a relay on a port that was ours) TLS.
    if (credentials_->secret_key && plaintext_refusal(*fd).empty()) {
      session = std::make_unique<SecretSession>(*fd, SecretHandshake::Role::client,
                                                *credentials_->secret_key);
    } else {
      SSL* ssl = credentials_->tls->new_session(*fd, true);
      if (ssl == nullptr) {
        caf::io::network::close_socket(*fd);
        return caf::make_error(caf::sec::cannot_connect_to_node,
                               "cannot start a TLS session: " + openssl_errors());
      }
      session = std::make_unique<TlsSession>(ssl, *fd);
    }
    // This thread may wait: the handshake finishes here, in poll(), not in
    // the network loop.
    const auto deadline = std::chrono::steady_clock::now() + handshake_patience;
    for (;;) {
      short wanted = 0;
      switch (session->advance_handshake()) {
        case Session::Step::done:
          if (!session->output_waits())
            return caf::make_counted<SessionScribe>(mpx(), *fd, std::move(session));
          wanted = POLLOUT;  // its last records have not all left yet
          break;
        case Session::Step::failed: {
          // Refused: final (`explain` says so). Broken: a busy or restarting
          // peer, tried again by `connect_to` as a timeout is.
          auto err =
              session->refused()
                  ? caf::make_error(caf::sec::disconnect_during_handshake, session->failure())
                  : caf::make_error(caf::sec::connection_timeout, session->failure());
          session.reset();
          caf::io::network::close_socket(*fd);
          return err;
        }
        case Session::Step::wants_read:
          wanted = POLLIN;
          break;
        case Session::Step::wants_write:
          wanted = POLLOUT;
          break;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd socket{static_cast<int>(*fd), wanted, 0};
      if (left.count() <= 0 ||
          (poll(&socket, 1, static_cast<int>(left.count())) < 0 && errno != EINTR)) {
        session.reset();
        caf::io::network::close_socket(*fd);
        return caf::make_error(caf::sec::connection_timeout, "the handshake took too long");
      }
    }
  }

  caf::expected<caf::io::doorman_ptr> open(uint16_t port, const char* addr, bool reuse) override {
    auto fd = caf::io::network::new_tcp_acceptor_impl(port, addr, reuse);
    if (!fd) return std::move(fd.error());
    return caf::make_counted<SessionDoorman>(mpx(), *fd, credentials_);
  }

 private:
  default_multiplexer& mpx() {
    return static_cast<default_multiplexer&>(system().middleman().backend());
  }

  CredentialsPtr credentials_;
};

/// Which actor system has which secure middleman (set while the module runs).
std::mutex transports_mutex;
std::map<const caf::actor_system*, caf::io::middleman_actor> transports;

caf::io::middleman_actor transport_of(caf::actor_system& system) {
  std::lock_guard<std::mutex> guard{transports_mutex};
  auto i = transports.find(&system);
  return i == transports.end() ? caf::io::middleman_actor{} : i->second;
}

/// Starts the secure middleman with the actor system (after CAF's middleman,
/// whose BASP broker it hands connections to) and ends it before.
class SecureTransportModule final : public caf::actor_system::module {
 public:
  SecureTransportModule(caf::actor_system& system, CredentialsPtr credentials)
      : system_(system), credentials_(std::move(credentials)) {}

  void init(caf::actor_system_config&) override {}
  void start() override {
    auto basp = system_.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
    actor_ =
        system_.spawn<SecureMiddleman, caf::detached + caf::hidden>(std::move(basp), credentials_);
    std::lock_guard<std::mutex> guard{transports_mutex};
    transports[&system_] = actor_;
  }
  void stop() override {
    {
      std::lock_guard<std::mutex> guard{transports_mutex};
      transports.erase(&system_);
    }
    if (!actor_) return;
    caf::scoped_actor self{system_, true};
    self->send_exit(actor_, caf::exit_reason::kill);
    self->wait_for(actor_);
    actor_ = nullptr;
  }
  // The slot of CAF's openssl module, which a system with this one never loads.
  id_t id() const override { return openssl_manager; }
  void* subtype_ptr() override { return this; }

 private:
  caf::actor_system& system_;
  CredentialsPtr credentials_;
  caf::io::middleman_actor actor_;
};

}  // namespace

void load_secure_transport(caf::actor_system_config& cfg, const TlsFiles& tls) {
  auto credentials = std::make_shared<const Credentials>(tls);
  cfg.module_factories.push_back(
      [credentials](caf::actor_system& system) -> caf::actor_system::module* {
        return new SecureTransportModule(system, credentials);
      });
}

caf::expected<uint16_t> secure_publish(caf::actor_system& system, const caf::actor& whom,
                                       const std::string& bind, uint16_t port, bool reuse_address) {
  auto transport = transport_of(system);
  if (!transport) return caf::make_error(caf::sec::feature_disabled);
  caf::expected<uint16_t> result{caf::make_error(caf::sec::cannot_open_port)};
  caf::scoped_actor self{system};
  self->request(transport, request_patience, caf::publish_atom::value, port,
                caf::actor_cast<caf::strong_actor_ptr>(whom), std::set<std::string>{}, bind,
                reuse_address)
      .receive([&](uint16_t bound) { result = bound; },
               [&](caf::error& err) { result = std::move(err); });
  return result;
}

caf::expected<caf::actor> secure_connect(caf::actor_system& system, const std::string& host,
                                         uint16_t port) {
  auto transport = transport_of(system);
  if (!transport) return caf::make_error(caf::sec::feature_disabled);
  caf::expected<caf::actor> result{caf::make_error(caf::sec::cannot_connect_to_node)};
  caf::scoped_actor self{system};
  self->request(transport, request_patience, caf::connect_atom::value, host, port)
      .receive(
          [&](const caf::node_id&, caf::strong_actor_ptr& peer, const std::set<std::string>&) {
            if (peer)
              result = caf::actor_cast<caf::actor>(std::move(peer));
            else
              result = caf::make_error(caf::sec::no_actor_published_at_port);
          },
          [&](caf::error& err) { result = std::move(err); });
  return result;
}

}  // namespace sage::actors
