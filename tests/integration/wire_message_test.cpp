// A batch inside a CAF message, serialized as CAF does for another node: it
// arrives as an EncodedBatch holding one Cap'n Proto RecordBatch, which the
// typed input port decodes. Without a codec, serialization fails with an error.
// And a node that gets messages it does not know drops them and serves on.

#include <doctest/doctest.h>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/io/middleman.hpp>

#include <sage/actors/node_server.hpp>
#include <sage/actors/protocol.hpp>
#include <sage/detail/typed_node.hpp>

namespace {

using namespace sage::actors;
using Rec = std::tuple<std::string, double, std::vector<int>>;

struct Config : caf::actor_system_config {
  Config() { sage::actors::register_message_types(*this); }
};

struct NoCodec {
  int x;
};

}  // namespace

TEST_CASE("a batch message serialized for another node carries a RecordBatch") {
  Config cfg;
  caf::actor_system sys{cfg};
  std::vector<Rec> records{
      {"a", 1.5, {1, 2}}, {"", -0.0, {}}, {std::string(1000, 'x'), 1e300, {7}}};
  auto msg = caf::make_message(
      batch_atom::value, uint32_t{3},
      BatchMessage{std::make_shared<sage::detail::Batch<Rec>>(std::vector<Rec>(records))});
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  REQUIRE_FALSE(sink(msg));
  caf::message received;
  caf::binary_deserializer source{sys, buf};
  REQUIRE_FALSE(source(received));
  REQUIRE(received.match_elements<batch_atom, uint32_t, BatchMessage>());
  CHECK(received.get_as<uint32_t>(1) == 3);
  auto& batch = received.get_mutable_as<BatchMessage>(2).batch;
  auto* encoded = dynamic_cast<sage::detail::EncodedBatch*>(batch.get());
  REQUIRE(encoded != nullptr);
  CHECK(sage::detail::decode_batch<Rec>(*encoded) == records);
}

TEST_CASE("a batch of a record type without a codec fails its receiver, not the node") {
  Config cfg;
  caf::actor_system sys{cfg};
  BatchMessage batch{std::make_shared<sage::detail::Batch<NoCodec>>(std::vector<NoCodec>{{1}})};
  {  // serialized on its own, the error says why
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    auto err = sink(batch);
    REQUIRE(err);
    CHECK(sys.render(err).find("has no codec") != std::string::npos);
  }
  // Inside a message (CAF ignores its elements' errors) the message stays well
  // formed and the receiver's decoding fails with a clear error.
  auto msg = caf::make_message(batch_atom::value, uint32_t{0}, batch);
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  (void)sink(msg);
  caf::message received;
  caf::binary_deserializer source{sys, buf};
  REQUIRE_FALSE(source(received));
  REQUIRE(received.match_elements<batch_atom, uint32_t, BatchMessage>());
  auto& arrived = received.get_mutable_as<BatchMessage>(2).batch;
  auto* encoded = dynamic_cast<sage::detail::EncodedBatch*>(arrived.get());
  REQUIRE(encoded != nullptr);
  CHECK_THROWS_WITH_AS(sage::detail::decode_batch<int>(*encoded),
                       doctest::Contains("could not encode"), sage::DecodeError);
}

TEST_CASE("a batch that claims more bytes than its message is refused before any allocation") {
  Config cfg;
  caf::actor_system sys{cfg};
  for (size_t claimed : {size_t{100}, size_t{0xFFFFFFFF}}) {
    CAPTURE(claimed);
    // A length prefix as CAF writes it, followed by only 8 bytes.
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    REQUIRE_FALSE(sink.begin_sequence(claimed));
    for (int i = 0; i < 8; ++i) buf.push_back(0);
    caf::binary_deserializer source{sys, buf};
    BatchMessage batch;
    auto err = source(batch);
    REQUIRE(err);
    CHECK(sys.render(err).find("exceeds") != std::string::npos);
    CHECK(batch.batch == nullptr);
  }
}

namespace {

/// A message type only the sending node knows.
struct Stranger {
  std::vector<int> payload;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Stranger& x) {
  return f(caf::meta::type_name("test.stranger"), x.payload);
}

struct PeerConfig : caf::actor_system_config {
  PeerConfig() {
    sage::actors::register_message_types(*this);
    add_message_type<Stranger>("test.stranger");
    load<caf::io::middleman>();
  }
};

}  // namespace

TEST_CASE("a node drops messages it does not know, of unknown type or shape, and serves on") {
  sage::actors::NodeServer node_server;
  PeerConfig cfg;
  caf::actor_system peer{cfg};
  auto node = peer.middleman().remote_actor("127.0.0.1", node_server.port());
  REQUIRE(node);
  caf::scoped_actor self{peer};
  // Asks the node for job "0" (which it does not host): an answer proves it serves.
  auto serves = [&] {
    std::string answer;
    self->request(*node, std::chrono::seconds(5), spawn_tasks_atom::value, std::string("0"),
                  std::vector<int32_t>{0}, caf::actor{})
        .receive([&](std::vector<TaskHandle>&) { answer = "spawned?"; },
                 [&](caf::error& err) { answer = peer.render(err); });
    return answer;
  };
  REQUIRE(serves().find("does not host job 0") != std::string::npos);
  // A type the node has never heard of: CAF cannot even read it.
  self->send(*node, Stranger{{1, 2, 3}});
  // Known types, unknown shapes: dropped; a request gets an error back.
  self->send(*node, std::string("hello"), 42);
  self->send(*node, batch_atom::value, uint32_t{7}, std::string("not a batch"));
  std::string shape_error;
  self->request(*node, std::chrono::seconds(5), std::string("what?"))
      .receive([&](caf::message&) { shape_error = "answered"; },
               [&](caf::error& err) { shape_error = peer.render(err); });
  CHECK(shape_error.find("unexpected_message") != std::string::npos);
  // A launch on a node that is not a cluster daemon is refused, with a reason.
  std::string launch_error;
  self->request(*node, std::chrono::seconds(5), launch_atom::value, std::string("ab"), uint32_t{0},
                ProgramLaunch{}, uint64_t{0}, caf::actor{}, caf::actor{})
      .receive([&](int32_t) { launch_error = "launched"; },
               [&](caf::error& err) { launch_error = peer.render(err); });
  CHECK(launch_error.find("starts no programs") != std::string::npos);
  CHECK(serves().find("does not host job 0") != std::string::npos);
}
