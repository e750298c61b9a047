// A plain CAF program that uses SAGE through <sage/caf.hpp> only (API.md
// section 10, docs/caf-integration.md): its own actor system, a sage::Node on
// it, and CAF actors that feed a job (from_actor, with the replies as
// backpressure), receive its output (to_actor) and call a service
// (call_atom).
//
//   caf_interop local                       every interaction, in this process
//   caf_interop join HOST:PORT K=V STOP     joins the cluster at HOST:PORT as a worker labelled
//                                           K=V, prints "ok: joined", serves until file STOP exists
//
// Exit status 0 when everything did what it should; the first line on stdout says what happened.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <future>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <sage/caf.hpp>

using namespace std::chrono_literals;

namespace {

struct Doubler : sage::Service {
  int64_t process(int64_t x) { return 2 * x; }
  std::string greet(const std::string& name) { return "hello " + name; }
  int64_t fail(int64_t) { throw std::runtime_error("the model is down"); }
  static void methods(sage::Methods<Doubler>& m) {
    m.add("greet", &Doubler::greet).add("fail", &Doubler::fail);
  }
};

/// Receives the job's output: batches, then the end.
caf::behavior collector(caf::event_based_actor* self, std::promise<std::vector<int64_t>>* done) {
  auto got = std::make_shared<std::vector<int64_t>>();
  return {
      [got](std::vector<int64_t>& batch) { got->insert(got->end(), batch.begin(), batch.end()); },
      [self, got, done](sage::eos_atom) {
        done->set_value(std::move(*got));
        self->quit();
      },
  };
}

/// Sends `batches` batches of `size` numbers at once, counting the answers (a
/// batch is answered when the source has taken it in), then the end.
caf::behavior feeder(caf::event_based_actor* self, caf::actor source, int batches, int size,
                     std::atomic<int>* accepted, std::atomic<int>* failed) {
  for (int b = 0; b < batches; ++b) {
    std::vector<int64_t> batch(static_cast<size_t>(size));
    for (int i = 0; i < size; ++i) batch[i] = int64_t{b} * size + i;
    self->request(source, caf::infinite, std::move(batch))
        .then(
            [=] {
              if (++*accepted == batches) {
                self->send(source, sage::eos_atom::value);
                self->quit();
              }
            },
            [=](caf::error&) { ++*failed; });
  }
  return {[](caf::unit_t) {}};
}

int local() {
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  caf::actor_system sys{cfg};
  sage::Node node(sys);
  auto env = node.local_environment("caf-interop");
  env->register_service<Doubler>("doubler").parallelism(2);

  // A job fed by actors and read by an actor; its map waits until released, so
  // that the feeder's answers show the backpressure.
  static std::atomic<bool> released{false};
  std::promise<std::vector<int64_t>> output;
  auto out = output.get_future();
  auto sink = sys.spawn(collector, &output);
  env->from_actor<int64_t>("numbers")
      .map([](const int64_t& x) {
        while (!released) std::this_thread::sleep_for(1ms);
        return x + 1;
      })
      .to_actor(sink);
  const auto job = env->submit();
  constexpr int batches = 400, size = 1000;
  std::atomic<int> accepted{0}, failed{0};
  auto source = node.source(job, "numbers");
  sys.spawn(feeder, source, batches, size, &accepted, &failed);
  std::this_thread::sleep_for(500ms);
  const int accepted_while_held = accepted.load();
  released = true;
  const bool ended = out.wait_for(60s) == std::future_status::ready;
  std::vector<int64_t> got = ended ? out.get() : std::vector<int64_t>{};
  std::sort(got.begin(), got.end());
  bool stream_ok = ended && got.size() == static_cast<size_t>(batches) * size;
  for (size_t i = 0; stream_ok && i < got.size(); ++i)
    stream_ok = got[i] == static_cast<int64_t>(i) + 1;
  env->wait();

  // Service calls from a plain actor, while a job of services runs.
  auto services = node.local_environment("caf-interop-services");
  services->register_service<Doubler>("doubler").parallelism(2);
  services->submit();
  auto svc = node.service("doubler");
  caf::scoped_actor self{sys};
  int64_t doubled = 0;
  std::string greeting, unknown, thrown, mistyped, nobody;
  self->request(svc, 5s, sage::call_atom::value, std::string("process"), int64_t{21})
      .receive([&](int64_t r) { doubled = r; }, [&](caf::error&) { doubled = -1; });
  self->request(svc, 5s, sage::call_atom::value, std::string("greet"), std::string("caf"))
      .receive([&](const std::string& r) { greeting = r; }, [](caf::error&) {});
  self->request(svc, 5s, sage::call_atom::value, std::string("nope"), int64_t{1})
      .receive([](int64_t) {}, [&](caf::error& e) { unknown = sys.render(e); });
  self->request(svc, 5s, sage::call_atom::value, std::string("fail"), int64_t{1})
      .receive([](int64_t) {}, [&](caf::error& e) { thrown = sys.render(e); });
  self->request(svc, 5s, sage::call_atom::value, std::string("process"), int32_t{1})
      .receive([](int64_t) {}, [&](caf::error& e) { mistyped = sys.render(e); });
  self->request(node.service("nobody"), 5s, sage::call_atom::value, std::string("process"),
                int64_t{1})
      .receive([](int64_t) {}, [&](caf::error& e) { nobody = sys.render(e); });
  services->stop();

  const bool held_back = accepted_while_held < batches;
  const bool calls_ok = doubled == 42 && greeting == "hello caf" &&
                        unknown.find("no method 'nope'") != std::string::npos &&
                        thrown.find("the model is down") != std::string::npos &&
                        mistyped.find("expected") != std::string::npos &&
                        nobody.find("nobody") != std::string::npos;
  const bool ok = stream_ok && held_back && failed == 0 && accepted == batches && calls_ok;
  std::cout << (ok ? "ok: " : "MISMATCH: ") << got.size()
            << " records fed by an actor came back to "
            << "an actor " << (stream_ok ? "complete" : "WRONG") << "; " << accepted_while_held
            << " of " << batches << " batches accepted while the job was held back, "
            << accepted.load() << " in the end; a plain actor's calls: 21 -> " << doubled << ", \""
            << greeting << "\", errors: [" << unknown << "] [" << thrown << "] [" << mistyped
            << "] [" << nobody << "]" << std::endl;
  return ok ? 0 : 1;
}

int join(const std::string& address, const std::string& label, const std::string& stop_file) {
  caf::actor_system_config cfg;
  sage::Node::configure(cfg);
  caf::actor_system sys{cfg};
  sage::Node node(sys);
  sage::Resources r;
  r.labels[label.substr(0, label.find('='))] = label.substr(label.find('=') + 1);
  const auto colon = address.rfind(':');
  node.join_cluster(address.substr(0, colon),
                    static_cast<uint16_t>(std::stoul(address.substr(colon + 1))), r);
  std::cout << "ok: joined " << address << " as a worker labelled " << label << std::endl;
  while (!std::filesystem::exists(stop_file)) std::this_thread::sleep_for(100ms);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "local";
  try {
    if (mode == "local") return local();
    if (mode == "join" && argc > 4) return join(argv[2], argv[3], argv[4]);
    std::cout << "usage: caf_interop local | join HOST:PORT K=V STOPFILE" << std::endl;
    return 2;
  } catch (const std::exception& e) {
    std::cout << "failed: " << e.what() << std::endl;
    return 1;
  }
}
