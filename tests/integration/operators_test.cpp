// Operators end to end on a LocalEnvironment: map, filter, flatmap, sinks,
// function classes, open/close, collect, print, status.

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <ranges>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

#include <sage/sage.hpp>

namespace {

std::vector<int> iota_vec(int n) {
  std::vector<int> v(n);
  for (int i = 0; i < n; ++i) v[i] = i;
  return v;
}

}  // namespace

TEST_CASE("first pipeline: from_batch, map, collect") {
  sage::LocalEnvironment env("hello-sage");
  auto out = env.from_batch(std::vector<std::string>{"Hello", "World", "SAGE"})
                 .map([](const std::string& s) { return "Processed: " + s; })
                 .collect();
  env.submit(true);
  CHECK(out.get() ==
        std::vector<std::string>{"Processed: Hello", "Processed: World", "Processed: SAGE"});
  CHECK(env.status().state == sage::JobState::finished);
}

TEST_CASE("from_batch takes initializer lists, ranges and empty containers") {
  {
    sage::LocalEnvironment env("init-list");
    auto out = env.from_batch({1, 2, 3}).collect();
    env.submit(true);
    CHECK(out.get() == std::vector<int>{1, 2, 3});
  }
  {
    sage::LocalEnvironment env("range");
    auto out =
        env.from_batch(std::views::iota(0, 5)).map([](const int& x) { return x * x; }).collect();
    env.submit(true);
    CHECK(out.get() == std::vector<int>{0, 1, 4, 9, 16});
  }
  {
    sage::LocalEnvironment env("empty");
    auto out = env.from_batch(std::vector<int>{}).collect();
    env.submit(true);
    CHECK(out.get().empty());
    CHECK(env.status().state == sage::JobState::finished);
  }
}

TEST_CASE("filter and flatmap: collector and range-returning callables") {
  sage::LocalEnvironment env("flat");
  auto words = env.from_batch(std::vector<std::string>{"a b", "", "c d e"})
                   .flatmap([](const std::string& line, sage::Collector<std::string>& out) {
                     std::string w;
                     for (char c : line + " ") {
                       if (c == ' ') {
                         if (!w.empty()) out.collect(w);
                         w.clear();
                       } else {
                         w += c;
                       }
                     }
                   });
  auto doubled = words.flatmap([](const std::string& w) {
                        return std::vector<std::string>{w, w};
                      })
                     .filter([](const std::string& w) { return w != "d"; })
                     .collect();
  env.submit(true);
  CHECK(doubled.get() == std::vector<std::string>{"a", "a", "b", "b", "c", "c", "e", "e"});
}

namespace {

struct Lifecycle {
  std::mutex mutex;
  std::map<std::string, int> opens, closes;
  std::map<std::string, int> seen_at_close;
  std::map<std::string, int> seen;
};

class Scale : public sage::MapFunction<int, int> {
 public:
  Scale(int factor, Lifecycle* life) : factor_(factor), life_(life) {}
  void open(sage::RuntimeContext& ctx) override {
    std::lock_guard<std::mutex> g(life_->mutex);
    life_->opens[ctx.name()]++;
  }
  int execute(const int& x) override {
    ++seen_;
    return x * factor_;
  }
  void close() override {
    std::lock_guard<std::mutex> g(life_->mutex);
    life_->closes[ctx().name()]++;
    life_->seen_at_close[ctx().name()] = seen_;
  }

 private:
  int factor_;
  Lifecycle* life_;
  int seen_ = 0;
};

class RecordingSink : public sage::SinkFunction<int> {
 public:
  explicit RecordingSink(Lifecycle* life) : life_(life) {}
  void open(sage::RuntimeContext& ctx) override {
    std::lock_guard<std::mutex> g(life_->mutex);
    life_->opens[ctx.name()]++;
  }
  void execute(const int&) override {
    std::lock_guard<std::mutex> g(life_->mutex);
    life_->seen[ctx().name()]++;
  }
  void close() override {
    std::lock_guard<std::mutex> g(life_->mutex);
    life_->closes[ctx().name()]++;
    life_->seen_at_close[ctx().name()] = life_->seen[ctx().name()];
  }

 private:
  Lifecycle* life_;
};

class EvenOnly : public sage::FilterFunction<int> {
 public:
  bool execute(const int& x) override { return x % 2 == 0; }
};

class Repeat : public sage::FlatMapFunction<int, int> {
 public:
  explicit Repeat(int times) : times_(times) {}
  void execute(const int& x, sage::Collector<int>& out) override {
    for (int i = 0; i < times_; ++i) out.collect(x);
  }

 private:
  int times_;
};

}  // namespace

TEST_CASE("function classes are built per instance, open and close run once per instance") {
  Lifecycle life;
  sage::LocalEnvironment env("classes");
  env.from_batch(iota_vec(10000))
      .map<Scale>(3, &life)
      .name("scale")
      .parallelism(3)
      .filter<EvenOnly>()
      .parallelism(3)
      .flatmap<Repeat>(2)
      .parallelism(2)
      .sink<RecordingSink>(&life)
      .name("record")
      .parallelism(2);
  env.submit(true);
  for (int i = 0; i < 3; ++i) {
    const auto n = "scale_" + std::to_string(i);
    CHECK(life.opens[n] == 1);
    CHECK(life.closes[n] == 1);
  }
  int total = 0;
  for (int i = 0; i < 2; ++i) {
    const auto n = "record_" + std::to_string(i);
    CHECK(life.opens[n] == 1);
    CHECK(life.closes[n] == 1);
    // close ran after the instance's last record
    CHECK(life.seen_at_close[n] == life.seen[n]);
    total += life.seen[n];
  }
  // 10000 inputs, x*3 even for even x: 5000 kept, each repeated twice
  CHECK(total == 10000);
  int scaled = 0;
  for (int i = 0; i < 3; ++i) scaled += life.seen_at_close["scale_" + std::to_string(i)];
  CHECK(scaled == 10000);
}

TEST_CASE("lambdas are copied per instance") {
  sage::LocalEnvironment env("lambda-state");
  // A mutable lambda counting its own calls: each instance has its own count.
  auto out = env.from_batch(iota_vec(1000))
                 .rebalance()
                 .map([n = 0](const int&) mutable { return ++n; })
                 .parallelism(4)
                 .collect();
  env.submit(true);
  auto v = out.get();
  REQUIRE(v.size() == 1000);
  // Four instances counting separately: the largest count is about a quarter.
  CHECK(*std::max_element(v.begin(), v.end()) == 250);
}

namespace {
struct Point {
  int x, y;
};
std::ostream& operator<<(std::ostream& os, const Point& p) {
  return os << '<' << p.x << ',' << p.y << '>';
}
}  // namespace

TEST_CASE("print writes one line per record to stdout") {
  // Redirect stdout to a file for the duration of the job.
  std::fflush(stdout);
  char path[] = "/tmp/sage_print_XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  int saved = dup(1);
  dup2(fd, 1);
  {
    sage::LocalEnvironment env("print");
    env.from_batch(std::vector<std::pair<std::string, int>>{{"a", 1}, {"b", 2}}).print("got ");
    env.from_batch({7}).map([](const int& x) { return std::vector<int>{x, x}; }).print();
    env.from_batch({Point{1, 2}})
        .map([](const Point& p) {
          return std::make_pair(std::string("p"), std::vector<Point>{p, p});
        })
        .print("pt ");
    env.submit(true);
  }
  std::fflush(stdout);
  dup2(saved, 1);
  close(saved);
  close(fd);
  std::FILE* f = std::fopen(path, "r");
  REQUIRE(f != nullptr);
  std::multiset<std::string> lines;
  char buf[256];
  while (std::fgets(buf, sizeof buf, f)) lines.insert(buf);
  std::fclose(f);
  std::remove(path);
  CHECK(lines == std::multiset<std::string>{"got (\"a\", 1)\n", "got (\"b\", 2)\n", "[7, 7]\n",
                                            "pt (\"p\", [<1,2>, <1,2>])\n"});
}

TEST_CASE("status reports records in and out per operator") {
  sage::LocalEnvironment env("status");
  CHECK(env.status().state == sage::JobState::created);
  env.from_batch(iota_vec(1000))
      .name("numbers")
      .filter([](const int& x) { return x < 100; })
      .name("small")
      .parallelism(2)
      .sink([](const int&) {})
      .name("drop");
  const auto id = env.submit(true);
  const auto s = env.status();
  CHECK(s.id == id);
  CHECK(s.state == sage::JobState::finished);
  std::map<std::string, sage::OperatorStatus> ops;
  for (const auto& op : s.operators) ops[op.name] = op;
  CHECK(ops["numbers"].records_out == 1000);
  CHECK(ops["small"].parallelism == 2);
  CHECK(ops["small"].records_in == 1000);
  CHECK(ops["small"].records_out == 100);
  CHECK(ops["drop"].records_in == 100);
}

TEST_CASE("a stream may feed several operators") {
  sage::LocalEnvironment env("fan-out");
  auto numbers = env.from_batch(iota_vec(100));
  auto evens = numbers.filter([](const int& x) { return x % 2 == 0; }).collect();
  auto odds = numbers.filter([](const int& x) { return x % 2 == 1; }).parallelism(2).collect();
  auto all = numbers.collect();
  env.submit(true);
  CHECK(evens.get().size() == 50);
  CHECK(odds.get().size() == 50);
  CHECK(all.get() == iota_vec(100));
}

TEST_CASE("collect().next reads records while the job runs") {
  sage::LocalEnvironment env("next");
  auto out = env.from_batch(iota_vec(5)).collect();
  env.submit(false);
  std::vector<int> got;
  while (auto x = out.next(std::chrono::seconds(30))) got.push_back(*x);
  CHECK(got == iota_vec(5));
  CHECK(out.exhausted());
}

TEST_CASE("chaining can be switched off without changing results") {
  for (bool chaining : {true, false}) {
    CAPTURE(chaining);
    sage::Config cfg;
    cfg.set("chaining", chaining);
    sage::LocalEnvironment env("chaining", cfg);
    auto out = env.from_batch(iota_vec(5000))
                   .map([](const int& x) { return x + 1; })
                   .filter([](const int& x) { return x % 3 != 0; })
                   .map([](const int& x) { return x * 2; })
                   .collect();
    env.submit(true);
    std::vector<int> expected;
    for (int i = 0; i < 5000; ++i)
      if ((i + 1) % 3 != 0) expected.push_back((i + 1) * 2);
    CHECK(out.get() == expected);  // parallelism 1 all along: order is kept
  }
}
