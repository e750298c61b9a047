#include <cstdio>
#include <sage/sage.hpp>
int main() {
  sage::LocalEnvironment env("consumer");
  auto out =
      env.from_batch(std::vector<int>{1, 2, 3}).map([](const int& x) { return x * 10; }).collect();
  env.submit(true);
  int sum = 0;
  for (int v : out.get()) sum += v;
  std::printf("sum=%d\n", sum);
  return sum == 60 ? 0 : 1;
}
