#!/bin/sh
# Print the commits since the last tag, one per line.
set -eu
tag=$(git describe --tags --abbrev=0)
git log "$tag"..HEAD --oneline
