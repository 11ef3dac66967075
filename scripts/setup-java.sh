#!/usr/bin/env bash
# Installs a Java runtime when `java` is missing or older than 17: the PMML
# evaluators of the Python checks (jpmml_evaluator, pypmml) run on the JVM,
# and pyspark 4 (py/tests/test_spark_transform.py) needs Java 17+.
# Debian/Ubuntu (apt-get); elsewhere install Java 17+ yourself.
set -euo pipefail
java_major() {
  # `java -version` prints e.g. `openjdk version "17.0.15"` (or "1.8.0_x").
  java -version 2>&1 | sed -n 's/.* version "\([0-9]*\)\.\{0,1\}\([0-9]*\).*/\1 \2/p' | head -1 |
    awk '{ print ($1 == 1) ? $2 : $1 }'
}
if command -v java >/dev/null 2>&1 && [ "$(java_major)" -ge 17 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "java 17+ is missing and apt-get is not available: install a Java 17+ runtime" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  sudo="sudo"
fi
$sudo apt-get update -q
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q default-jre-headless
# default-jre-headless is Java 11 on older releases (Ubuntu 22.04).
if [ "$(java_major)" -lt 17 ]; then
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q openjdk-17-jre-headless
fi
java -version
