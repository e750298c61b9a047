// A word count on event time: someone types the book (data/book.txt) one line
// every 250 ms, and the lines reach us out of order by up to 3 s; now and then
// one is held up for 30 s (a flaky connection) or 6 min (a laptop that slept).
// Per word and 10 minutes of typing, a tumbling event-time window counts the
// word; a second window, keyed by the first one's start, picks each ten
// minutes' three most frequent words. A minute of allowed lateness updates a
// result when a delayed line comes in time for it; later words go to a side
// output instead of being lost. At the end the program counts every word by
// hand, minus the late ones, and checks that the windows agree.
//
//   lines -> assign_timestamps (3 s out of order) -> words -> key_by(word)
//         -> tumbling 10 min: count   (late words -> side output)
//         -> key_by(window start) -> tumbling 10 min: top 3 -> collect
//
// Usage: sage-windowed-word-count [FILE] [--speedup N] [--parallelism P] [--address HOST:PORT]
//   --speedup N replays the typing N times faster (default 1000: about 3 s).

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <sage/sage.hpp>

#include "environment_from_args.hpp"

namespace {

using namespace std::chrono_literals;

constexpr int64_t kLineEveryMs = 250;
constexpr int64_t kWindowMs = 10 * 60 * 1000;

struct Line {
  int64_t ts = 0;  ///< when it was typed (event time), ms
  std::string text;
};
template <class Inspector>
auto inspect(Inspector& f, Line& l) {
  return f(l.ts, l.text);
}

struct Word {
  int64_t ts = 0;
  std::string text;
};
template <class Inspector>
auto inspect(Inspector& f, Word& w) {
  return f(w.ts, w.text);
}

/// A word's count in one window (start, ms).
struct WordCount {
  int64_t window = 0;
  std::string word;
  int64_t count = 0;
};
template <class Inspector>
auto inspect(Inspector& f, WordCount& c) {
  return f(c.window, c.word, c.count);
}

/// The most frequent words of one window, and how many words it counted.
struct TopWords {
  int64_t window = 0;
  int64_t words = 0;
  std::vector<std::pair<std::string, int64_t>> top;
};
template <class Inspector>
auto inspect(Inspector& f, TopWords& t) {
  return f(t.window, t.words, t.top);
}

/// Lower-case words of letters, of five letters or more (so that "the" and
/// "and" do not win every window).
std::vector<std::string> words_of(const std::string& line) {
  std::vector<std::string> out;
  std::string word;
  auto flush = [&] {
    if (word.size() >= 5) out.push_back(word);
    word.clear();
  };
  for (char c : line) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalpha(u))
      word.push_back(static_cast<char>(std::tolower(u)));
    else
      flush();
  }
  flush();
  return out;
}

/// The lines in the order they arrive, with their arrival times.
std::vector<std::pair<int64_t, Line>> arrivals(const std::vector<std::string>& book) {
  std::mt19937 rng(11);
  std::vector<std::pair<int64_t, Line>> by_arrival;
  for (size_t i = 0; i < book.size(); ++i) {
    const int64_t ts = static_cast<int64_t>(i) * kLineEveryMs;
    int64_t delay = static_cast<int64_t>(rng() % 3'000);
    if (rng() % 100 == 0) delay += 30'000;
    if (rng() % 400 == 0) delay += 6 * 60'000;
    by_arrival.emplace_back(ts + delay, Line{ts, book[i]});
  }
  std::stable_sort(by_arrival.begin(), by_arrival.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  return by_arrival;
}

/// Replays the lines at their arrival times, `speedup` times faster than
/// typing (the periodic watermarks need real time to pass: a source that
/// emitted everything at once would reach its end before the first one).
class Replay : public sage::SourceFunction<Line> {
 public:
  Replay(std::vector<std::pair<int64_t, Line>> arrivals, double speedup)
      : arrivals_(std::move(arrivals)), speedup_(speedup) {}
  void open(sage::RuntimeContext&) override { start_ = std::chrono::steady_clock::now(); }
  void execute(sage::SourceContext<Line>& ctx) override {
    const double elapsed_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_)
            .count();
    const auto due = static_cast<int64_t>(elapsed_ms * speedup_);
    for (; next_ < arrivals_.size() && arrivals_[next_].first <= due; ++next_)
      ctx.emit(arrivals_[next_].second);
    if (next_ == arrivals_.size()) ctx.stop();
  }

 private:
  std::vector<std::pair<int64_t, Line>> arrivals_;
  double speedup_;
  size_t next_ = 0;
  std::chrono::steady_clock::time_point start_;
};

/// Counts a word in a window.
struct CountWord {
  int64_t create() const { return 0; }
  void add(const Word&, int64_t& n) const { ++n; }
  void merge(int64_t& into, const int64_t& from) const { into += from; }
  WordCount result(const std::string& word, const sage::Window& w, const int64_t& n) const {
    return {w.start, word, n};
  }
};

/// The three most frequent of a window's words (and how many it counted).
TopWords top_of(int64_t window, const std::map<std::string, int64_t>& counts) {
  std::vector<std::pair<std::string, int64_t>> all(counts.begin(), counts.end());
  TopWords top{window, 0, {}};
  for (const auto& [word, n] : all) top.words += n;
  const size_t n = std::min<size_t>(3, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<long>(n), all.end(),
                    [](const auto& a, const auto& b) {
                      return a.second != b.second ? a.second > b.second : a.first < b.first;
                    });
  top.top.assign(all.begin(), all.begin() + static_cast<long>(n));
  return top;
}

/// The second window: a window that fires again (a late word updated its
/// count) sends the word's new count, and the latest count of a word is its
/// highest.
void top_three(const int64_t& window, const sage::Window&, const std::vector<WordCount>& counts,
               sage::Collector<TopWords>& out) {
  std::map<std::string, int64_t> latest;
  for (const auto& c : counts) latest[c.word] = std::max(latest[c.word], c.count);
  out.collect(top_of(window, latest));
}

int run(int argc, char** argv) {
  sage::Config config;
  auto args = config.merge_args(argc, argv);
  const std::string path = args.empty() ? std::string(SAGE_DATA_DIR) + "/book.txt" : args[0];
  const auto parallelism = static_cast<int>(config.get_int("parallelism", 2));
  const auto speedup = static_cast<double>(config.get_int("speedup", 1000));
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "sage-windowed-word-count: cannot read %s\n", path.c_str());
    return 1;
  }
  std::vector<std::string> book;
  for (std::string line; std::getline(in, line);) book.push_back(line);

  auto environment = sage_examples::environment_from_args("windowed-word-count", config);
  auto& env = *environment;
  sage::OutputTag<Word> late("late words");
  auto counts =
      env.from_source<Replay>(arrivals(book), speedup)
          .name("lines")
          .assign_timestamps([](const Line& l) { return l.ts; }, sage::bounded_out_of_order(3s))
          .flatmap([](const Line& l, sage::Collector<Word>& out) {
            for (auto& w : words_of(l.text)) out.collect(Word{l.ts, std::move(w)});
          })
          .name("words")
          .key_by([](const Word& w) { return w.text; })
          .window(sage::tumbling(10min))
          .allowed_lateness(1min)
          .side_output_late(late)
          .aggregate(CountWord{});
  counts.name("count").parallelism(parallelism);
  auto late_words = counts.side_output(late).collect();
  // A count carries its window's last millisecond as its event time, so the
  // second window puts it in the same ten minutes.
  auto tops = counts.key_by([](const WordCount& c) { return c.window; })
                  .window(sage::tumbling(10min))
                  .allowed_lateness(1min)
                  .process(top_three)
                  .name("top-3")
                  .collect();
  env.submit(/*autostop=*/true);

  // The last result of each window is the one that counted the most words.
  std::map<int64_t, TopWords> final_tops;
  for (auto& t : tops.get()) {
    auto [it, fresh] = final_tops.try_emplace(t.window, t);
    if (!fresh && t.words > it->second.words) it->second = t;
  }
  std::printf("%zu lines typed in %lld minutes; the most frequent words of each 10 minutes:\n",
              book.size(), static_cast<long long>(book.size() * kLineEveryMs / 60'000));
  for (const auto& [window, t] : final_tops) {
    std::printf("  %3lld..%3lld min (%5lld words):", static_cast<long long>(window / 60'000),
                static_cast<long long>((window + kWindowMs) / 60'000),
                static_cast<long long>(t.words));
    for (const auto& [word, n] : t.top)
      std::printf(" %s %lld", word.c_str(), static_cast<long long>(n));
    std::printf("\n");
  }

  // By hand: every word of every line in its window, minus those that came too late.
  std::map<int64_t, std::map<std::string, int64_t>> expected;
  for (size_t i = 0; i < book.size(); ++i) {
    const int64_t ts = static_cast<int64_t>(i) * kLineEveryMs;
    for (const auto& w : words_of(book[i])) ++expected[ts - ts % kWindowMs][w];
  }
  const auto too_late = late_words.get();
  for (const auto& w : too_late) --expected[w.ts - w.ts % kWindowMs][w.text];
  size_t differ = 0;
  for (const auto& [window, words] : expected) {
    std::map<std::string, int64_t> counted;
    for (const auto& [word, n] : words)
      if (n > 0) counted.emplace(word, n);
    const TopWords want = top_of(window, counted);
    auto got = final_tops.find(window);
    if (got == final_tops.end() || got->second.words != want.words || got->second.top != want.top)
      ++differ;
  }
  if (final_tops.size() != expected.size()) ++differ;
  std::printf("%zu words came too late for their window (side output); ", too_late.size());
  if (differ == 0)
    std::printf("a count by hand agrees with every window\n");
  else
    std::printf("a count by hand differs in %zu windows\n", differ);
  return differ == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sage-windowed-word-count: %s\n", e.what());
    return 1;
  }
}
