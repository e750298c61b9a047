// The flagship example: a streaming word count over a book that ships with the
// repository (Jane Austen's Pride and Prejudice, data/book.txt).
//
//   lines -> split into words (parallel) -> key_by(word) -> running count per word
//         -> top-10 sink (prints the ten most frequent words when the stream ends)
//
// Usage: sage-word-count [FILE] [--repeat N] [--parallelism P] [--address HOST:PORT]
//   --repeat N repeats the text N times (default 20), so that the throughput
//   figure measures the runtime rather than start-up.
//   --address runs the same pipeline on the cluster whose head is at HOST:PORT
//   (a RemoteEnvironment); the top-10 list is then printed in the log of the
//   node that ran the sink (`sage job logs`).

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sage/sage.hpp>

#include "environment_from_args.hpp"

namespace {

using WordCount = std::pair<std::string, uint64_t>;

/// Splits a line into lower-case words of letters (and inner apostrophes).
class SplitWords : public sage::FlatMapFunction<std::string, std::string> {
 public:
  void execute(const std::string& line, sage::Collector<std::string>& out) override {
    std::string word;
    for (char c : line) {
      const auto u = static_cast<unsigned char>(c);
      if (std::isalpha(u) || (c == '\'' && !word.empty())) {
        word.push_back(static_cast<char>(std::tolower(u)));
      } else if (!word.empty()) {
        emit(word, out);
      }
    }
    if (!word.empty()) emit(word, out);
  }

 private:
  static void emit(std::string& word, sage::Collector<std::string>& out) {
    while (!word.empty() && word.back() == '\'') word.pop_back();
    if (!word.empty()) out.collect(std::move(word));
    word.clear();
  }
};

/// Keyed by word: the running count of the current word.
class CountWords : public sage::MapFunction<std::string, WordCount> {
 public:
  WordCount execute(const std::string& word) override { return {word, ++counts_[word]}; }

 private:
  std::unordered_map<std::string, uint64_t> counts_;
};

/// Keeps the latest count of every word; prints the ten most frequent at the end.
class TopWords : public sage::SinkFunction<WordCount> {
 public:
  explicit TopWords(size_t n) : n_(n) {}
  void execute(const WordCount& wc) override {
    auto& c = latest_[wc.first];
    c = std::max(c, wc.second);
    ++updates_;
  }
  void close() override {
    std::vector<WordCount> all(latest_.begin(), latest_.end());
    const size_t n = std::min(n_, all.size());
    std::partial_sort(all.begin(), all.begin() + static_cast<long>(n), all.end(),
                      [](const auto& a, const auto& b) {
                        return a.second != b.second ? a.second > b.second : a.first < b.first;
                      });
    std::printf("The %zu most frequent of %zu distinct words (%llu words in all):\n", n, all.size(),
                static_cast<unsigned long long>(updates_));
    for (size_t i = 0; i < n; ++i)
      std::printf("%4zu. %-12s %llu\n", i + 1, all[i].first.c_str(),
                  static_cast<unsigned long long>(all[i].second));
  }

 private:
  size_t n_;
  std::unordered_map<std::string, uint64_t> latest_;
  uint64_t updates_ = 0;
};

}  // namespace

int run(int argc, char** argv) {
  sage::Config config;
  auto args = config.merge_args(argc, argv);
  const std::string path = args.empty() ? std::string(SAGE_DATA_DIR) + "/book.txt" : args[0];
  const auto repeat = config.get_int("repeat", 20);
  const auto parallelism = static_cast<int>(config.get_int("parallelism", 2));

  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "sage-word-count: cannot read %s\n", path.c_str());
    return 1;
  }
  std::vector<std::string> book;
  for (std::string line; std::getline(in, line);) book.push_back(line);
  std::vector<std::string> lines;
  lines.reserve(book.size() * static_cast<size_t>(repeat));
  for (int64_t r = 0; r < repeat; ++r) lines.insert(lines.end(), book.begin(), book.end());

  // The same pipeline on this process or on a cluster.
  auto environment = sage_examples::environment_from_args("word-count", config);
  auto& env = *environment;
  env.from_batch(lines)
      .name("lines")
      .flatmap<SplitWords>()
      .name("split")
      .parallelism(parallelism)
      .key_by([](const std::string& w) { return w; })
      .map<CountWords>()
      .name("count")
      .parallelism(parallelism)
      .sink<TopWords>(10)
      .name("top10");

  const auto start = std::chrono::steady_clock::now();
  try {
    env.submit(/*autostop=*/true);
  } catch (const sage::JobFailed& e) {
    std::fprintf(stderr, "sage-word-count: %s\n", e.what());
    return 1;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  uint64_t words = 0;
  for (const auto& op : env.status().operators)
    if (op.name == "count") words = op.records_in;
  std::printf("\n%llu words from %zu lines (%s x %lld) in %.3f s: %.2f M words/s\n",
              static_cast<unsigned long long>(words), lines.size(), path.c_str(),
              static_cast<long long>(repeat), seconds, static_cast<double>(words) / seconds / 1e6);
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {  // a bad argument or pipeline: one line, not a core dump
    std::fprintf(stderr, "sage-word-count: %s\n", e.what());
    return 1;
  }
}
