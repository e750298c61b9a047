// expect: a keyed connect needs the same key type on every side
#include <sage/sage.hpp>
int main() {
  sage::LocalEnvironment env("x");
  auto a = env.from_batch({1, 2}).key_by([](const int& x) { return x; });
  auto b = env.from_batch({1, 2}).key_by([](const int& x) { return static_cast<long>(x); });
  a.connect(b);
}
