#!/bin/sh
# Prepare the compose stack's secrets, once, before `docker compose up`:
#
#   deploy/setup.sh          # .env from .env.example, random secrets in deploy/secrets/
#   deploy/setup.sh --tls    # also a private CA and mTLS certificates in deploy/tls/
#
# Idempotent: what exists is kept (delete a file to regenerate it). Secrets never go in
# .env or an image: each is a file in deploy/secrets/ that docker-compose.yml mounts as a
# compose secret (/run/secrets/<name>) into the services that use it, and only those.
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
SECRETS=$ROOT/deploy/secrets
TLS_DIR=$ROOT/deploy/tls
tls=no
for arg in "$@"; do
  case $arg in
    --tls) tls=yes ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

rand_hex() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }                 # 64 chars
rand_b64() { head -c 32 /dev/urandom | base64 | tr -d '\n'; }               # 32 bytes

# A secret file is created only when missing or empty. Mode 0644 inside a 0700 directory:
# the directory keeps other host users out; the containers (each image runs as its own
# user: remedy 10001, Prometheus/Alertmanager nobody) read the bind-mounted file itself.
secret() { # name, generator (empty: the operator fills it in)
  f=$SECRETS/$1
  if [ -s "$f" ]; then
    echo "  kept       $f"
  elif [ -n "$2" ]; then
    $2 >"$f"; chmod 0644 "$f"
    echo "  generated  $f"
  else
    : >"$f"; chmod 0644 "$f"
    echo "  empty      $f  (optional: put the value in it to enable)"
  fi
}
codec_key() { printf 'k1:%s' "$(rand_b64)"; }

umask 077
mkdir -p "$SECRETS"
chmod 0700 "$SECRETS"
if [ ! -f "$ROOT/.env" ]; then
  cp "$ROOT/.env.example" "$ROOT/.env"
  echo "created $ROOT/.env from .env.example"
fi
chmod 0600 "$ROOT/.env"
# The PostgreSQL password is the one value compose interpolates from .env (Temporal's
# server image reads it from its environment, not from a file).
if grep -Eq '^POSTGRES_PASSWORD=(|change-?me.*)$' "$ROOT/.env"; then
  pw=$(rand_hex)
  sed "s/^POSTGRES_PASSWORD=.*/POSTGRES_PASSWORD=$pw/" "$ROOT/.env" >"$ROOT/.env.tmp"
  mv "$ROOT/.env.tmp" "$ROOT/.env"
  echo "  generated  POSTGRES_PASSWORD in $ROOT/.env"
fi

echo "secrets in $SECRETS:"
secret bridge_token rand_hex          # bridge, Prometheus, Alertmanager
secret codec_server_token rand_hex    # codec server: sign in at http://localhost:8788/login
secret codec_keys codec_key           # payload encryption: worker, bridge, codec server
secret slack_webhook_url ""           # worker
secret pagerduty_routing_key ""       # worker, Alertmanager
secret slack_signing_secret ""        # bridge: Slack approve/acknowledge buttons
secret pagerduty_webhook_secret ""    # bridge: PagerDuty's acknowledge (v3 webhook)
echo "payload encryption key (REMEDY_CODEC_KEYS): $SECRETS/codec_keys"
echo "  keep a copy: without it, histories written with it cannot be read. Rotate by"
echo "  prepending a new key: k2:<base64 32 bytes>,k1:<old> (README \"Security\")."

if [ "$tls" = yes ]; then
  command -v openssl >/dev/null || { echo "setup.sh --tls needs openssl" >&2; exit 1; }
  mkdir -p "$TLS_DIR"
  chmod 0700 "$TLS_DIR"  # like deploy/secrets: host users out, containers read the mounted files
  ext=$TLS_DIR/.ext
  if [ ! -s "$TLS_DIR/ca.pem" ]; then
    openssl req -x509 -newkey rsa:3072 -nodes -days 825 -subj "/CN=Remedy Temporal CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.pem" 2>/dev/null
    echo "  generated  $TLS_DIR/ca.pem (its key, ca.key, is mounted nowhere)"
  fi
  issue() { # name, CN, extensions
    [ -s "$TLS_DIR/$1.pem" ] && { echo "  kept       $TLS_DIR/$1.pem"; return; }
    printf '%s\n' "$3" >"$ext"
    openssl req -newkey rsa:3072 -nodes -subj "/CN=$2" -keyout "$TLS_DIR/$1.key" \
      -out "$TLS_DIR/$1.csr" 2>/dev/null
    openssl x509 -req -in "$TLS_DIR/$1.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca.key" \
      -CAcreateserial -days 825 -extfile "$ext" -out "$TLS_DIR/$1.pem" 2>/dev/null
    rm -f "$TLS_DIR/$1.csr" "$ext"
    chmod 0644 "$TLS_DIR/$1.key"  # read by the container user; see secret() above
    echo "  generated  $TLS_DIR/$1.pem"
  }
  # The frontend (and internode: the server is its own client) answers as `temporal`.
  issue server temporal "subjectAltName=DNS:temporal,DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth,clientAuth"
  issue client remedy "extendedKeyUsage=clientAuth"
  chmod 0644 "$TLS_DIR"/*.pem
  chmod 0600 "$TLS_DIR/ca.key"
  echo "TLS on: add COMPOSE_FILE=docker-compose.yml:deploy/compose.tls.yml to .env"
fi
echo "next: docker compose up -d --build"
