#pragma once
// The declarative pipeline tests of tests/pipelines/*.pipeline (format:
// tests/pipelines/README.md): parsing, and building a case's pipeline in any
// environment. Used by the integration test (LocalEnvironment) and by the
// cluster test program (the same cases on a RemoteEnvironment).

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include <sage/sage.hpp>

namespace sage::testing {

using Value = int64_t;

struct Step {
  std::string op;  // map, filter, flatmap, key_by, rebalance, broadcast
  std::string fn;  // add, mul, even, ...
  Value arg = 0;
  std::string strategy = "hash";  // key_by only
  int parallelism = 0;
  std::string name;
};

struct Case {
  std::string file;
  std::string name;
  sage::Config config;
  std::vector<Value> input;
  int source_parallelism = 1;
  std::vector<Step> steps;
  std::string expect_kind;  // ordered, unordered, error, count
  std::vector<Value> expected;
  std::string expected_error;
  size_t expected_count = 0;
};

inline std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

inline std::vector<Value> parse_values(const std::string& text) {
  std::vector<Value> out;
  for (const auto& w : words(text)) {
    if (auto dots = w.find(".."); dots != std::string::npos) {
      const Value lo = std::stoll(w.substr(0, dots));
      const Value hi = std::stoll(w.substr(dots + 2));
      for (Value v = lo; v <= hi; ++v) out.push_back(v);
    } else {
      out.push_back(std::stoll(w));
    }
  }
  return out;
}

inline Step parse_step(const std::string& line) {
  Step s;
  auto bar = line.find('|');
  auto head = words(line.substr(0, bar));
  if (head.empty()) throw std::runtime_error("empty pipeline step");
  s.op = head[0];
  if (head.size() > 1) s.fn = head[1];
  if (head.size() > 2) {
    if (s.op == "key_by") {
      s.arg = s.fn == "mod" ? std::stoll(head[2]) : 0;
      if (head.size() > 3 || s.fn != "mod") s.strategy = head.back();
    } else {
      s.arg = std::stoll(head[2]);
    }
  }
  while (bar != std::string::npos) {  // settings: "| parallelism 3 | name parser"
    const auto next = line.find('|', bar + 1);
    auto setting =
        words(line.substr(bar + 1, next == std::string::npos ? std::string::npos : next - bar - 1));
    if (setting.size() != 2) throw std::runtime_error("cannot read setting in '" + line + "'");
    if (setting[0] == "parallelism")
      s.parallelism = std::stoi(setting[1]);
    else if (setting[0] == "name")
      s.name = setting[1];
    else
      throw std::runtime_error("unknown setting '" + setting[0] + "'");
    bar = next;
  }
  return s;
}

inline std::vector<Case> parse_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<Case> cases;
  Case c;
  c.file = path.filename().string();
  std::string section;  // pipeline or expect
  auto finish = [&] {
    if (!c.name.empty()) cases.push_back(c);
    c = Case{};
    c.file = path.filename().string();
    section.clear();
  };
  for (std::string line; std::getline(in, line);) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (line.rfind("---", 0) == 0) {
      finish();
      continue;
    }
    const bool indented = line[0] == ' ' || line[0] == '\t';
    if (indented && section == "pipeline") {
      c.steps.push_back(parse_step(line));
      continue;
    }
    if (indented && section == "expect") {
      auto v = parse_values(line);
      c.expected.insert(c.expected.end(), v.begin(), v.end());
      continue;
    }
    auto colon = line.find(':');
    if (colon == std::string::npos)
      throw std::runtime_error(c.file + ": cannot read '" + line + "'");
    const std::string key = line.substr(0, colon);
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    section.clear();
    if (key == "name") {
      c.name = value;
    } else if (key == "config") {
      for (const auto& kv : words(value)) {
        auto eq = kv.find('=');
        c.config.set(kv.substr(0, eq), kv.substr(eq + 1));
      }
    } else if (key == "input") {
      c.input = parse_values(value);
    } else if (key == "parallelism") {
      c.source_parallelism = std::stoi(value);
    } else if (key == "pipeline") {
      section = "pipeline";
    } else if (key.rfind("expect", 0) == 0) {
      c.expect_kind = words(key.substr(6)).at(0);
      if (c.expect_kind == "error") {
        c.expected_error = value;
      } else if (c.expect_kind == "count") {
        c.expected_count = std::stoull(value);
      } else {
        section = "expect";
        auto v = parse_values(value);
        c.expected.insert(c.expected.end(), v.begin(), v.end());
      }
    } else {
      throw std::runtime_error(c.file + ": unknown key '" + key + "'");
    }
  }
  finish();
  return cases;
}

/// The stateful operations: a running sum per key (or per instance), the instance index.
class RunningSum : public sage::MapFunction<Value, Value> {
 public:
  explicit RunningSum(bool keyed) : keyed_(keyed) {}
  Value execute(const Value& x) override { return sums_[keyed_ ? ctx().key<Value>() : 0] += x; }

 private:
  bool keyed_;
  std::unordered_map<Value, Value> sums_;
};

class InstanceIndex : public sage::MapFunction<Value, Value> {
 public:
  Value execute(const Value&) override { return ctx().index(); }
};

/// A stream that is either plain or keyed (by a Value key).
using AnyStream = std::variant<sage::DataStream<Value>, sage::KeyedStream<Value, Value>>;

template <class S>
sage::DataStream<Value> apply_step(S& in, const Step& s, bool keyed) {
  const Value n = s.arg;
  if (s.op == "map") {
    if (s.fn == "add") return in.map([n](const Value& x) { return x + n; });
    if (s.fn == "mul") return in.map([n](const Value& x) { return x * n; });
    if (s.fn == "mod") return in.map([n](const Value& x) { return x % n; });
    if (s.fn == "neg") return in.map([](const Value& x) { return -x; });
    if (s.fn == "running_sum") return in.template map<RunningSum>(keyed);
    if (s.fn == "instance") return in.template map<InstanceIndex>();
    if (s.fn == "fail_at")
      return in.map([n](const Value& x) {
        if (x == n) throw std::runtime_error("failed at " + std::to_string(n));
        return x;
      });
  } else if (s.op == "filter") {
    if (s.fn == "even") return in.filter([](const Value& x) { return x % 2 == 0; });
    if (s.fn == "odd") return in.filter([](const Value& x) { return x % 2 != 0; });
    if (s.fn == "gt") return in.filter([n](const Value& x) { return x > n; });
    if (s.fn == "lt") return in.filter([n](const Value& x) { return x < n; });
  } else if (s.op == "flatmap") {
    if (s.fn == "repeat")
      return in.flatmap([n](const Value& x) { return std::vector<Value>(n, x); });
    if (s.fn == "upto")
      return in.flatmap([](const Value& x, sage::Collector<Value>& out) {
        for (Value i = 0; i < x; ++i) out.collect(i);
      });
  } else if (s.op == "union" && s.fn == "add") {
    return in.union_with(in.map([n](const Value& x) { return x + n; }));
  } else if (s.op == "connect" && s.fn == "neg") {
    return in.connect(in).comap([](const Value& x) { return x; },
                                [](const Value& x) { return -x; });
  } else if (s.op == "window_sum" || s.op == "sliding_sum" || s.op == "session_sum" ||
             s.op == "count_sum" || (s.op == "reduce" && s.fn == "sum")) {
    if constexpr (requires { in.window(sage::tumbling(std::chrono::milliseconds(1))); }) {
      auto sum = [](const Value& a, const Value& b) { return a + b; };
      if (s.op == "reduce") return in.reduce(sum);
      const auto ms = [](const std::string& v) { return std::chrono::milliseconds(std::stoll(v)); };
      if (s.op == "count_sum") return in.count_window(std::stoll(s.fn)).reduce(sum);
      if (s.op == "session_sum") return in.window(sage::session(ms(s.fn))).reduce(sum);
      if (s.op == "sliding_sum")
        return in.window(sage::sliding(ms(s.fn), std::chrono::milliseconds(n))).reduce(sum);
      return in.window(sage::tumbling(ms(s.fn))).reduce(sum);
    } else {
      throw std::runtime_error(s.op + " needs a keyed stream");
    }
  }
  throw std::runtime_error("unknown operation '" + s.op + " " + s.fn + "'");
}

inline std::string join(const std::vector<Value>& v) {
  std::string s;
  for (auto x : v) s += std::to_string(x) + " ";
  return s;
}

/// Builds case `c` in `env`; the records it collects.
inline sage::Collected<Value> build_case(sage::Environment& env, const Case& c) {
  AnyStream stream = env.from_batch(c.input).parallelism(c.source_parallelism);
  for (const auto& s : c.steps) {
    if (s.op == "key_by") {
      auto& plain = std::get<sage::DataStream<Value>>(stream);
      const auto p = s.strategy == "broadcast"     ? sage::Partition::broadcast
                     : s.strategy == "round_robin" ? sage::Partition::round_robin
                                                   : sage::Partition::hash;
      if (s.fn == "mod") {
        const Value n = s.arg;
        stream = plain.key_by([n](const Value& x) { return x % n; }, p);
      } else {
        stream = plain.key_by([](const Value& x) { return x; }, p);
      }
      continue;
    }
    if (s.op == "rebalance") {
      stream = std::get<sage::DataStream<Value>>(stream).rebalance();
      continue;
    }
    if (s.op == "broadcast") {
      stream = std::get<sage::DataStream<Value>>(stream).broadcast();
      continue;
    }
    if (s.op == "timestamps") {
      stream = std::get<sage::DataStream<Value>>(stream).assign_timestamps(
          [](const Value& x) { return static_cast<int64_t>(x); }, sage::monotonous());
      continue;
    }
    if (s.op == "loop" && s.fn == "halve") {
      // Every record goes round a feedback loop, halved, while it is above 1.
      auto& plain = std::get<sage::DataStream<Value>>(stream);
      auto back = env.from_future<Value>("halve-" + std::to_string(&s - c.steps.data()));
      auto all = plain.union_with(back);
      auto halves = all.filter([](const Value& x) { return x > 1; }).map([](const Value& x) {
        return x / 2;
      });
      if (s.parallelism > 0) halves.parallelism(s.parallelism);
      halves.fill_future(back);
      stream = all;
      continue;
    }
    const bool keyed = std::holds_alternative<sage::KeyedStream<Value, Value>>(stream);
    auto next = std::visit([&](auto& in) { return apply_step(in, s, keyed); }, stream);
    if (s.parallelism > 0) next.parallelism(s.parallelism);
    if (!s.name.empty()) next.name(s.name);
    stream = next;
  }
  return std::visit([](auto& in) { return in.collect(); }, stream);
}

/// Every case of every file in tests/pipelines, in file order.
inline std::vector<Case> all_cases(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().extension() == ".pipeline") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  std::vector<Case> out;
  for (const auto& f : files)
    for (auto& c : parse_file(f)) out.push_back(std::move(c));
  return out;
}

}  // namespace sage::testing
