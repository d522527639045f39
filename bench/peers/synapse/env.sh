# Sourced by the synapse scripts: where the venv and the server's files live.
SY_WORK=${SY_WORK:-/tmp/natter-bench/synapse}
SY_VENV=${SY_VENV:-/tmp/natter-bench/synapse-venv}
SY_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SY_URL=http://127.0.0.1:8008
