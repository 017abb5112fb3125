#!/usr/bin/env bash
# Install mlp-grader on a fresh Debian machine with Python 3.11.
#   bash scripts/install.sh         the grader, with pytest-xdist for grading in parallel (-n auto),
#                                   and bubblewrap, its sandbox, when root
#   bash scripts/install.sh --test  also what the test suite needs (PyYAML, playwright with
#                                   Debian's chromium for the browser tests)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(bubblewrap)
extras=""
if [ "${1:-}" = "--test" ]; then
    packages+=(chromium)
    extras="[test]"
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    missing=()
    for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    if [ "${#missing[@]}" -gt 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
else
    echo "note: not root or no apt-get: install ${packages[*]} yourself (without bubblewrap the" \
         "grader runs student code with reduced isolation)" >&2
fi

# constraints.txt pins torch to the CPU build; pyproject.toml itself keeps ranges.
python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".${extras}"
