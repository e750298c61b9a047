// The runtime-free half of service calls: futures and promises, a service's
// methods by name, a call's options among its arguments, arguments handed over
// within a process or through their codecs (as across nodes), and the errors
// of each (docs/services.md).

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <sage/service.hpp>

using namespace std::chrono_literals;
using sage::detail::Payload;

namespace {

struct Features {
  std::string user;
  int64_t orders = 0;
  friend bool operator==(const Features&, const Features&) = default;
};

template <class Inspector>
auto inspect(Inspector& f, Features& x) {
  return f(x.user, x.orders);
}

struct FeatureStore : sage::Service {
  std::map<std::string, int64_t> orders{{"ada", 3}, {"bob", 5}};
  int calls = 0;

  Features process(const std::string& user) {
    ++calls;
    if (user == "nobody") throw std::runtime_error("no such user: " + user);
    return {user, orders.at(user)};
  }
  Features lookup(const std::string& user, int window_days) const {
    return {user, orders.at(user) * window_days};
  }
  void forget(const std::string& user) { orders.erase(user); }
  static void methods(sage::Methods<FeatureStore>& m) {
    m.add("lookup", &FeatureStore::lookup).add("forget", &FeatureStore::forget);
  }
};

/// Serves calls from one service object, on a thread of its own per call (as
/// a service actor answers), optionally through bytes (as across nodes).
class ThreadClient final : public sage::detail::ServiceClient {
 public:
  ThreadClient(sage::detail::ServiceObject& service, bool as_bytes)
      : service_(service), as_bytes_(as_bytes) {}
  ~ThreadClient() override {
    for (auto& t : threads_) t.join();
  }
  void call(const std::string& name, const sage::detail::CallOptions& options, Payload args,
            std::function<void(Payload, std::exception_ptr)> done) override {
    CHECK(name == "features");
    threads_.emplace_back([this, options, args = std::move(args), done = std::move(done)] {
      try {
        Payload in = as_bytes_ ? Payload::from_bytes(args.bytes()) : args;
        Payload out = service_.call(options.method, in);
        done(as_bytes_ ? Payload::from_bytes(out.bytes()) : out, nullptr);
      } catch (const std::exception& e) {
        done({}, std::make_exception_ptr(sage::ServiceError(e.what())));
      }
    });
  }

 private:
  sage::detail::ServiceObject& service_;
  bool as_bytes_;
  std::vector<std::thread> threads_;
};

}  // namespace

TEST_CASE("futures: a promise completes its future once, then(f) runs on completion") {
  sage::Promise<int> p;
  auto f = p.future();
  CHECK_FALSE(f.ready());
  CHECK_THROWS_AS(f.get(20ms), sage::ServiceTimeout);
  std::atomic<int> seen{0};
  auto doubled = f.then([&](int x) {
    seen = x;
    return x * 2;
  });
  CHECK(seen == 0);
  CHECK(p.set_value(21));
  CHECK_FALSE(p.set_value(5));  // a late second answer is ignored
  CHECK(f.get() == 21);
  CHECK(doubled.get() == 42);
  CHECK(seen == 21);
  // Once complete, then(f) runs at once.
  CHECK(f.then([](int x) { return std::to_string(x); }).get() == "21");

  sage::Promise<void> v;
  auto done = v.future().then([] { return 7; });
  std::thread t([&] { v.set_value(); });
  CHECK(done.get(5s) == 7);
  t.join();

  sage::Future<int> none;
  CHECK_FALSE(none.valid());
  CHECK_THROWS_AS(none.get(), std::logic_error);
}

TEST_CASE("futures: an error skips then(f) and passes on, a throwing f fails its future") {
  sage::Promise<int> p;
  bool ran = false;
  auto next = p.future().then([&](int x) {
    ran = true;
    return x;
  });
  p.set_exception(sage::ServiceError("the model is down"));
  CHECK_THROWS_WITH_AS(next.get(), "the model is down", sage::ServiceError);
  CHECK_FALSE(ran);
  sage::Promise<int> q;
  auto failing = q.future().then([](int) -> int { throw std::runtime_error("bad value"); });
  q.set_value(1);
  CHECK_THROWS_WITH_AS(failing.get(), "bad value", std::runtime_error);
}

TEST_CASE("calls: options stand anywhere among the arguments, literals travel as strings") {
  auto [o1, a1] = sage::detail::make_call("ada");
  CHECK(o1.method == "process");
  CHECK(o1.timeout == sage::default_call_timeout);
  CHECK(a1.take<std::tuple<std::string>>("args") == std::tuple<std::string>{"ada"});
  auto [o2, a2] =
      sage::detail::make_call(sage::method("lookup"), std::string("bob"), 7, sage::timeout(5s));
  CHECK(o2.method == "lookup");
  CHECK(o2.timeout == 5000ms);
  CHECK(a2.take<std::tuple<std::string, int>>("args") == std::tuple<std::string, int>{"bob", 7});
}

TEST_CASE("services: methods by name, in process and through bytes, with clear errors") {
  sage::detail::TypedServiceObject<FeatureStore> service(std::make_unique<FeatureStore>());
  CHECK(service.method_names() == std::vector<std::string>{"forget", "lookup", "process"});
  for (bool as_bytes : {false, true}) {
    CAPTURE(as_bytes);
    ThreadClient client(service, as_bytes);
    using sage::detail::call_async;
    CHECK(call_async<Features>(client, "features", "ada").get(5s) == Features{"ada", 3});
    CHECK(call_async<Features>(client, "features", sage::method("lookup"), "bob", 7).get(5s) ==
          Features{"bob", 35});
    // Arguments have the method's types: an int64_t where it takes an int is refused, named.
    CHECK_THROWS_WITH_AS(
        call_async<Features>(client, "features", sage::method("lookup"), "bob", int64_t{7}).get(5s),
        doctest::Contains("the arguments do not fit the method"), sage::ServiceError);
    CHECK_THROWS_WITH_AS(call_async<Features>(client, "features", "nobody").get(5s),
                         "no such user: nobody", sage::ServiceError);
    CHECK_THROWS_WITH_AS(
        call_async<Features>(client, "features", sage::method("score"), "ada").get(5s),
        doctest::Contains("no method 'score' (it has: forget, lookup, process)"),
        sage::ServiceError);
    CHECK_THROWS_WITH_AS(call_async<Features>(client, "features", 42).get(5s),
                         doctest::Contains("the arguments do not fit the method"),
                         sage::ServiceError);
    // A result that is not what the caller asked for.
    CHECK_THROWS_WITH_AS(call_async<std::vector<double>>(client, "features", "ada").get(5s),
                         doctest::Contains("the result does not fit the call"), sage::ServiceError);
  }
  ThreadClient client(service, false);
  sage::detail::call_async<void>(client, "features", sage::method("forget"), "ada").get(5s);
  CHECK_THROWS_AS(sage::detail::call_async<Features>(client, "features", "ada").get(5s),
                  sage::ServiceError);  // map::at: the user is gone
}

TEST_CASE("services: a type without a codec is handed over in a process, refused across nodes") {
  struct Opaque {
    int x = 0;
  };
  struct Echo : sage::Service {
    Opaque process(Opaque o) { return {o.x + 1}; }
  };
  sage::detail::TypedServiceObject<Echo> service(std::make_unique<Echo>());
  ThreadClient local(service, false);
  CHECK(sage::detail::call_async<Opaque>(local, "features", Opaque{41}).get(5s).x == 42);
  ThreadClient remote(service, true);
  CHECK_THROWS_WITH_AS(sage::detail::call_async<Opaque>(remote, "features", Opaque{1}).get(5s),
                       doctest::Contains("has no codec"), sage::ServiceError);
}
