#!/bin/sh
# One-shot job (docker-compose.yml `temporal-namespace`, image temporalio/admin-tools):
# wait for the frontend, then register the namespace Remedy uses if it is missing
# (temporalio/server, unlike the old auto-setup image, creates none). With TLS on
# (deploy/compose.tls.yml) it connects with the client certificate in TEMPORAL_TLS_*.
set -eu
NS=${TEMPORAL_NAMESPACE:-default}
ADDR=${TEMPORAL_ADDRESS:-temporal:7233}
RETENTION=${TEMPORAL_NAMESPACE_RETENTION:-30d}
set -- --address "$ADDR"
if [ -n "${TEMPORAL_TLS_CERT:-}" ]; then
  set -- "$@" --tls-cert-path "$TEMPORAL_TLS_CERT" --tls-key-path "$TEMPORAL_TLS_KEY" \
    --tls-ca-path "$TEMPORAL_TLS_CA" --tls-server-name "${TEMPORAL_TLS_SERVER_NAME:-temporal}"
fi
i=0
until temporal operator cluster health "$@" >/dev/null 2>&1; do
  i=$((i + 1))
  [ "$i" -ge 60 ] && { echo "Temporal at $ADDR not healthy after 60 tries" >&2; exit 1; }
  sleep 2
done
if temporal operator namespace describe -n "$NS" "$@" >/dev/null 2>&1; then
  echo "namespace $NS exists"
else
  temporal operator namespace create -n "$NS" --retention "$RETENTION" "$@"
fi
