// Retrieval as a service: `retriever` indexes the paragraphs of a book
// (data/book.txt, Pride and Prejudice) at open() and ranks them for a
// question with BM25 (an inverted index; k1 = 1.2, b = 0.75). A stream of
// questions calls it through map_async and prints the best passages; the
// pipeline service `ask` (question -> best passage) answers the driver too.
// The program checks every ranking against a brute-force BM25 over all
// paragraphs, computed here without the index.
//
// Usage: sage-retrieval [--book PATH] [--address HOST:PORT]

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sage/sage.hpp>

#include "environment_from_args.hpp"

#ifndef SAGE_DATA_DIR
#define SAGE_DATA_DIR "data"
#endif

namespace {

using namespace std::chrono_literals;

/// A ranked paragraph: its number in the book, its BM25 score, its text.
struct Passage {
  int64_t paragraph = 0;
  double score = 0;
  std::string text;
};
template <class Inspector>
auto inspect(Inspector& f, Passage& p) {
  return f(p.paragraph, p.score, p.text);
}

/// A question and its best passage.
using Answer = std::pair<std::string, Passage>;

const std::set<std::string> stopwords = {
    "a",   "an",   "and",  "are",  "as",   "at",   "be",   "but",  "by",    "did",  "do",   "does",
    "for", "from", "had",  "has",  "have", "he",   "her",  "his",  "how",   "i",    "in",   "is",
    "it",  "not",  "of",   "on",   "or",   "she",  "that", "the",  "their", "they", "this", "to",
    "was", "were", "what", "when", "who",  "whom", "why",  "with", "you"};

std::vector<std::string> tokens(const std::string& text) {
  std::vector<std::string> out;
  std::string word;
  auto flush = [&] {
    if (!word.empty() && !stopwords.count(word)) out.push_back(word);
    word.clear();
  };
  for (unsigned char c : text) {
    if (std::isalpha(c))
      word.push_back(static_cast<char>(std::tolower(c)));
    else
      flush();
  }
  flush();
  return out;
}

/// The paragraphs of a text: blocks of lines between blank lines, joined by spaces.
std::vector<std::string> paragraphs_of(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read the book at " + path);
  std::vector<std::string> out;
  std::string line, current;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      if (!current.empty()) out.push_back(std::move(current));
      current.clear();
    } else {
      current += (current.empty() ? "" : " ") + line;
    }
  }
  if (!current.empty()) out.push_back(std::move(current));
  return out;
}

constexpr double k1 = 1.2;
constexpr double b = 0.75;

/// BM25's idf of a term in `df` of `n` documents (never negative).
double idf(size_t n, size_t df) {
  return std::log(1.0 + (static_cast<double>(n) - static_cast<double>(df) + 0.5) /
                            (static_cast<double>(df) + 0.5));
}

/// Better first; of equal scores, the earlier paragraph.
bool ranks_before(const Passage& a, const Passage& x) {
  return a.score != x.score ? a.score > x.score : a.paragraph < x.paragraph;
}

/// The retrieval service: an inverted index of the book's paragraphs.
struct Retriever : sage::Service {
  explicit Retriever(std::string book) : book(std::move(book)) {}

  void open(sage::RuntimeContext&) override {
    paragraphs = paragraphs_of(book);
    double total = 0;
    for (size_t p = 0; p < paragraphs.size(); ++p) {
      const auto words = tokens(paragraphs[p]);
      length.push_back(static_cast<double>(words.size()));
      total += static_cast<double>(words.size());
      std::unordered_map<std::string, int> tf;
      for (const auto& w : words) ++tf[w];
      for (const auto& [w, n] : tf) postings[w].emplace_back(static_cast<int64_t>(p), n);
    }
    average_length = total / static_cast<double>(std::max<size_t>(1, paragraphs.size()));
  }

  /// The `k` best paragraphs for `question`, best first.
  std::vector<Passage> process(const std::string& question, int64_t k) {
    std::unordered_map<int64_t, double> score;
    std::set<std::string> seen;
    for (const auto& term : tokens(question)) {
      if (!seen.insert(term).second) continue;
      auto it = postings.find(term);
      if (it == postings.end()) continue;
      const double w = idf(paragraphs.size(), it->second.size());
      for (const auto& [p, tf] : it->second) {
        const double norm = k1 * (1 - b + b * length[p] / average_length);
        score[p] += w * tf * (k1 + 1) / (tf + norm);
      }
    }
    std::vector<Passage> ranked;
    for (const auto& [p, s] : score) ranked.push_back(Passage{p, s, {}});
    const auto top = std::min<size_t>(static_cast<size_t>(std::max<int64_t>(k, 0)), ranked.size());
    std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(top),
                      ranked.end(), ranks_before);
    ranked.resize(top);
    for (auto& r : ranked) r.text = paragraphs[static_cast<size_t>(r.paragraph)];
    return ranked;
  }
  int64_t size() const { return static_cast<int64_t>(paragraphs.size()); }
  static void methods(sage::Methods<Retriever>& m) { m.add("size", &Retriever::size); }

  std::string book;
  std::vector<std::string> paragraphs;
  std::vector<double> length;
  double average_length = 1;
  std::unordered_map<std::string, std::vector<std::pair<int64_t, int>>> postings;
};

/// BM25 of every paragraph for `question` without an index: the check.
Passage brute_force_best(const std::vector<std::string>& paragraphs, const std::string& question) {
  std::vector<std::vector<std::string>> docs;
  double total = 0;
  for (const auto& p : paragraphs) {
    docs.push_back(tokens(p));
    total += static_cast<double>(docs.back().size());
  }
  const double average = total / static_cast<double>(docs.size());
  std::vector<std::string> terms;
  for (const auto& t : tokens(question))
    if (std::find(terms.begin(), terms.end(), t) == terms.end()) terms.push_back(t);
  Passage best{-1, 0, {}};
  for (size_t p = 0; p < docs.size(); ++p) {
    double s = 0;
    bool any = false;
    for (const auto& t : terms) {
      const auto tf = std::count(docs[p].begin(), docs[p].end(), t);
      if (tf == 0) continue;
      any = true;
      size_t df = 0;
      for (const auto& d : docs) df += std::find(d.begin(), d.end(), t) != d.end();
      const double norm = k1 * (1 - b + b * static_cast<double>(docs[p].size()) / average);
      s += idf(docs.size(), df) * static_cast<double>(tf) * (k1 + 1) /
           (static_cast<double>(tf) + norm);
    }
    const Passage here{static_cast<int64_t>(p), s, {}};
    if (any && (best.paragraph < 0 || ranks_before(here, best))) best = here;
  }
  return best;
}

std::string snippet(const std::string& text, size_t n = 160) {
  return text.size() <= n ? text : text.substr(0, n) + "...";
}

int run(int argc, char** argv) {
  sage::Config config;
  config.merge_args(argc, argv);
  const std::string book = config.get_string("book", std::string(SAGE_DATA_DIR) + "/book.txt");
  // The services' job: it serves until stopped, to every job of the runtime or cluster.
  auto service_env = sage_examples::environment_from_args("retrieval", config);
  service_env->register_service<Retriever>("retriever", book).parallelism(2);
  // Also as a pipeline service: question -> its best passage.
  service_env->register_pipeline_service<std::string, Answer>(
      "ask", [](sage::DataStream<std::string> qs) {
        return qs.map_async([](const std::string& q) {
          return sage::call_service_async<std::vector<Passage>>("retriever", q, int64_t{1})
              .then([q](const std::vector<Passage>& best) {
                return Answer{q, best.empty() ? Passage{-1, 0, "(nothing found)"} : best.front()};
              });
        });
      });
  service_env->submit();

  const std::vector<std::string> questions = {
      "Who is the single man of large fortune that has taken Netherfield Park?",
      "What did Mr. Darcy write in his letter to Elizabeth about Wickham?",
      "Why did Elizabeth refuse Mr. Collins when he proposed marriage?",
      "Where does Lady Catherine de Bourgh live, at Rosings?",
      "How did Lydia elope with Wickham to London?",
      "What does Elizabeth think of Pemberley and its grounds?",
      "When did Jane and Bingley become engaged?",
      "Who wrote to Mr. Bennet about the entail on Longbourn?",
  };
  // A stream of questions in another job, each calling the retriever through map_async.
  auto stream_env = sage_examples::environment_from_args("questions", config);
  auto ranked =
      stream_env->from_batch(questions)
          .map_async(
              [](const std::string& q) {
                return sage::call_service_async<std::vector<Passage>>("retriever", q, int64_t{3})
                    .then([q](const std::vector<Passage>& top) { return std::make_pair(q, top); });
              },
              sage::async_options{.capacity = 8, .ordered = true, .timeout = 30s})
          .collect();
  stream_env->submit(/*autostop=*/true);
  std::map<std::string, std::vector<Passage>> results;
  for (auto& [q, top] : ranked.get()) results[q] = std::move(top);
  // The driver asks the pipeline service.
  std::vector<sage::Future<Answer>> asked;
  for (const auto& q : questions)
    asked.push_back(service_env->call_service_async<Answer>("ask", q, sage::timeout(30s)));
  const auto paragraphs = service_env->call_service<int64_t>("retriever", sage::method("size"));
  std::vector<Answer> answers;
  for (auto& a : asked) answers.push_back(a.get());
  service_env->stop();

  std::printf("%lld paragraphs indexed from %s\n", static_cast<long long>(paragraphs),
              book.c_str());
  for (const auto& q : questions) {
    std::printf("\nQ: %s\n", q.c_str());
    for (const auto& p : results[q])
      std::printf("  [%lld, %.2f] %s\n", static_cast<long long>(p.paragraph), p.score,
                  snippet(p.text).c_str());
  }
  // The check: the index's best passage is the brute force's, for the stream and the service.
  const auto all = paragraphs_of(book);
  int disagree = 0;
  for (size_t i = 0; i < questions.size(); ++i) {
    const auto best = brute_force_best(all, questions[i]);
    const auto& top = results[questions[i]];
    const auto& [aq, answer] = answers.at(i);
    const bool ok = aq == questions[i] && !top.empty() && top.front().paragraph == best.paragraph &&
                    std::abs(top.front().score - best.score) < 1e-9 &&
                    answer.paragraph == best.paragraph;
    if (!ok) {
      ++disagree;
      std::printf("MISMATCH for \"%s\": brute force paragraph %lld\n", questions[i].c_str(),
                  static_cast<long long>(best.paragraph));
    }
  }
  if (disagree == 0 && static_cast<int64_t>(all.size()) == paragraphs) {
    std::printf(
        "\nthe best passages (the stream's and the pipeline service's) agree with a "
        "brute-force BM25 over all %zu paragraphs\n",
        all.size());
    return 0;
  }
  std::printf("MISMATCH: %d questions disagree with the brute force\n", disagree);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sage-retrieval: %s\n", e.what());
    return 1;
  }
}
