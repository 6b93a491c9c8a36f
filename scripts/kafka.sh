#!/usr/bin/env bash
# Local Apache Kafka 4.x (KRaft, one combined broker+controller) on 127.0.0.1, without Docker.
#
#   scripts/kafka.sh fetch     download the broker's jars from Maven Central (cached)
#   scripts/kafka.sh start     fetch if needed, format storage, start, wait until it serves requests
#   scripts/kafka.sh stop      stop it (SIGTERM, then SIGKILL after a grace period): no stray JVM
#   scripts/kafka.sh status    exit 0 when running
#   scripts/kafka.sh reset     stop and delete its data
#
# Environment: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT+1), KAFKA_HOME_DIR
# (.cache/kafka under the repository; git ignores it), KAFKA_HEAP (512m),
# KAFKA_START_TIMEOUT seconds (90).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
port=${KAFKA_PORT:-9092}
cport=${KAFKA_CONTROLLER_PORT:-$((port + 1))}
home=${KAFKA_HOME_DIR:-$root/.cache/kafka}
libs=$home/libs
run=$home/run-$port
pidfile=$run/kafka.pid
log=$run/server.log
heap=${KAFKA_HEAP:-512m}
timeout=${KAFKA_START_TIMEOUT:-90}

say() { printf 'kafka.sh: %s\n' "$*" >&2; }

fetch() {
  if [ -f "$libs/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || { say "mvn not found (Maven is needed to fetch Kafka)"; exit 1; }
  say "fetching Apache Kafka jars from Maven Central into $libs"
  rm -rf "$libs"
  mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$libs"
  touch "$libs/.complete"
}

running() {
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

write_config() {
  mkdir -p "$run/data"
  cat >"$run/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$run/data
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.flush.interval.messages=9223372036854775807
PROPS
  cat >"$run/log4j2.properties" <<'PROPS'
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
PROPS
}

java_opts=("-Xms$heap" "-Xmx$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
  "-Dkafka.logs.dir=$run" "-Dlog4j2.configurationFile=$run/log4j2.properties" -cp "$libs/*")
java_run() { java "${java_opts[@]}" "$@"; }

start() {
  fetch
  if running; then say "already running on 127.0.0.1:$port (pid $(cat "$pidfile"))"; return 0; fi
  if port_open "$port"; then say "port $port is taken by another process"; exit 1; fi
  write_config
  if [ ! -f "$run/data/meta.properties" ]; then
    [ -f "$run/cluster-id" ] || java_run kafka.tools.StorageTool random-uuid >"$run/cluster-id"
    java_run kafka.tools.StorageTool format --standalone --ignore-formatted -t "$(cat "$run/cluster-id")" \
      -c "$run/server.properties" >"$run/format.log" 2>&1 || { cat "$run/format.log" >&2; exit 1; }
  fi
  # setsid: the broker survives the caller's process group (pytest, make) until `stop`.
  setsid java "${java_opts[@]}" kafka.Kafka "$run/server.properties" >"$run/stdout.log" 2>&1 < /dev/null &
  echo $! >"$pidfile"
  local deadline=$((SECONDS + timeout))
  until grep -q "Kafka Server started" "$log" 2>/dev/null && port_open "$port"; do
    if ! running; then say "broker exited during start-up; last lines:"; tail -n 20 "$run/stdout.log" "$log" >&2 2>/dev/null; exit 1; fi
    if [ "$SECONDS" -ge "$deadline" ]; then say "broker not ready after ${timeout}s"; stop; exit 1; fi
    sleep 0.2
  done
  say "ready on 127.0.0.1:$port (pid $(cat "$pidfile"), data $run/data)"
}

stop() {
  if ! running; then rm -f "$pidfile"; return 0; fi
  local pid; pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then say "broker did not stop in 30s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
    sleep 0.2
  done
  rm -f "$pidfile"
  say "stopped (port $port)"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) running ;;
  reset) stop; rm -rf "$run" ;;
  *) echo "usage: $0 fetch|start|stop|status|reset" >&2; exit 2 ;;
esac
