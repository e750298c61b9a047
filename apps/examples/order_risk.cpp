// Services and a pipeline as a service: scoring the risk of orders.
//   - `feature_store`, a service of 2 instances, holds per-user features (built
//     at open(): order counts, average amount, home country);
//   - `risk_scoring`, a service of 2 instances, scores an order against its
//     user's features with a small logistic model;
//   - `order_pipeline`, a pipeline service: each order is enriched by a
//     synchronous call to feature_store, scored by an asynchronous call to
//     risk_scoring (map_async), and decided (accept, review, reject).
// The driver sends every order to order_pipeline and checks each answer
// against the same model computed here, by hand.
//
// Usage: sage-order-risk [--orders N] [--address HOST:PORT]

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <sage/sage.hpp>

#include "environment_from_args.hpp"

namespace {

using namespace std::chrono_literals;

struct Order {
  std::string id;
  std::string user;
  double amount = 0;
  std::string country;
};
template <class Inspector>
auto inspect(Inspector& f, Order& o) {
  return f(o.id, o.user, o.amount, o.country);
}

struct Features {
  std::string user;
  int64_t orders = 0;  ///< orders before this one
  double average_amount = 0;
  std::string home_country;
};
template <class Inspector>
auto inspect(Inspector& f, Features& x) {
  return f(x.user, x.orders, x.average_amount, x.home_country);
}

struct Scored {
  std::string order;
  std::string user;
  double amount = 0;
  double risk = 0;
  std::string decision;
};
template <class Inspector>
auto inspect(Inspector& f, Scored& s) {
  return f(s.order, s.user, s.amount, s.risk, s.decision);
}

const std::vector<std::string> countries = {"DE", "FR", "NL", "IT", "ES", "PL", "SE", "US"};
constexpr int users = 500;

uint64_t fnv(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

/// The history of user `u`, as a feature store would have it (deterministic).
Features history_of(const std::string& user) {
  const uint64_t h = fnv(user);
  Features f;
  f.user = user;
  f.orders = static_cast<int64_t>(h % 40);  // some users are new
  f.average_amount = 20.0 + static_cast<double>((h >> 8) % 200);
  f.home_country = countries[(h >> 20) % countries.size()];
  return f;
}

/// The logistic model: large orders for the user, new users and orders from
/// abroad are riskier.
double risk_of(const Order& o, const Features& f) {
  const double ratio = f.orders == 0 ? 3.0 : o.amount / std::max(1.0, f.average_amount);
  const double z = -4.0 + 1.1 * std::min(ratio, 8.0) + (f.orders < 3 ? 1.5 : 0.0) +
                   (o.country != f.home_country ? 1.8 : 0.0);
  return 1.0 / (1.0 + std::exp(-z));
}

std::string decide(double risk) {
  return risk >= 0.8 ? "reject" : risk >= 0.5 ? "review" : "accept";
}

struct FeatureStore : sage::Service {
  void open(sage::RuntimeContext&) override {
    for (int u = 0; u < users; ++u) {
      const auto name = "user-" + std::to_string(u);
      table[name] = history_of(name);
    }
  }
  Features process(const std::string& user) {
    auto it = table.find(user);
    if (it == table.end()) return Features{user, 0, 0, ""};
    return it->second;
  }
  std::map<std::string, Features> table;
};

struct RiskScoring : sage::Service {
  double process(const Order& o, const Features& f) { return risk_of(o, f); }
};

/// One map of the pipeline: the order with its user's features (a synchronous call).
struct Enrich : sage::MapFunction<Order, std::pair<Order, Features>> {
  std::pair<Order, Features> execute(const Order& o) override {
    return {o, ctx().call_service<Features>("feature_store", o.user)};
  }
};

sage::DataStream<Scored> order_pipeline(sage::DataStream<Order> orders) {
  return orders.map<Enrich>()
      .parallelism(2)
      .map_async(
          [](const std::pair<Order, Features>& of) {
            return sage::call_service_async<double>("risk_scoring", of.first, of.second)
                .then([o = of.first](double risk) {
                  return Scored{o.id, o.user, o.amount, risk, ""};
                });
          },
          sage::async_options{.capacity = 64, .ordered = false, .timeout = 5s, .retries = 1})
      .parallelism(2)
      .map([](const Scored& s) {
        Scored d = s;
        d.decision = decide(s.risk);
        return d;
      });
}

std::vector<Order> simulate(int n) {
  std::vector<Order> out;
  uint64_t x = 42;
  auto next = [&x] {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return x >> 33;
  };
  for (int i = 0; i < n; ++i) {
    Order o;
    o.id = "order-" + std::to_string(i);
    o.user = "user-" + std::to_string(next() % (users + 50));  // some users are unknown
    o.amount = 5.0 + static_cast<double>(next() % 60'000) / 100.0;
    const auto home = history_of(o.user).home_country;
    o.country = next() % 10 == 0 ? countries[next() % countries.size()] : home;
    out.push_back(std::move(o));
  }
  return out;
}

int run(int argc, char** argv) {
  sage::Config config;
  config.merge_args(argc, argv);
  const int n = static_cast<int>(config.get_int("orders", 2'000));
  auto environment = sage_examples::environment_from_args("order-risk", config);
  auto& env = *environment;
  env.register_service<FeatureStore>("feature_store").parallelism(2);
  env.register_service<RiskScoring>("risk_scoring").parallelism(2);
  env.register_pipeline_service<Order, Scored>("order_pipeline", order_pipeline);
  env.submit();  // a job of services only: it serves until stopped

  const auto orders = simulate(n);
  std::vector<sage::Future<Scored>> answers;
  answers.reserve(orders.size());
  for (const auto& o : orders)
    answers.push_back(env.call_service_async<Scored>("order_pipeline", o));
  std::map<std::string, int> decisions;
  std::vector<Scored> scored;
  int disagree = 0;
  for (size_t i = 0; i < orders.size(); ++i) {
    Scored s = answers[i].get();
    const auto& o = orders[i];
    // By hand: the same features, the same model.
    const bool known = std::stoi(o.user.substr(5)) < users;
    const double risk = risk_of(o, known ? history_of(o.user) : Features{o.user, 0, 0, ""});
    if (s.order != o.id || std::abs(s.risk - risk) > 1e-12 || s.decision != decide(risk))
      ++disagree;
    ++decisions[s.decision];
    scored.push_back(std::move(s));
  }
  // One more, synchronously: a big order from abroad by a new user.
  const auto big = env.call_service<Scored>(
      "order_pipeline", Order{"order-big", "user-9999", 4'000.0, "US"}, sage::timeout(5s));
  env.stop();

  std::sort(scored.begin(), scored.end(), [](auto& a, auto& b) { return a.risk > b.risk; });
  std::printf("%zu orders scored through order_pipeline:", scored.size());
  for (const auto& [d, count] : decisions) std::printf(" %d %s", count, d.c_str());
  std::printf("\nthe riskiest:\n");
  for (size_t i = 0; i < std::min<size_t>(5, scored.size()); ++i)
    std::printf("  %-12s %-10s %8.2f  risk %.3f  %s\n", scored[i].order.c_str(),
                scored[i].user.c_str(), scored[i].amount, scored[i].risk,
                scored[i].decision.c_str());
  std::printf("%s: risk %.3f, %s\n", big.order.c_str(), big.risk, big.decision.c_str());
  if (disagree == 0 && big.decision == "reject") {
    std::printf("every answer agrees with the model computed by hand\n");
    return 0;
  }
  std::printf("MISMATCH: %d answers disagree with the model computed by hand\n", disagree);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sage-order-risk: %s\n", e.what());
    return 1;
  }
}
