#!/usr/bin/env bash
# Builds what the Neo4j tests run, once: the Neo4j launcher (tests/neo4j/launcher →
# target/neo4j-launcher.jar + target/lib/) and the driver scenario runners of tests/drivers/
# (Java: mvn package → target/runner.jar; Go: go build → go/runner; JavaScript: npm ci).
# Idempotent: a part whose outputs are newer than its sources is not rebuilt. Caches: Maven's
# ~/.m2, Go's module cache, npm's ~/.npm. Uses Temurin 25 (Neo4j 2026.x needs Java 21+); set
# BOLTGATE_JAVA_HOME to use another JDK.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

# The JDK: BOLTGATE_JAVA_HOME, else Temurin 25, else the newest Temurin there is.
JAVA_HOME="${BOLTGATE_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
if [ ! -x "$JAVA_HOME/bin/java" ] && [ -z "${BOLTGATE_JAVA_HOME:-}" ]; then
    JAVA_HOME="$(ls -d /usr/lib/jvm/temurin-*-jdk* 2>/dev/null | sort -V | tail -n1)"
fi
if [ -z "$JAVA_HOME" ] || [ ! -x "$JAVA_HOME/bin/java" ]; then
    echo "no JDK 21+ found (looked at BOLTGATE_JAVA_HOME and /usr/lib/jvm/temurin-*): Neo4j 2026.x needs one" >&2
    exit 1
fi
export JAVA_HOME
export PATH="$JAVA_HOME/bin:$PATH"
# Maven 3.8's Guava calls sun.misc.Unsafe, which JDK 23+ warns about on every run.
if "$JAVA_HOME/bin/java" --sun-misc-unsafe-memory-access=allow -version >/dev/null 2>&1; then
    export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
fi

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
# The tests run Neo4j and the Java runner with the JDK they were built with.
echo "$JAVA_HOME" >launcher/target/java-home
maven_build ../drivers/java target/runner.jar
# The Java driver with its OCSP (revocation) setting, for tests/tls_ops/java_ocsp.rs.
maven_build ../drivers/java-ocsp target/java-ocsp.jar

go_dir=../drivers/go
if fresh "$go_dir/runner" "$go_dir/go.mod" "$go_dir/go.sum" "$go_dir"/*.go; then
    echo "drivers/go: up to date (runner)"
else
    t=$SECONDS
    # -mod=mod: go.sum is checked in, but the module cache may be cold; GOPROXY stays default.
    (cd "$go_dir" && GOFLAGS=-mod=mod go build -o runner .) || {
        echo "go build of tests/drivers/go failed (see above); the Go module proxy must be reachable" >&2
        exit 1
    }
    echo "drivers/go: built runner in $((SECONDS - t))s"
fi

js_dir=../drivers/js
if fresh "$js_dir/node_modules/.package-lock.json" "$js_dir/package.json" "$js_dir/package-lock.json"; then
    echo "drivers/js: up to date (node_modules)"
else
    t=$SECONDS
    (cd "$js_dir" && npm ci --no-audit --no-fund --loglevel=error) || {
        echo "npm ci in tests/drivers/js failed (see above); the npm registry must be reachable" >&2
        exit 1
    }
    echo "drivers/js: npm ci in $((SECONDS - t))s"
fi
