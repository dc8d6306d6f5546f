#!/usr/bin/env bash
# Builds the Debian package: boltgate, its man page and shell completions (generated from the
# binary's own command-line definition), the default configuration as a conffile, the systemd
# unit and the maintainer scripts (packaging/debian/). Prints the .deb's path on stdout.
#
#   bash packaging/build-deb.sh               # release build (what you ship)
#   bash packaging/build-deb.sh --profile dev # from the debug build (CI: already built by the
#                                             # tests, so no second, release, compilation)
# Needs cargo-deb: `cargo install cargo-deb --locked`.
# Measured on the shared 2-core build machine (load ~20): the release .deb from scratch took 17 min
# (5.5 min of CPU), on top of the tests' debug build; so tests/deb.rs packages the dev build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

profile=release
if [[ "${1:-}" == --profile ]]; then profile="$2"; fi
command -v cargo-deb >/dev/null 2>&1 || {
    echo "cargo-deb is missing: cargo install cargo-deb --locked" >&2
    exit 1
}

# The binary, where cargo says it is (CARGO_TARGET_DIR and profiles honoured).
bin="$(cargo build --profile "$profile" --bin boltgate --message-format=json-render-diagnostics \
    | sed -n 's/.*"executable":"\([^"]*\/boltgate\)".*/\1/p' | tail -n1)"
[[ -x "$bin" ]] || { echo "cargo did not report the boltgate binary" >&2; exit 1; }
out="$(dirname "$bin")/generated"
rm -rf "$out"
mkdir -p "$out/completions"
"$bin" generate man | gzip -9n >"$out/boltgate.1.gz"
"$bin" generate completions bash >"$out/completions/boltgate.bash"
"$bin" generate completions zsh >"$out/completions/_boltgate"
"$bin" generate completions fish >"$out/completions/boltgate.fish"

# cargo-deb maps the assets' target/release/ to this profile's directory, and prints the
# package's path.
deb="$(cargo deb --no-build --profile "$profile" | tail -n1)"
[[ -f "$deb" ]] || { echo "cargo deb produced no package" >&2; exit 1; }
echo "$deb"
