#!/bin/bash
# state_corrupt.sh on the Docker runtime: containers found by label.
STATE_CORRUPT_RUNTIME=docker
. "$(dirname "$0")/state_corrupt.sh"
