#!/usr/bin/env bash
# Rotate dated backups of a folder, written for the codellama-lite workbook.
set -euo pipefail

usage() {
    echo "usage: $0 SOURCE_DIR BACKUP_DIR [KEEP]" >&2
    exit 2
}

[[ $# -ge 2 ]] || usage
source_dir=$1
backup_dir=$2
keep=${3:-7}

if [[ ! -d "$source_dir" ]]; then
    echo "error: $source_dir is not a directory" >&2
    exit 1
fi
mkdir -p "$backup_dir"

stamp=$(date +%Y-%m-%d_%H%M%S)
archive="$backup_dir/backup_$stamp.tar.gz"
tmp="$archive.partial"
trap 'rm -f "$tmp"' EXIT

tar -czf "$tmp" -C "$(dirname "$source_dir")" "$(basename "$source_dir")"
mv "$tmp" "$archive"
echo "wrote $archive ($(du -h "$archive" | cut -f1))"

# Keep only the newest $keep archives.
count=0
for old in $(ls -1t "$backup_dir"/backup_*.tar.gz 2>/dev/null); do
    count=$((count + 1))
    if (( count > keep )); then
        echo "removing $old"
        rm -f -- "$old"
    fi
done

case "${VERIFY:-no}" in
    yes|true|1)
        tar -tzf "$archive" > /dev/null && echo "verified $archive"
        ;;
    *)
        ;;
esac
