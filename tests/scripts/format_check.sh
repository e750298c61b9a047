#!/usr/bin/env bash
# Every C++ file of the repository is formatted by .clang-format. Skipped (exit 77)
# where clang-format is not installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v clang-format >/dev/null 2>&1 || { echo "clang-format not installed: skipped"; exit 77; }
files=$(git ls-files '*.cpp' '*.hpp' 2>/dev/null || find libsage actors apps tests -name '*.[ch]pp')
if ! clang-format --dry-run --Werror $files; then
  echo "FAIL: run 'clang-format -i' on the files above (make format)"
  exit 1
fi
echo "ok: $(echo "$files" | wc -w) files formatted"
