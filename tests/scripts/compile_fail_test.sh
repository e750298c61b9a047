#!/usr/bin/env bash
# A program that misuses the API must not compile, and the compiler must say why:
# compiles FILE (tests/compile_fail/*.cpp) and checks that it fails with the text of
# its first line ("// expect: TEXT"), which is the static_assert or error that explains it.
#
#   compile_fail_test.sh COMPILER INCLUDE_DIR FILE
set -u
compiler=$1 include=$2 file=$3
expect=$(sed -n '1s|^// expect: ||p' "$file")
[[ -n $expect ]] || { echo "FAIL: $file has no '// expect:' first line"; exit 1; }
out=$(LC_ALL=C "$compiler" -std=c++20 -fsyntax-only -I"$include" "$file" 2>&1)
if [[ $? -eq 0 ]]; then
  echo "FAIL: $file compiled; it must not"
  exit 1
fi
if ! grep -qF -- "$expect" <<<"$out"; then
  echo "FAIL: $file did not compile, but not for the expected reason: '$expect'"
  echo "$out" | grep -m5 "error"
  exit 1
fi
echo "ok: $(basename "$file"): $expect"
