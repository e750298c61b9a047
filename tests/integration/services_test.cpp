// Service instance actors and the call router on a real actor system of two
// scheduler threads (actors/include/sage/actors/services.hpp): calls spread
// over instances and served concurrently, synchronous calls from more threads
// than the scheduler has, every error at the caller, and an instance that ends
// while it serves a call failing that call at once.

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>

#include <sage/actors/protocol.hpp>
#include <sage/actors/services.hpp>
#include <sage/service.hpp>

using namespace std::chrono_literals;
using namespace sage::actors;

namespace {

struct TwoThreads : caf::actor_system_config {
  TwoThreads() {
    set("scheduler.max-threads", size_t{2});
    register_message_types(*this);
  }
};

/// Answers which instance served, after `delay_ms`; throws on "boom"; never answers "hang" in time.
struct Worker : sage::Service {
  std::atomic<int>* busy = nullptr;
  std::atomic<int>* most_busy = nullptr;
  int index = -1;
  Worker(std::atomic<int>* b, std::atomic<int>* m) : busy(b), most_busy(m) {}
  void open(sage::RuntimeContext& ctx) override { index = ctx.index(); }
  int process(const std::string& what, int delay_ms) {
    const int now = ++*busy;
    int seen = most_busy->load();
    while (now > seen && !most_busy->compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    --*busy;
    if (what == "boom") throw std::runtime_error("the model is down");
    if (what == "abort") throw std::logic_error("unused");
    return index;
  }
};

struct Fixture {
  TwoThreads cfg;
  caf::actor_system sys{cfg};
  std::atomic<int> busy{0};
  std::atomic<int> most_busy{0};
  std::vector<caf::actor> instances;
  caf::actor directory;

  explicit Fixture(int parallelism) {
    for (int i = 0; i < parallelism; ++i)
      instances.push_back(
          spawn_service_instance(sys,
                                 std::make_unique<sage::detail::TypedServiceObject<Worker>>(
                                     std::make_unique<Worker>(&busy, &most_busy)),
                                 ServiceIdentity{"worker", i, parallelism, sage::JobId::generate(),
                                                 nullptr, nullptr, nullptr}));
    auto known = instances;
    // Detached, as everything on a call's path: the callers may hold every scheduler thread.
    directory = sys.spawn<caf::detached>([known](caf::event_based_actor*) -> caf::behavior {
      return {[known](service_lookup_atom, const std::string& name) {
        return name == "worker" ? known : std::vector<caf::actor>{};
      }};
    });
  }
  ~Fixture() {
    for (auto& a : instances) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(directory, caf::exit_reason::user_shutdown);
  }
};

}  // namespace

TEST_CASE("services: 1000 concurrent calls over 4 instances, all answered, spread, concurrent") {
  Fixture f(4);
  ServiceRouter router(f.sys, f.directory);
  std::vector<sage::Future<int>> calls;
  for (int i = 0; i < 1000; ++i)
    calls.push_back(sage::detail::call_async<int>(router, "worker", std::string("job"), 1));
  std::map<int, int> by_instance;
  for (auto& c : calls) ++by_instance[c.get(30s)];
  CHECK(by_instance.size() == 4);
  int total = 0;
  for (const auto& [instance, n] : by_instance) {
    CHECK(n > 100);  // the least busy instance gets the next call
    total += n;
  }
  CHECK(total == 1000);
  CHECK(f.most_busy.load() == 4);  // the four served at once
}

TEST_CASE("services: synchronous calls from 8 threads with 2 scheduler threads do not deadlock") {
  Fixture f(2);
  ServiceRouter router(f.sys, f.directory);
  // Eight blocking callers on scheduler threads (as operators calling in a
  // handler would be): only 2 threads exist, and every answer still comes.
  std::atomic<int> answered{0};
  std::vector<caf::actor> callers;
  for (int i = 0; i < 8; ++i)
    callers.push_back(f.sys.spawn([&router, &answered](caf::event_based_actor* self) {
      for (int k = 0; k < 5; ++k) {
        sage::detail::call_async<int>(router, "worker", std::string("x"), 2).get(20s);
        ++answered;
      }
      self->quit();
    }));
  caf::scoped_actor waiter{f.sys};
  for (auto& c : callers) waiter->wait_for(c);
  CHECK(answered == 40);
}

TEST_CASE("services: every error reaches the caller, named") {
  Fixture f(1);
  ServiceRouter router(f.sys, f.directory);
  using sage::detail::call_async;
  CHECK_THROWS_WITH_AS(call_async<int>(router, "worker", std::string("boom"), 0).get(10s),
                       doctest::Contains("the model is down"), sage::ServiceError);
  CHECK_THROWS_WITH_AS(call_async<int>(router, "nobody", 1).get(10s),
                       doctest::Contains("no service named 'nobody'"), sage::ServiceError);
  CHECK_THROWS_WITH_AS(
      call_async<int>(router, "worker", sage::method("train"), std::string("x"), 0).get(10s),
      doctest::Contains("no method 'train'"), sage::ServiceError);
  CHECK_THROWS_WITH_AS(
      call_async<int>(router, "worker", std::string("slow"), 600, sage::timeout(100ms)).get(10s),
      doctest::Contains("no answer within 100 ms"), sage::ServiceTimeout);
  // The reply after the timeout is dropped and counted; the instance serves on.
  CHECK(call_async<int>(router, "worker", std::string("x"), 0).get(10s) == 0);
  CHECK(router.late_replies() == 1);
}

TEST_CASE("services: an instance that ends while it serves fails the call at once") {
  // An instance that takes a call and dies 300 ms later without answering, as
  // one in a task host that aborts does (locally a service's exceptions are
  // answers: they cannot end its instance).
  TwoThreads cfg;
  caf::actor_system sys{cfg};
  using tick = caf::atom_constant<caf::atom("die")>;
  auto dying = sys.spawn([](caf::event_based_actor* self) -> caf::behavior {
    return {
        [self](call_atom, const std::string&, const CallPayload&) {
          auto promise = std::make_shared<caf::response_promise>(self->make_response_promise());
          self->delayed_send(self, 300ms, tick::value);
          self->become([self, promise](tick) { self->quit(caf::exit_reason::kill); });
        },
    };
  });
  auto directory = sys.spawn<caf::detached>([dying](caf::event_based_actor*) -> caf::behavior {
    return {[dying](service_lookup_atom, const std::string&) {
      return std::vector<caf::actor>{dying};
    }};
  });
  {
    ServiceRouter router(sys, directory);
    const auto t0 = std::chrono::steady_clock::now();
    auto call =
        sage::detail::call_async<int>(router, "worker", std::string("x"), 0, sage::timeout(30s));
    CHECK_THROWS_WITH_AS(call.get(20s), doctest::Contains("the instance serving the call ended"),
                         sage::ServiceError);
    CHECK(std::chrono::steady_clock::now() - t0 < 20s);  // long before its 30 s timeout
    // The name is asked for again: the directory still names the dead instance.
    CHECK_THROWS_AS(sage::detail::call_async<int>(router, "worker", std::string("x"), 0).get(20s),
                    sage::ServiceError);
  }
  caf::anon_send_exit(directory, caf::exit_reason::user_shutdown);
}

TEST_CASE("services: an exception from open ends the instance, and calls to it fail") {
  struct Broken : sage::Service {
    void open(sage::RuntimeContext&) override { throw std::runtime_error("no model file"); }
    int process(int x) { return x; }
  };
  TwoThreads cfg;
  caf::actor_system sys{cfg};
  auto instance = spawn_service_instance(
      sys, std::make_unique<sage::detail::TypedServiceObject<Broken>>(std::make_unique<Broken>()),
      ServiceIdentity{"broken", 0, 1, sage::JobId::generate(), nullptr, nullptr, nullptr});
  caf::error reason;
  {
    caf::scoped_actor self{sys};
    self->monitor(instance);
    self->receive([&](caf::down_msg& d) { reason = d.reason; });
  }
  CHECK(words_of(reason).find("failed to open: no model file") != std::string::npos);
}
