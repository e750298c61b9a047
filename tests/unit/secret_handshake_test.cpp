// The cluster secret's handshake (actors/secret_handshake.hpp): driven byte by
// byte between a client and a server, without sockets.

#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <sage/actors/credentials.hpp>
#include <sage/actors/secret_handshake.hpp>

namespace {

using sage::actors::SecretHandshake;
using Role = SecretHandshake::Role;
using State = SecretHandshake::State;

SecretHandshake::Key key(unsigned char fill) {
  SecretHandshake::Key k{};
  k.fill(fill);
  return k;
}

/// Moves what `from` wants to send into `to`, `chunk` bytes at a time; returns
/// the bytes `to` did not take.
std::vector<unsigned char> deliver(SecretHandshake& from, SecretHandshake& to, size_t chunk,
                                   std::vector<unsigned char>* sent = nullptr) {
  auto bytes = from.output();
  from.output().clear();
  if (sent != nullptr) sent->insert(sent->end(), bytes.begin(), bytes.end());
  std::vector<unsigned char> left;
  for (size_t at = 0; at < bytes.size(); at += chunk) {
    const size_t n = std::min(chunk, bytes.size() - at);
    const size_t taken = to.feed(bytes.data() + at, n);
    left.insert(left.end(), bytes.begin() + static_cast<long>(at + taken),
                bytes.begin() + static_cast<long>(at + n));
  }
  return left;
}

/// Runs the handshake until neither side has anything to send.
void run(SecretHandshake& client, SecretHandshake& server, size_t chunk) {
  for (int turn = 0; turn < 10 && (!client.output().empty() || !server.output().empty()); ++turn) {
    deliver(client, server, chunk);
    deliver(server, client, chunk);
  }
}

std::string temp_dir() {
  auto dir = std::filesystem::temp_directory_path() /
             ("sage-secret-handshake-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace

TEST_CASE("secret handshake: two holders of one key both finish, in any chunking") {
  for (size_t chunk : {size_t{1}, size_t{3}, size_t{40}, size_t{1000}}) {
    SecretHandshake client(Role::client, key(7));
    SecretHandshake server(Role::server, key(7));
    run(client, server, chunk);
    CHECK(client.state() == State::done);
    CHECK(server.state() == State::done);
    CHECK(client.wanted() == 0);
    CHECK(server.wanted() == 0);
  }
}

TEST_CASE("secret handshake: what follows the handshake is left for the connection") {
  SecretHandshake client(Role::client, key(1));
  SecretHandshake server(Role::server, key(1));
  deliver(client, server, 1000);  // hello
  // The server's answer, then at once its first bytes of BASP.
  auto answer = server.output();
  server.output().clear();
  answer.insert(answer.end(), {'B', 'A', 'S', 'P'});
  const size_t taken = client.feed(answer.data(), answer.size());
  CHECK(taken == answer.size() - 4);
  CHECK(client.state() == State::done);
  auto proof = client.output();
  proof.insert(proof.end(), {'x', 'y'});
  CHECK(server.feed(proof.data(), proof.size()) == proof.size() - 2);
  CHECK(server.state() == State::done);
}

TEST_CASE("secret handshake: another key is refused on both sides, saying so") {
  SecretHandshake client(Role::client, key(1));
  SecretHandshake server(Role::server, key(2));
  run(client, server, 1000);
  CHECK(client.state() == State::refused);
  CHECK(client.failure().find("does not hold this cluster secret") != std::string::npos);
  CHECK(client.output().empty());           // the client's proof is never sent
  CHECK(server.state() == State::running);  // it waits for a proof that never comes
}

TEST_CASE("secret handshake: a client that learns a server's proof cannot pass as a client") {
  // A client with the wrong key gets the server's proof; sending it back as
  // its own (the same MAC, another label) is refused.
  SecretHandshake server(Role::server, key(5));
  SecretHandshake client(Role::client, key(6));
  deliver(client, server, 1000);
  auto answer = server.output();
  REQUIRE(answer.size() == 1 + 32 + 32);
  std::vector<unsigned char> reflected(answer.end() - 32, answer.end());
  server.feed(reflected.data(), reflected.size());
  CHECK(server.state() == State::refused);
}

TEST_CASE("secret handshake: a recorded exchange does not open a new session") {
  SecretHandshake client(Role::client, key(9));
  SecretHandshake server(Role::server, key(9));
  std::vector<unsigned char> recorded;
  deliver(client, server, 1000, &recorded);
  deliver(server, client, 1000);
  deliver(client, server, 1000, &recorded);
  REQUIRE(server.state() == State::done);
  SecretHandshake fresh(Role::server, key(9));
  fresh.feed(recorded.data(), recorded.size());
  CHECK(fresh.state() == State::refused);
}

TEST_CASE("secret handshake: a server for peers on other hosts refuses with a reason") {
  SecretHandshake client(Role::client, key(3));
  SecretHandshake server(Role::server, key(3), "connections from other hosts must use TLS");
  run(client, server, 1000);
  CHECK(server.state() == State::refused);
  CHECK(client.state() == State::refused);
  CHECK(client.failure() ==
        "the peer refused the handshake: connections from other hosts must use TLS");
}

TEST_CASE("secret handshake: garbage is refused, whatever its length") {
  SecretHandshake server(Role::server, key(4));
  const std::string garbage(100, '\x7f');
  const size_t taken =
      server.feed(reinterpret_cast<const unsigned char*>(garbage.data()), garbage.size());
  CHECK(taken == 40);  // one hello's worth, then it stops reading
  CHECK(server.state() == State::refused);
  REQUIRE(!server.output().empty());
  CHECK(server.output()[0] == 'N');  // the client, if it is one, hears why

  SecretHandshake client(Role::client, key(4));
  const unsigned char not_a_verdict = 0x16;
  client.feed(&not_a_verdict, 1);
  CHECK(client.state() == State::refused);

  SecretHandshake told(Role::client, key(4));
  const unsigned char refusal[] = {'N', 3, 'a', 0x01, 'b'};
  told.feed(refusal, sizeof refusal);
  CHECK(told.failure() == "the peer refused the handshake: a?b");  // printable only
}

TEST_CASE("secret handshake: the key comes from the secret's private key") {
  const std::string dir = temp_dir();
  const std::string one = dir + "/one.secret";
  const std::string two = dir + "/two.secret";
  std::filesystem::remove(one);
  std::filesystem::remove(two);
  REQUIRE(sage::actors::create_cluster_secret(one));
  REQUIRE(sage::actors::create_cluster_secret(two));
  CHECK(sage::actors::key_of_secret(one) == sage::actors::key_of_secret(one));
  CHECK(sage::actors::key_of_secret(one) != sage::actors::key_of_secret(two));
  // The same key in a file laid out otherwise (the certificate dropped): the same handshake key.
  std::ifstream in(one);
  const std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto key_at = pem.find("-----BEGIN PRIVATE KEY-----");
  REQUIRE(key_at != std::string::npos);
  const std::string key_only = dir + "/key-only.pem";
  std::ofstream(key_only) << pem.substr(key_at);
  CHECK(sage::actors::key_of_secret(key_only) == sage::actors::key_of_secret(one));
  const std::string no_key = dir + "/no-key.pem";
  std::ofstream(no_key) << pem.substr(0, key_at);
  CHECK_THROWS_AS(sage::actors::key_of_secret(no_key), std::runtime_error);
  CHECK_THROWS_AS(sage::actors::key_of_secret(dir + "/missing"), std::runtime_error);
  std::filesystem::remove_all(dir);
}
