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
// What is read and written, and each kind of handshake, is a session's
// business (transport_sessions.hpp, without CAF); this file is the CAF side.

#include "secure_transport.hpp"

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

#include <sage/actors/transport_sessions.hpp>

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

class SessionScribe;

/// A session's read or write as CAF's stream wants it.
rw_state transferred(IoResult result) {
  return result == IoResult::ok ? rw_state::success : rw_state::failure;
}

/// How CAF's stream reads and writes an authenticated socket (the policy of
/// `stream_impl`). While the handshake runs, read events advance it; once it
/// is done, the scribe lets out what BASP queued meanwhile.
class SessionStreamPolicy {
 public:
  SessionStreamPolicy(std::unique_ptr<Session> session, SessionScribe* owner)
      : session_(std::move(session)), owner_(owner), handshaking_(session_->handshaking()) {}

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
  bool handshaking_;  ///< until the session says it is done: no question per read after that
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
  if (!handshaking_) return std::nullopt;
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
      handshaking_ = false;
      owner_->established();
      break;
  }
  return std::nullopt;
}

rw_state SessionStreamPolicy::read_some(size_t& result, native_socket, void* buf, size_t len) {
  result = 0;
  if (auto state = advance_handshake(rw_state::success)) return *state;  // nothing read yet
  if (len == 0) return rw_state::indeterminate;
  return transferred(session_->read(result, buf, len));
}

rw_state SessionStreamPolicy::write_some(size_t& result, native_socket, const void* buf,
                                         size_t len) {
  result = 0;
  // Not reached while the handshake runs: the scribe holds writes back until then.
  if (auto state = advance_handshake(len == 0 ? rw_state::indeterminate : rw_state::success))
    return *state;
  if (len == 0) return rw_state::indeterminate;
  return transferred(session_->write(result, buf, len));
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
    auto session = accepted_session(fd, credentials_);
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
    std::string why;
    auto session = connecting_session(*fd, *credentials_, why);
    if (session == nullptr) {
      caf::io::network::close_socket(*fd);
      return caf::make_error(caf::sec::cannot_connect_to_node, why);
    }
    if (!session->handshaking())  // --insecure
      return caf::make_counted<SessionScribe>(mpx(), *fd, std::move(session));
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

std::function<void()> attach_secure_transport(caf::actor_system& system, const TlsFiles& tls) {
  if (transport_of(system)) return [] {};  // configured with the system
  auto basp = system.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
  caf::io::middleman_actor actor = system.spawn<SecureMiddleman, caf::detached + caf::hidden>(
      std::move(basp), std::make_shared<const Credentials>(tls));
  {
    std::lock_guard<std::mutex> guard{transports_mutex};
    transports[&system] = actor;
  }
  return [&system, actor]() mutable {
    {
      std::lock_guard<std::mutex> guard{transports_mutex};
      transports.erase(&system);
    }
    caf::scoped_actor self{system, true};
    self->send_exit(actor, caf::exit_reason::kill);
    self->wait_for(actor);
  };
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
