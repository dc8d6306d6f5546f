#!/usr/bin/env bash
# Builds what the Neo4j tests run, once: the Neo4j launcher (tests/neo4j/launcher) into
# tests/neo4j/launcher/target/neo4j-launcher.jar (+ target/lib/). Idempotent: a part whose
# outputs are newer than its sources is not rebuilt. Maven's repository is ~/.m2 (cached between
# runs). Uses Temurin 25 (Neo4j 2026.x needs Java 21+); set BOLTGATE_JAVA_HOME to use another JDK.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

export JAVA_HOME="${BOLTGATE_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
if [ ! -x "$JAVA_HOME/bin/java" ]; then
    echo "no JDK at $JAVA_HOME (set BOLTGATE_JAVA_HOME to a JDK 21 or newer)" >&2
    exit 1
fi
export PATH="$JAVA_HOME/bin:$PATH"

# True when $1 exists and is newer than every file under the folders/files that follow.
fresh() {
    local out=$1
    shift
    [ -e "$out" ] || return 1
    [ -z "$(find "$@" -newer "$out" -type f -print -quit)" ]
}

maven_build() {
    local dir=$1 out=$2
    if fresh "$dir/$out" "$dir/pom.xml" "$dir/src"; then
        echo "$dir: up to date ($out)"
        return
    fi
    local t=$SECONDS
    (cd "$dir" && mvn -B -q package -DskipTests) || {
        echo "maven build of tests/neo4j/$dir failed (see above); Maven Central must be reachable" >&2
        exit 1
    }
    echo "$dir: built $out in $((SECONDS - t))s"
}

maven_build launcher target/neo4j-launcher.jar
