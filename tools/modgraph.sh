#!/usr/bin/env bash
# The import graph between boltgate's top-level modules (src/<m>/ and src/<m>.rs), from the
# `crate::<m>` paths their code names (comment lines skipped; lib.rs, the root, is left out).
# Prints each module's imports, then the pairs that import each other. Cheap: grep, no build.
# Usage: tools/modgraph.sh [--check N]   (--check: exit 1 if more than N mutual pairs; with
# --check 0 also on any cycle)
set -euo pipefail
cd "$(dirname "$0")/../src"

mods=()
for p in */ *.rs; do
    m=${p%/}; m=${m%.rs}
    case $m in lib|main) continue ;; esac
    mods+=("$m")
done

declare -A edge
for m in "${mods[@]}"; do
    files=()
    [[ -d $m ]] && while IFS= read -r f; do files+=("$f"); done < <(find "$m" -name '*.rs')
    [[ -f $m.rs ]] && files+=("$m.rs")
    deps=$(grep -hv '^\s*//' "${files[@]}" \
        | grep -oE '\bcrate::[a-z_]+' | sed 's/crate:://' | sort -u | grep -vx "$m" || true)
    printf '%-10s -> %s\n' "$m" "$(echo $deps)"
    for d in $deps; do edge[$m,$d]=1; done
done

echo
echo "pairs importing each other:"
pairs=0
for a in "${mods[@]}"; do
    for b in "${mods[@]}"; do
        if [[ $a < $b && -n ${edge[$a,$b]:-} && -n ${edge[$b,$a]:-} ]]; then
            echo "  $a <-> $b"
            pairs=$((pairs + 1))
        fi
    done
done
echo "  ($pairs)"

# tsort reports each loop it breaks as "input contains a loop:" and then the loop's modules.
echo
echo "cycles (the modules of each loop tsort finds):"
loops=$(for k in "${!edge[@]}"; do echo "${k%,*} ${k#*,}"; done | tsort 2>&1 >/dev/null || true)
awk '/input contains a loop/ { if (l) print "  " l; l = ""; next }
     { sub(/^tsort: /, ""); l = l ? l ", " $0 : $0 }
     END { if (l) print "  " l; else print "  none" }' <<<"$loops"

if [[ ${1:-} == --check ]]; then
    (( pairs <= ${2:-1} )) || { echo "more than ${2:-1} mutual pair(s)" >&2; exit 1; }
    # With no mutual pair allowed, no longer loop either.
    if (( ${2:-1} == 0 )) && grep -q "input contains a loop" <<<"$loops"; then
        echo "the module graph has a cycle" >&2
        exit 1
    fi
fi
