// expect: comap: every callable must return the same type
#include <sage/sage.hpp>
#include <string>
int main() {
  sage::LocalEnvironment env("x");
  auto a = env.from_batch({1, 2});
  auto b = env.from_batch({1.5});
  a.connect(b).comap([](const int& x) { return x; },
                     [](const double& d) { return std::to_string(d); });
}
