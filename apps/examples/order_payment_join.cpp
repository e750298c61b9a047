// Several inputs: orders and payments arrive on two streams, out of order by up
// to a second, and are joined per order id three ways:
//   - join<F>: a JoinFunction keeps whichever side came first in keyed state
//     (shared by both inputs) and emits the pair when the other side comes;
//   - interval_join: a payment counts only if it came within 0..30 s after its
//     order (event time; buffered records are dropped once the watermark passes);
//   - comap over the two streams (not keyed) counts orders and payments.
//
// Usage: sage-order-payment-join [--orders N] [--address HOST:PORT]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <sage/sage.hpp>

#include "environment_from_args.hpp"

namespace {

using namespace std::chrono_literals;

struct Order {
  int64_t id = 0;
  int64_t ts = 0;  ///< event time, ms
  int64_t cents = 0;
};
template <class Inspector>
auto inspect(Inspector& f, Order& o) {
  return f(o.id, o.ts, o.cents);
}

struct Payment {
  int64_t order = 0;
  int64_t ts = 0;
  int64_t cents = 0;
};
template <class Inspector>
auto inspect(Inspector& f, Payment& p) {
  return f(p.order, p.ts, p.cents);
}

/// order id, order cents, paid cents
using Paid = std::tuple<int64_t, int64_t, int64_t>;

/// Pairs each order with its payment, whichever arrives first.
struct MatchPayment : sage::JoinFunction<int64_t, Order, Payment, Paid> {
  void left(const int64_t& id, const Order& o, sage::Collector<Paid>& out) override {
    auto& payment = ctx().value_state<Payment>("payment");
    if (auto p = payment.value()) {
      out.collect({id, o.cents, p->cents});
      payment.clear();
    } else {
      ctx().value_state<Order>("order").update(o);
    }
  }
  void right(const int64_t& id, const Payment& p, sage::Collector<Paid>& out) override {
    auto& order = ctx().value_state<Order>("order");
    if (auto o = order.value()) {
      out.collect({id, o->cents, p.cents});
      order.clear();
    } else {
      ctx().value_state<Payment>("payment").update(p);
    }
  }
};

/// Orders every 10 ms; nine in ten are paid, after 1 to 60 s; both streams
/// arrive out of order by up to a second.
void simulate(int n, std::vector<Order>& orders, std::vector<Payment>& payments) {
  std::mt19937 rng(3);
  for (int i = 0; i < n; ++i) {
    const int64_t ts = int64_t{i} * 10;
    const int64_t cents = 100 + static_cast<int64_t>(rng() % 10'000);
    orders.push_back(Order{i, ts, cents});
    if (rng() % 10 != 0)
      payments.push_back(Payment{i, ts + 1'000 + static_cast<int64_t>(rng() % 59'000), cents});
  }
  auto shuffle_nearby = [&](auto& v) {
    for (size_t i = 0; i + 1 < v.size(); ++i)
      if (rng() % 3 == 0 && std::abs(v[i + 1].ts - v[i].ts) < 1'000) std::swap(v[i], v[i + 1]);
  };
  std::sort(payments.begin(), payments.end(), [](auto& a, auto& b) { return a.ts < b.ts; });
  shuffle_nearby(orders);
  shuffle_nearby(payments);
}

int run(int argc, char** argv) {
  sage::Config config;
  config.merge_args(argc, argv);
  const int n = static_cast<int>(config.get_int("orders", 20'000));
  auto environment = sage_examples::environment_from_args("order-payment-join", config);
  auto& env = *environment;
  std::vector<Order> order_list;
  std::vector<Payment> payment_list;
  simulate(n, order_list, payment_list);

  auto orders =
      env.from_batch(order_list)
          .name("orders")
          .assign_timestamps([](const Order& o) { return o.ts; }, sage::bounded_out_of_order(1s));
  auto payments =
      env.from_batch(payment_list)
          .name("payments")
          .assign_timestamps([](const Payment& p) { return p.ts; }, sage::bounded_out_of_order(1s));
  auto orders_by_id = orders.key_by([](const Order& o) { return o.id; });
  auto payments_by_id = payments.key_by([](const Payment& p) { return p.order; });

  auto paid = orders_by_id.connect(payments_by_id).join<MatchPayment>();
  paid.name("paid").parallelism(2);
  auto matched = paid.collect();
  auto on_time = orders_by_id
                     .interval_join(payments_by_id, 0s, 30s,
                                    [](const Order& o, const Payment& p) {
                                      return Paid{o.id, o.cents, p.cents};
                                    })
                     .name("paid-within-30s")
                     .collect();
  auto kinds = orders.connect(payments)
                   .comap([](const Order&) { return std::make_pair(1, 0); },
                          [](const Payment&) { return std::make_pair(0, 1); })
                   .name("count")
                   .collect();
  env.submit(/*autostop=*/true);

  int64_t n_orders = 0, n_payments = 0;
  for (auto [o, p] : kinds.get()) {
    n_orders += o;
    n_payments += p;
  }
  const auto all = matched.get();
  const auto timely = on_time.get();
  const auto wrong = std::count_if(all.begin(), all.end(),
                                   [](const Paid& p) { return std::get<1>(p) != std::get<2>(p); });
  std::printf(
      "%lld orders, %lld payments: %zu paid (%lld with the wrong amount), %zu within 30 s\n",
      static_cast<long long>(n_orders), static_cast<long long>(n_payments), all.size(),
      static_cast<long long>(wrong), timely.size());
  return all.size() == payment_list.size() && wrong == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sage-order-payment-join: %s\n", e.what());
    return 1;
  }
}
