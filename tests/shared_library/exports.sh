#!/bin/bash
# libtessera.so exports the C API and nothing else (cmake/tessera.map): every dynamic symbol it
# defines is a tessera_* function, and the C API's functions are all there.
set -euo pipefail
lib=$1 header=$2
defined=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^$' | sort -u)
bad=$(grep -v '^tessera_' <<< "$defined" || true)
if [ -n "$bad" ]; then
  echo "libtessera.so exports symbols outside the C API:"; echo "$bad" | head -20; exit 1
fi
missing=0
for f in $(grep -oE '\btessera_[a-z0-9_]+\(' "$header" | tr -d '(' | sort -u); do
  # (A here-string, not a pipe: grep -q may exit before echo finishes, and pipefail would then
  # report the echo's SIGPIPE as a missing export.)
  grep -qx "$f" <<< "$defined" || { echo "missing export: $f"; missing=1; }
done
[ $missing -eq 0 ] && echo "libtessera.so: $(echo "$defined" | wc -l) exports, all tessera_*"
exit $missing
