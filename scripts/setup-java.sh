#!/usr/bin/env bash
# Installs a Java runtime when `java` is missing: the PMML evaluators of the
# Python checks (jpmml_evaluator, pypmml) run on the JVM. Debian/Ubuntu
# (apt-get); elsewhere install Java 11+ yourself.
set -euo pipefail
if command -v java >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "java is missing and apt-get is not available: install a Java 11+ runtime" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  sudo="sudo"
fi
$sudo apt-get update -q
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q default-jre-headless
java -version
