// The sessions of authenticated connections (actors/transport_sessions.hpp),
// over real TCP connections on loopback, without CAF: both ends' handshakes
// driven by hand until done, then bytes both ways.

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <sage/actors/credentials.hpp>
#include <sage/actors/transport_sessions.hpp>

namespace {

using sage::actors::Credentials;
using sage::actors::IoResult;
using sage::actors::Session;

/// A connected pair of non-blocking TCP sockets on 127.0.0.1: {client, server}.
std::pair<int, int> tcp_pair() {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(listener, 1) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  const int client = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  const int server = ::accept(listener, nullptr, nullptr);
  ::close(listener);
  for (int fd : {client, server}) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return {client, server};
}

/// Steps both handshakes until neither moves; whether both are done.
bool handshake(Session& client, Session& server) {
  for (int turn = 0; turn < 200 && (client.handshaking() || server.handshaking()); ++turn) {
    for (Session* s : {&client, &server})
      if (s->handshaking() && s->advance_handshake() == Session::Step::failed) return false;
    ::poll(nullptr, 0, 1);
  }
  return !client.handshaking() && !server.handshaking();
}

std::string secret_in_temp_dir(const char* name) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("sage-sessions-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / name).string();
  std::filesystem::remove(path);
  REQUIRE(sage::actors::create_cluster_secret(path));
  return path;
}

void exchange(Session& a, Session& b) {
  const std::string hello = "BASP bytes";
  size_t done = 0;
  REQUIRE(a.write(done, hello.data(), hello.size()) == IoResult::ok);
  CHECK(done == hello.size());
  char buf[64] = {};
  size_t got = 0;
  for (int turn = 0; turn < 200 && got == 0; ++turn) {
    REQUIRE(b.read(got, buf, sizeof buf) == IoResult::ok);
    if (got == 0) ::poll(nullptr, 0, 1);
  }
  CHECK(std::string(buf, got) == hello);
}

}  // namespace

TEST_CASE("sessions: one secret on both ends, one user on loopback: the secret's handshake") {
  const auto secret = secret_in_temp_dir("one.secret");
  auto credentials =
      std::make_shared<const Credentials>(sage::actors::TlsFiles::from_secret(secret));
  auto [c, s] = tcp_pair();
  std::string why;
  auto client = sage::actors::connecting_session(c, *credentials, why);
  REQUIRE(client != nullptr);
  auto server = sage::actors::accepted_session(s, credentials);
  REQUIRE(handshake(*client, *server));
  exchange(*client, *server);
  exchange(*server, *client);
  CHECK_FALSE(client->has_buffered_data());  // plain bytes: nothing held back
  client.reset();
  server.reset();
  ::close(c);
  ::close(s);
}

TEST_CASE("sessions: another secret is refused, with the reason on the client") {
  auto mine = std::make_shared<const Credentials>(
      sage::actors::TlsFiles::from_secret(secret_in_temp_dir("mine.secret")));
  auto theirs = std::make_shared<const Credentials>(
      sage::actors::TlsFiles::from_secret(secret_in_temp_dir("theirs.secret")));
  auto [c, s] = tcp_pair();
  std::string why;
  auto client = sage::actors::connecting_session(c, *mine, why);
  auto server = sage::actors::accepted_session(s, theirs);
  CHECK_FALSE(handshake(*client, *server));
  CHECK(client->refused());
  CHECK(client->failure() == "the peer does not hold this cluster secret");
  client.reset();
  server.reset();
  ::close(c);
  ::close(s);
}

TEST_CASE("sessions: --insecure ends carry plain bytes with no handshake") {
  auto none = std::make_shared<const Credentials>(sage::actors::TlsFiles{});
  auto [c, s] = tcp_pair();
  std::string why;
  auto client = sage::actors::connecting_session(c, *none, why);
  auto server = sage::actors::accepted_session(s, none);
  CHECK_FALSE(client->handshaking());
  CHECK_FALSE(server->handshaking());
  exchange(*client, *server);
  client.reset();
  server.reset();
  ::close(c);
  ::close(s);
  std::filesystem::remove_all(std::filesystem::temp_directory_path() /
                              ("sage-sessions-" + std::to_string(::getpid())));
}
