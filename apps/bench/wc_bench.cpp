// sage-bench's WC: lines -> split into words -> key_by(word) -> count per word ->
// checksum sink, against a single-thread loop that splits and counts the same way.

#include "wc_bench.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sage/sage.hpp>

namespace sage::bench {

namespace {

constexpr size_t kVocabulary = 10'000;
constexpr size_t kWordsPerLine = 8;

/// 10 k distinct pseudo-words of 3 to 10 lower-case letters, deterministic.
std::vector<std::string> make_vocabulary() {
  std::vector<std::string> words;
  std::set<std::string> seen;
  uint64_t state = 42;
  while (words.size() < kVocabulary) {
    const uint64_t r = mix64(state++);
    const size_t len = 3 + r % 8;
    std::string w;
    uint64_t bits = mix64(r);
    for (size_t i = 0; i < len; ++i) {
      w.push_back(static_cast<char>('a' + bits % 26));
      bits /= 26;
    }
    if (seen.insert(w).second) words.push_back(std::move(w));
  }
  return words;
}

/// `lines` lines of 8 words each, separated by single spaces.
std::vector<std::string> make_lines(size_t lines, const std::vector<std::string>& vocab) {
  std::vector<std::string> out;
  out.reserve(lines);
  uint64_t k = 7;
  for (size_t l = 0; l < lines; ++l) {
    std::string line;
    for (size_t w = 0; w < kWordsPerLine; ++w) {
      if (w) line.push_back(' ');
      line += vocab[mix64(k++) % vocab.size()];
    }
    out.push_back(std::move(line));
  }
  return out;
}

/// Splits on spaces, handing each word to `emit` as a `std::string` (shared by SAGE and loop).
template <class Emit>
inline void split_spaces(const std::string& line, Emit&& emit) {
  const char* p = line.data();
  const char* const end = p + line.size();
  while (p < end) {
    while (p < end && *p == ' ') ++p;
    const char* q = p;
    while (q < end && *q != ' ') ++q;
    if (q > p) emit(std::string(p, static_cast<size_t>(q - p)));
    p = q;
  }
}

using WordCount = std::pair<std::string, uint64_t>;
using WcCounts = std::unordered_map<std::string, uint64_t>;

inline uint64_t wc_check(const std::string& word, uint64_t count) {
  return count * 31 + word.size();
}

struct WcResult {
  std::mutex mutex;
  WcCounts counts;
  uint64_t checksum = 0;
  uint64_t records = 0;
};

class WcSplit : public sage::FlatMapFunction<std::string, std::string> {
 public:
  void execute(const std::string& line, sage::Collector<std::string>& out) override {
    split_spaces(line, [&](std::string&& w) { out.collect(std::move(w)); });
  }
};

class WcCount : public sage::MapFunction<std::string, WordCount> {
 public:
  explicit WcCount(std::shared_ptr<WcResult> result) : result_(std::move(result)) {}
  WordCount execute(const std::string& w) override { return {w, ++counts_[w]}; }
  void close() override {
    std::lock_guard<std::mutex> guard(result_->mutex);
    for (const auto& [w, c] : counts_) result_->counts[w] += c;
  }

 private:
  std::shared_ptr<WcResult> result_;
  WcCounts counts_;
};

inline uint64_t wc_record_check(const WordCount& wc) { return wc_check(wc.first, wc.second); }
using WcSink = ChecksumSink<WordCount, WcResult, wc_record_check>;

struct WcLoopResult {
  WcCounts counts;
  uint64_t checksum = 0;
  uint64_t records = 0;
};

WcLoopResult wc_loop(const std::vector<std::string>& lines) {
  WcLoopResult res;
  for (const auto& line : lines)
    split_spaces(line, [&](std::string&& w) {
      const uint64_t c = ++res.counts[w];
      res.checksum += wc_check(w, c);
      ++res.records;
    });
  return res;
}

double wc_sage(const std::vector<std::string>& lines, int parallelism,
               const WcLoopResult& expected) {
  auto result = std::make_shared<WcResult>();
  sage::LocalEnvironment env("bench-wc", job_config());
  env.from_batch(lines)  // copies the lines now, before the clock starts
      .name("lines")
      .flatmap<WcSplit>()
      .name("split")
      .parallelism(parallelism)
      .key_by([](const std::string& w) { return w; })
      .map<WcCount>(result)
      .name("count")
      .parallelism(parallelism)
      .sink<WcSink>(result)
      .name("sink")
      .parallelism(parallelism);
  const auto t0 = Clock::now();
  run_job(env);
  const double s = seconds_since(t0);
  if (result->records != expected.records || result->checksum != expected.checksum ||
      result->counts != expected.counts)
    fail("WC: SAGE result differs from the loop's (words " + std::to_string(result->records) +
         " vs " + std::to_string(expected.records) + ", distinct " +
         std::to_string(result->counts.size()) + " vs " + std::to_string(expected.counts.size()) +
         ")");
  return s;
}

}  // namespace

void wc_figures(size_t wc_lines, int runs, Output& out, Output& extra) {
  const auto vocab = make_vocabulary();
  auto lines = make_lines(wc_lines, vocab);
  const double words = static_cast<double>(wc_lines * kWordsPerLine);
  std::fprintf(stderr, "WC: %zu lines x %zu words, %zu-word vocabulary\n", wc_lines, kWordsPerLine,
               vocab.size());
  const BestOfRuns b = best_of_runs(
      runs, [&] { return wc_loop(lines); },
      [&](const WcLoopResult& expected) {
        if (expected.records != wc_lines * kWordsPerLine) fail("WC: the loop miscounted");
      },
      [&](int parallelism, const WcLoopResult& expected) {
        return wc_sage(lines, parallelism, expected);
      },
      [&](int r, const Round& t, const WcLoopResult& expected) {
        std::fprintf(stderr,
                     "  run %d: loop %.3f s (%.1f M words/s), sage p1 %.3f s (%.1f M/s, %.2f "
                     "cores busy), sage p2 %.3f s (%.1f M/s, %.2f cores busy); %zu distinct "
                     "words\n",
                     r + 1, t.loop_s, words / t.loop_s / 1e6, t.p1_s, words / t.p1_s / 1e6,
                     t.p1_cores, t.p2_s, words / t.p2_s / 1e6, t.p2_cores, expected.counts.size());
      });
  const double best = std::min(b.p1.seconds, b.p2.seconds);
  out.add("wc_sage_words_per_s", words / best, 0);
  out.add("wc_loop_words_per_s", words / b.loop.seconds, 0);
  out.add("wc_ratio", b.loop.seconds / best, 4);
  extra.add("wc_sage_p1_words_per_s", words / b.p1.seconds, 0);
  extra.add("wc_sage_p2_words_per_s", words / b.p2.seconds, 0);
  extra.add("wc_sage_best_parallelism", b.p1.seconds <= b.p2.seconds ? 1 : 2, 0);
  extra.add("wc_sage_p1_cores_busy", b.p1.cores, 2);
  extra.add("wc_sage_p2_cores_busy", b.p2.cores, 2);
  lines.clear();
  lines.shrink_to_fit();
  report_rss("WC (its lines freed)");
}

}  // namespace sage::bench
