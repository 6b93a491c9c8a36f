#!/usr/bin/env bash
# Local Apache Kafka 4.x (KRaft, one combined broker+controller) on 127.0.0.1, without Docker.
#
#   scripts/kafka.sh fetch     download the broker's jars from Maven Central (cached)
#   scripts/kafka.sh start     fetch if needed, format storage, start, wait until it serves requests
#   scripts/kafka.sh stop      stop it (SIGTERM, then SIGKILL after a grace period): no stray JVM
#   scripts/kafka.sh status    exit 0 when running
#   scripts/kafka.sh reset     stop and delete its data
#   scripts/kafka.sh certs DIR write a throwaway CA, a server and a client certificate into DIR
#
# Environment: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT+1), KAFKA_HOME_DIR
# (.cache/kafka under the repository; git ignores it), KAFKA_HEAP (512m),
# KAFKA_START_TIMEOUT seconds (90).
#
# Secured listeners, each optional and off unless its port is set (the PLAINTEXT listener on
# KAFKA_PORT always stays, for the broker itself and for every client that wants it):
#   KAFKA_SSL_PORT        TLS, no client certificate
#   KAFKA_MTLS_PORT       TLS, a client certificate signed by the CA required
#   KAFKA_SASL_SSL_PORT   SASL over TLS: SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN, for one user
#                         KAFKA_SASL_USER (actionlog) / KAFKA_SASL_PASSWORD (actionlog-secret;
#                         letters, digits, '-' and '_' only). SCRAM credentials are written when
#                         the storage is formatted: `reset` before changing them.
# With any of them, `start` makes a throwaway CA and certificates (EC P-256, 30 days, for
# 127.0.0.1 and localhost) under .cache/kafka/run-PORT/tls (kept until `reset`) and prints where
# the CA file is.
# Client files there: client.pem and client.key (for KAFKA_MTLS_PORT).
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
ssl_port=${KAFKA_SSL_PORT:-}
mtls_port=${KAFKA_MTLS_PORT:-}
sasl_port=${KAFKA_SASL_SSL_PORT:-}
sasl_user=${KAFKA_SASL_USER:-actionlog}
sasl_password=${KAFKA_SASL_PASSWORD:-actionlog-secret}
tls=$run/tls

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

secured() {
  [ -n "$ssl_port$mtls_port$sasl_port" ]
}

# certs DIR: a throwaway CA (ca.pem, ca.key), a server certificate for 127.0.0.1 and localhost
# (server.pem, server.key; server-keystore.pem = key + chain, Kafka's PEM keystore) and a
# client certificate (client.pem, client.key). Keys are unencrypted PKCS#8, readable by the user only.
certs() {
  local dir=$1 days=30
  command -v openssl >/dev/null || { say "openssl not found (needed for the TLS listeners)"; exit 1; }
  mkdir -p "$dir"
  (
    cd "$dir"
    umask 077
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days "$days" \
      -subj "/CN=actionlog throwaway CA $(date +%s%N)" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    leaf() { # leaf NAME CN EXTENDED_KEY_USAGE [SUBJECT_ALT_NAME]
      openssl req "${ec[@]}" -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
      {
        echo "basicConstraints=critical,CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        echo "extendedKeyUsage=$3"
        echo "subjectKeyIdentifier=hash"
        echo "authorityKeyIdentifier=keyid,issuer"
        if [ -n "${4:-}" ]; then echo "subjectAltName=$4"; fi
      } >"$1.ext"
      openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days "$days" \
        -extfile "$1.ext" -out "$1.pem" 2>/dev/null
      rm -f "$1.csr" "$1.ext"
    }
    leaf server localhost serverAuth "DNS:localhost,IP:127.0.0.1"
    leaf client actionlog-client clientAuth
    cat server.key server.pem ca.pem >server-keystore.pem
    rm -f ca.srl
    chmod 644 ca.pem server.pem client.pem
  )
}

write_config() {
  mkdir -p "$run/data"
  local listeners="PLAINTEXT://127.0.0.1:$port" map="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  if [ -n "$ssl_port" ]; then listeners+=",SSL://127.0.0.1:$ssl_port"; map+=",SSL:SSL"; fi
  if [ -n "$mtls_port" ]; then listeners+=",MTLS://127.0.0.1:$mtls_port"; map+=",MTLS:SSL"; fi
  if [ -n "$sasl_port" ]; then listeners+=",SASL_SSL://127.0.0.1:$sasl_port"; map+=",SASL_SSL:SASL_SSL"; fi
  cat >"$run/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=$listeners,CONTROLLER://127.0.0.1:$cport
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$map
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
  if secured; then
    cat >>"$run/server.properties" <<PROPS
ssl.keystore.type=PEM
ssl.keystore.location=$tls/server-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$tls/ca.pem
ssl.client.auth=none
listener.name.mtls.ssl.client.auth=required
PROPS
  fi
  if [ -n "$sasl_port" ]; then
    case "$sasl_user$sasl_password" in
      *[!A-Za-z0-9_-]*) say "KAFKA_SASL_USER and KAFKA_SASL_PASSWORD: letters, digits, '-' and '_' only"; exit 2 ;;
    esac
    local scram="org.apache.kafka.common.security.scram.ScramLoginModule required;"
    cat >>"$run/server.properties" <<PROPS
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=$scram
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=$scram
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$sasl_user="$sasl_password";
PROPS
  fi
  chmod 600 "$run/server.properties"
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
  for p in "$port" $ssl_port $mtls_port $sasl_port; do
    if port_open "$p"; then say "port $p is taken by another process"; exit 1; fi
  done
  write_config
  # Kept across stop/start (clients keep trusting the same CA); `reset` deletes them.
  if secured && [ ! -f "$tls/server-keystore.pem" ]; then certs "$tls"; fi
  if [ ! -f "$run/data/meta.properties" ]; then
    [ -f "$run/cluster-id" ] || java_run kafka.tools.StorageTool random-uuid >"$run/cluster-id"
    local scram=()
    if [ -n "$sasl_port" ]; then
      scram=(--add-scram "SCRAM-SHA-512=[name=$sasl_user,password=$sasl_password]"
        --add-scram "SCRAM-SHA-256=[name=$sasl_user,password=$sasl_password]")
    fi
    java_run kafka.tools.StorageTool format --standalone --ignore-formatted -t "$(cat "$run/cluster-id")" \
      -c "$run/server.properties" "${scram[@]}" >"$run/format.log" 2>&1 || { cat "$run/format.log" >&2; exit 1; }
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
  if [ -n "$ssl_port" ]; then say "TLS on 127.0.0.1:$ssl_port"; fi
  if [ -n "$mtls_port" ]; then say "TLS with client certificates on 127.0.0.1:$mtls_port"; fi
  if [ -n "$sasl_port" ]; then say "SASL_SSL (SCRAM-SHA-512, SCRAM-SHA-256, PLAIN; user $sasl_user) on 127.0.0.1:$sasl_port"; fi
  if secured; then say "CA file: $tls/ca.pem (client certificate: $tls/client.pem, key: $tls/client.key)"; fi
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
  certs) [ -n "${2:-}" ] || { echo "usage: $0 certs DIR" >&2; exit 2; }; certs "$2" ;;
  *) echo "usage: $0 fetch|start|stop|status|reset|certs DIR" >&2; exit 2 ;;
esac
