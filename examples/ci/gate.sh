#!/usr/bin/env bash
# Gate every deployment manifest given on the command line (or every *.yaml under
# deploy/models/ when none is given). Fails closed: any DENY, any aigov error (exit 2) and
# any indeterminate result (exit 3) fails the step.
#
# Usable as a plain CI step or as a pre-commit hook (pre-commit passes the changed files):
#   AIGOV_DB=postgresql+psycopg://gate:...@registry.internal/aigov examples/ci/gate.sh deploy/models/*.yaml
#
# Environment: AIGOV_DB (the registry), AIGOV_FAIL_ON (default: high),
#              AIGOV_POLICIES (optional policy directory; default: the shipped library).
set -uo pipefail

fail_on=${AIGOV_FAIL_ON:-high}
policies=()
[ -n "${AIGOV_POLICIES:-}" ] && policies=(--policies "$AIGOV_POLICIES")

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  shopt -s nullglob
  files=(deploy/models/*.yaml deploy/models/*.yml)
fi
if [ ${#files[@]} -eq 0 ]; then
  echo "gate.sh: no deployment manifests to gate" >&2
  exit 0
fi

status=0
for manifest in "${files[@]}"; do
  echo "--- $manifest"
  aigov gate --deployment "$manifest" --fail-on "$fail_on" --fail-on-indeterminate \
    "${policies[@]}" ${AIGOV_GATE_ARGS:-}
  code=$?
  if [ "$code" -ne 0 ]; then
    status=1
    [ "$code" -eq 2 ] && echo "gate.sh: aigov could not decide on $manifest (exit 2): denied" >&2
  fi
done
exit "$status"
