// expect: a keyed stream connects with keyed streams only
#include <sage/sage.hpp>
int main() {
  sage::LocalEnvironment env("x");
  auto a = env.from_batch({1, 2}).key_by([](const int& x) { return x; });
  auto b = env.from_batch({1, 2});
  a.connect(b);
}
