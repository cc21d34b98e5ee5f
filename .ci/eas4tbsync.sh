#!/usr/bin/env bash
# Runs Thunderbird's EAS-4-TbSync request code (../shared/tools/eas4tbsync) as
# a real client against a freshly started `easd serve`: OPTIONS, Provision x2,
# Settings, FolderSync 0 and a first Sync. Installs what it needs (Debian
# package webext-eas4tbsync, npm @xmldom/xmldom) in a temporary folder; keeps
# nothing in the repo.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
driver="$repo/../shared/tools/eas4tbsync/drive.js"
if [ ! -f "$driver" ]; then
	echo "eas4tbsync: $driver not found (../shared absent): skipped"
	exit 0
fi
work=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

(
	cd "$work"
	command -v unzip >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq unzip >/dev/null; }
	apt-get download webext-eas4tbsync >/dev/null 2>&1 || { apt-get update -qq && apt-get download webext-eas4tbsync >/dev/null; }
	dpkg -x webext-eas4tbsync_*_all.deb x
	mkdir eas && (cd eas && unzip -q ../x/usr/share/webext/eas4tbsync@jobisoft.de.xpi)
	npm init -y >/dev/null && npm install --silent --no-audit --no-fund @xmldom/xmldom >/dev/null
)

go build -o "$work/easd" "$repo/cmd/easd"
export EASD_DATA="$work/data" EASD_DB=""
printf 'tbsync-Passw0rd\n' | "$work/easd" user add alice@example.test --name "Alice" --password-stdin >/dev/null
"$work/easd" serve --http 127.0.0.1:0 --hostname localhost 2>"$work/serve.log" &
pid=$!
for _ in $(seq 100); do
	addr=$(sed -n 's/.*https=https:\/\/\([^ ]*\).*/\1/p' "$work/serve.log" | head -1)
	[ -n "$addr" ] && break
	sleep 0.2
done
[ -n "${addr:-}" ] || { echo "easd did not start:"; cat "$work/serve.log"; exit 1; }

out=$(EAS_DIR="$work/eas/content/includes" NODE_PATH="$work/node_modules" \
	node "$driver" "https://$addr" alice@example.test 'tbsync-Passw0rd' 2>&1) || {
	echo "$out"; echo "--- easd log"; tail -50 "$work/serve.log"; exit 1; }
echo "$out"
# The setup must end with a policy key, a folder sync key, the folders and a
# collection sync key.
echo "$out" | grep -Eq 'policykey=[1-9][0-9]*' || { echo "eas4tbsync: no policy key"; exit 1; }
echo "$out" | grep -Eq 'foldersynckey=[^ 0][^ ]*' || { echo "eas4tbsync: no folder sync key"; exit 1; }
echo "$out" | grep -Eq 'collection synckey=[^ ]+' && ! echo "$out" | grep -q 'collection synckey=undefined' ||
	{ echo "eas4tbsync: no collection sync key"; exit 1; }
echo "eas4tbsync: setup and first Sync completed"
