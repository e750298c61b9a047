// The sessions of authenticated connections (transport_sessions.hpp): TLS 1.3
// with OpenSSL, the cluster secret's handshake then plain bytes, plain bytes
// (--insecure), and the accepting side's choice between them. No CAF: the
// transport's CAF side is secure_transport.cpp.

#include <sage/actors/transport_sessions.hpp>

#include <sys/socket.h>

#include <cerrno>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <sage/actors/secret_handshake.hpp>

#include "loopback_peer.hpp"

namespace sage::actors {

namespace {

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

}  // namespace

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
  [[nodiscard]] SSL* new_session(int fd, bool client) const {
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

namespace {

/// A plain socket call's result as a session reports it.
IoResult socket_result(size_t& done, ssize_t n) {
  done = 0;
  if (n > 0) {
    done = static_cast<size_t>(n);
    return IoResult::ok;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return IoResult::ok;
  return IoResult::broken;  // closed by the peer (0), or broken
}

/// BASP's bytes read and written as CAF's own TCP connections do (plain and
/// secret sessions alike).
IoResult plain_read(int fd, size_t& done, void* buf, size_t len) {
  return socket_result(done, ::recv(fd, buf, len, 0));
}
IoResult plain_write(int fd, size_t& done, const void* buf, size_t len) {
  return socket_result(done, ::send(fd, buf, len, MSG_NOSIGNAL));
}

/// Plain BASP, read and written as CAF's own TCP connections are: an
/// --insecure process's connections.
class PlainSession final : public Session {
 public:
  explicit PlainSession(int fd) : fd_(fd) {}
  [[nodiscard]] bool handshaking() const override { return false; }
  Step advance_handshake() override { return Step::done; }
  [[nodiscard]] bool refused() const override { return false; }
  [[nodiscard]] const std::string& failure() const override { return none_; }
  IoResult read(size_t& done, void* buf, size_t len) override {
    return plain_read(fd_, done, buf, len);
  }
  IoResult write(size_t& done, const void* buf, size_t len) override {
    return plain_write(fd_, done, buf, len);
  }
  [[nodiscard]] bool output_waits() const override { return false; }
  [[nodiscard]] bool has_buffered_data() const override { return false; }

 private:
  int fd_;
  std::string none_;
};

/// A connection on loopback: the cluster secret's handshake, then BASP in
/// plain, read and written as CAF's own TCP connections are.
class SecretSession final : public Session {
 public:
  SecretSession(int fd, SecretHandshake::Role role, const SecretHandshake::Key& key,
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

  IoResult read(size_t& done, void* buf, size_t len) override {
    return plain_read(fd_, done, buf, len);
  }
  IoResult write(size_t& done, const void* buf, size_t len) override {
    return plain_write(fd_, done, buf, len);
  }

  [[nodiscard]] bool output_waits() const override { return !handshake_.output().empty(); }
  [[nodiscard]] bool has_buffered_data() const override { return false; }

 private:
  Step broke() {
    refused_ = false;
    failure_ = "the connection closed during the handshake";
    return Step::failed;
  }

  int fd_;
  SecretHandshake handshake_;
  bool handshaking_ = true;
  bool refused_ = false;
  std::string failure_;
};

/// A TLS 1.3 session and where its handshake stands.
class TlsSession final : public Session {
 public:
  TlsSession(SSL* ssl, int fd) : ssl_(ssl), fd_(fd) {
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

  IoResult read(size_t& done, void* buf, size_t len) override {
    ERR_clear_error();
    const IoResult state = transfer(done, SSL_read(ssl_, buf, clamp(len)));
    if (!out_.empty()) send_output();  // what reading made OpenSSL say (an alert)
    return state;
  }

  /// Encrypts up to `write_chunk` bytes of `buf` and sends them. `done` counts
  /// plaintext bytes only once their records have all left: until then the
  /// caller (CAF's stream, which offers the same bytes again) hears 0, and the
  /// records still waiting go out first.
  IoResult write(size_t& done, const void* buf, size_t len) override {
    ERR_clear_error();
    done = 0;
    if (owed_ == 0) {
      const int taken = SSL_write(ssl_, buf, clamp(std::min(len, write_chunk)));
      if (taken <= 0) return transfer(done, taken);
      owed_ = static_cast<size_t>(taken);
    }
    if (!send_output()) return broken_ ? IoResult::broken : IoResult::ok;
    done = owed_;
    owed_ = 0;
    return IoResult::ok;
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

  IoResult transfer(size_t& done, int result) {
    done = 0;
    if (result > 0) {
      done = static_cast<size_t>(result);
      return IoResult::ok;
    }
    switch (SSL_get_error(ssl_, result)) {
      case SSL_ERROR_WANT_READ:
      case SSL_ERROR_WANT_WRITE:
        return IoResult::ok;
      default:
        ERR_clear_error();
        return IoResult::broken;
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
  int fd_;
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
  AcceptedSession(int fd, CredentialsPtr credentials)
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
  IoResult read(size_t& done, void* buf, size_t len) override {
    return chosen_->read(done, buf, len);
  }
  IoResult write(size_t& done, const void* buf, size_t len) override {
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

  int fd_;
  CredentialsPtr credentials_;
  std::unique_ptr<Session> chosen_;
  bool refused_ = false;
  std::string failure_;
};

}  // namespace

Credentials::Credentials(const TlsFiles& files) {
  if (!files.enabled()) return;
  tls = std::make_unique<TlsContext>(files);
  if (!files.secret.empty()) secret_key = key_of_secret(files.secret);
}

Credentials::~Credentials() = default;

std::unique_ptr<Session> connecting_session(int fd, const Credentials& credentials,
                                            std::string& error) {
  if (credentials.insecure()) return std::make_unique<PlainSession>(fd);
  // Plain after the secret's handshake only with a process of this user on
  // this machine; through anything else (a relay on a port that was ours) TLS.
  if (credentials.secret_key && plaintext_refusal(fd).empty())
    return std::make_unique<SecretSession>(fd, SecretHandshake::Role::client,
                                           *credentials.secret_key);
  SSL* ssl = credentials.tls->new_session(fd, true);
  if (ssl == nullptr) {
    error = "cannot start a TLS session: " + openssl_errors();
    return nullptr;
  }
  return std::make_unique<TlsSession>(ssl, fd);
}

std::unique_ptr<Session> accepted_session(int fd, const CredentialsPtr& credentials) {
  if (credentials->insecure()) return std::make_unique<PlainSession>(fd);
  return std::make_unique<AcceptedSession>(fd, credentials);
}

}  // namespace sage::actors
