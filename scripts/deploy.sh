#!/usr/bin/env bash
# Deploys a pipeline's stage with `orchgen deploy` (a thin wrapper: every option is orchgen's).
#
#   scripts/deploy.sh STAGE [PIPELINE] [orchgen deploy options…]
#   scripts/deploy.sh dev                                  # pipelines/orders.yaml to stage `dev`, asks first
#   scripts/deploy.sh prod pipelines/orders.yaml --yes     # production stage: termination protection
#   AWS_PROFILE=ops AWS_REGION=eu-west-1 scripts/deploy.sh staging --dry-run
#
# AWS settings come from the standard environment (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, …).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then
  echo "usage: scripts/deploy.sh STAGE [PIPELINE] [orchgen deploy options…]" >&2
  exit 2
fi
stage=$1
shift
pipeline=pipelines/orders.yaml
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  pipeline=$1
  shift
fi
cargo build --quiet --release -p orchgen
exec target/release/orchgen deploy "$pipeline" --stage "$stage" "$@"
