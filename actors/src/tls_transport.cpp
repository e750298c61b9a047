// Mutual TLS under CAF's network layer: connections are TLS 1.3 sessions of
// one OpenSSL context per process, carrying CAF's BASP as its plain TCP
// connections do. It takes the place of CAF 0.17.6's openssl module, whose
// flaws cost a busy cluster dearly (docs/operations.md, "Mutual TLS"):
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
// and open() make TLS scribes and doormen, started by an actor-system module
// (in the slot of CAF's openssl module, which is not loaded).

#include "tls_transport.hpp"

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

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
/// How long a publish or connect request to the TLS middleman may take: a TCP
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

using TlsContextPtr = std::shared_ptr<const TlsContext>;

/// One TLS session and where its handshake stands.
class TlsSession {
 public:
  enum class Step { done, wants_read, wants_write, failed };

  TlsSession(SSL* ssl, native_socket fd, bool handshaking)
      : ssl_(ssl), fd_(fd), handshaking_(handshaking) {
    BIO* out = BIO_new(output_method());
    BIO_set_data(out, &out_);
    BIO_set_init(out, 1);
    SSL_set0_wbio(ssl_, out);
  }
  ~TlsSession() { SSL_free(ssl_); }
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  [[nodiscard]] bool handshaking() const { return handshaking_; }

  /// Takes the handshake as far as it goes without waiting.
  Step advance_handshake() {
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

  /// After a failed handshake: whether the TLS layer refused it (wrong
  /// credentials, not TLS), or the connection broke; and OpenSSL's words.
  [[nodiscard]] bool refused() const { return refused_; }
  [[nodiscard]] const std::string& failure() const { return failure_; }

  /// Reads or writes application data: `success` with `done` bytes (0: not
  /// now, the socket would block), or `failure` (the peer closed, or the
  /// session broke).
  rw_state read(size_t& done, void* buf, size_t len) {
    const rw_state state = transfer(done, SSL_read(ssl_, buf, clamp(len)));
    if (!out_.empty()) send_output();  // what reading made OpenSSL say (an alert)
    return state;
  }

  /// Encrypts up to `write_chunk` bytes of `buf` and sends them. `done` counts
  /// plaintext bytes only once their records have all left: until then the
  /// caller (CAF's stream, which offers the same bytes again) hears 0, and the
  /// records still waiting go out first.
  rw_state write(size_t& done, const void* buf, size_t len) {
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
  [[nodiscard]] bool output_waits() const { return sent_ < out_.size(); }

  /// Whether OpenSSL holds data read from the socket that no read took yet:
  /// then the socket may never signal it again, so reading goes on.
  [[nodiscard]] bool has_buffered_data() const { return SSL_has_pending(ssl_) == 1; }

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
  bool handshaking_;
  bool refused_ = false;
  std::string failure_;
  std::vector<char> out_;  ///< records to send, from `sent_` on
  size_t sent_ = 0;
  size_t owed_ = 0;  ///< plaintext bytes encrypted into `out_`, not yet reported done
  bool broken_ = false;
};

class TlsScribe;

/// How CAF's stream reads and writes a TLS socket (the policy of
/// `stream_impl`). While the handshake runs, read events advance it; once it
/// is done, the scribe lets out what BASP queued meanwhile.
class TlsStreamPolicy {
 public:
  TlsStreamPolicy(std::unique_ptr<TlsSession> session, TlsScribe* owner)
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

  std::unique_ptr<TlsSession> session_;
  TlsScribe* owner_;
};

/// A connection of a broker (BASP's) over TLS.
class TlsScribe final : public caf::io::scribe {
 public:
  TlsScribe(default_multiplexer& mpx, native_socket fd, std::unique_ptr<TlsSession> session)
      : caf::io::scribe(caf::io::network::conn_hdl_from_socket(fd)),
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
  bool launched_ = false;
  bool established_;
  bool flush_held_ = false;
  caf::io::network::stream_impl<TlsStreamPolicy> stream_;
};

std::optional<rw_state> TlsStreamPolicy::advance_handshake(rw_state meanwhile) {
  if (!session_->handshaking()) return std::nullopt;
  switch (session_->advance_handshake()) {
    case TlsSession::Step::failed:
      return rw_state::failure;  // refused: BASP closes it
    case TlsSession::Step::wants_read:
    case TlsSession::Step::wants_write:
      return meanwhile;
    case TlsSession::Step::done:
      owner_->established();
      break;
  }
  return std::nullopt;
}

rw_state TlsStreamPolicy::read_some(size_t& result, native_socket, void* buf, size_t len) {
  result = 0;
  if (auto state = advance_handshake(rw_state::success)) return *state;  // nothing read yet
  if (len == 0) return rw_state::indeterminate;
  ERR_clear_error();
  return session_->read(result, buf, len);
}

rw_state TlsStreamPolicy::write_some(size_t& result, native_socket, const void* buf, size_t len) {
  result = 0;
  // Not reached while the handshake runs: the scribe holds writes back until then.
  if (auto state = advance_handshake(len == 0 ? rw_state::indeterminate : rw_state::success))
    return *state;
  if (len == 0) return rw_state::indeterminate;
  ERR_clear_error();
  return session_->write(result, buf, len);
}

/// Accepts connections on a listening socket and starts a server session on
/// each; its handshake goes on as the client's messages arrive.
class TlsDoorman final : public caf::io::network::doorman_impl {
 public:
  TlsDoorman(default_multiplexer& mpx, native_socket fd, TlsContextPtr context)
      : caf::io::network::doorman_impl(mpx, fd), context_(std::move(context)) {}

  bool new_connection() override {
    const native_socket fd = acceptor_.accepted_socket();
    if (detached()) {  // the broker let go of us; the loop has not yet
      caf::io::network::close_socket(fd);
      return false;
    }
    auto& mpx = acceptor_.backend();
    cut_stalled_handshakes();
    caf::io::network::nonblocking(fd, true);
    SSL* ssl = context_->new_session(fd, false);
    if (ssl == nullptr) {
      caf::io::network::close_socket(fd);
      return false;
    }
    auto session = std::make_unique<TlsSession>(ssl, fd, true);
    // The client's first message is usually here already: answer it now.
    if (session->advance_handshake() == TlsSession::Step::failed) {
      session.reset();
      caf::io::network::close_socket(fd);
      return true;  // a refused peer; the doorman goes on accepting
    }
    // (A handshake step that waits to write, its flight filling the socket,
    // goes on with the client's next message: the flight is a few KB.)
    auto scribe = caf::make_counted<TlsScribe>(mpx, fd, std::move(session));
    auto hdl = scribe->hdl();
    handshaking_.push_back({scribe, std::chrono::steady_clock::now() + accept_patience});
    parent()->add_scribe(std::move(scribe));
    return doorman::new_connection(&mpx, hdl);
  }

 private:
  struct Handshaking {
    caf::intrusive_ptr<TlsScribe> scribe;
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

  TlsContextPtr context_;
  std::vector<Handshaking> handshaking_;
};

/// CAF's middleman actor, with TLS connections: `connect_atom` and
/// `publish_atom` requests behave as CAF's, over TLS.
class TlsMiddleman final : public caf::io::middleman_actor_impl {
 public:
  TlsMiddleman(caf::actor_config& cfg, caf::actor basp, TlsContextPtr context)
      : caf::io::middleman_actor_impl(cfg, std::move(basp)), context_(std::move(context)) {}

  const char* name() const override { return "sage.tls_middleman"; }

 protected:
  caf::expected<caf::io::scribe_ptr> connect(const std::string& host, uint16_t port) override {
    auto fd = caf::io::network::new_tcp_connection(host, port);
    if (!fd) return std::move(fd.error());
    caf::io::network::nonblocking(*fd, true);
    SSL* ssl = context_->new_session(*fd, true);
    if (ssl == nullptr) {
      caf::io::network::close_socket(*fd);
      return caf::make_error(caf::sec::cannot_connect_to_node);
    }
    auto session = std::make_unique<TlsSession>(ssl, *fd, true);
    // This thread may wait: the handshake finishes here, in poll(), not in
    // the network loop.
    const auto deadline = std::chrono::steady_clock::now() + handshake_patience;
    for (;;) {
      short wanted = 0;
      switch (session->advance_handshake()) {
        case TlsSession::Step::done:
          if (!session->output_waits())
            return caf::make_counted<TlsScribe>(mpx(), *fd, std::move(session));
          wanted = POLLOUT;  // its last records have not all left yet
          break;
        case TlsSession::Step::failed: {
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
        case TlsSession::Step::wants_read:
          wanted = POLLIN;
          break;
        case TlsSession::Step::wants_write:
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
        return caf::make_error(caf::sec::connection_timeout, "the TLS handshake took too long");
      }
    }
  }

  caf::expected<caf::io::doorman_ptr> open(uint16_t port, const char* addr, bool reuse) override {
    auto fd = caf::io::network::new_tcp_acceptor_impl(port, addr, reuse);
    if (!fd) return std::move(fd.error());
    return caf::make_counted<TlsDoorman>(mpx(), *fd, context_);
  }

 private:
  default_multiplexer& mpx() {
    return static_cast<default_multiplexer&>(system().middleman().backend());
  }

  TlsContextPtr context_;
};

/// Which actor system has which TLS middleman (set while the module runs).
std::mutex transports_mutex;
std::map<const caf::actor_system*, caf::io::middleman_actor> transports;

caf::io::middleman_actor transport_of(caf::actor_system& system) {
  std::lock_guard<std::mutex> guard{transports_mutex};
  auto i = transports.find(&system);
  return i == transports.end() ? caf::io::middleman_actor{} : i->second;
}

/// Starts the TLS middleman with the actor system (after CAF's middleman,
/// whose BASP broker it hands connections to) and ends it before.
class TlsTransportModule final : public caf::actor_system::module {
 public:
  TlsTransportModule(caf::actor_system& system, TlsContextPtr context)
      : system_(system), context_(std::move(context)) {}

  void init(caf::actor_system_config&) override {}
  void start() override {
    auto basp = system_.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
    actor_ = system_.spawn<TlsMiddleman, caf::detached + caf::hidden>(std::move(basp), context_);
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
  TlsContextPtr context_;
  caf::io::middleman_actor actor_;
};

}  // namespace

void load_tls_transport(caf::actor_system_config& cfg, const TlsFiles& tls) {
  auto context = std::make_shared<const TlsContext>(tls);
  cfg.module_factories.push_back(
      [context](caf::actor_system& system) -> caf::actor_system::module* {
        return new TlsTransportModule(system, context);
      });
}

caf::expected<uint16_t> tls_publish(caf::actor_system& system, const caf::actor& whom,
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

caf::expected<caf::actor> tls_connect(caf::actor_system& system, const std::string& host,
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
