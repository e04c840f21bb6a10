#!/bin/sh
# Seed /data/notes.json when it is missing; keep it when it is there (a re-run is a no-op).
set -eu
data=/data/notes.json
if [ -s "$data" ]; then
    echo "notes-seed: $data is there, kept"
    exit 0
fi
cat > "$data.tmp" <<'JSON'
[
  {"id": 1, "title": "Welcome", "body": "Seeded by the init job."},
  {"id": 2, "title": "Releases", "body": "cutover pulls notes-web by tag."}
]
JSON
chmod 0644 "$data.tmp"
mv "$data.tmp" "$data"
echo "notes-seed: wrote $data"
