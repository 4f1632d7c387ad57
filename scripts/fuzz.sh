#!/bin/sh
# Fuzzes the checkpoint readers with libFuzzer + AddressSanitizer (not part of `swift test`/CI).
#   [MAX_LEN=bytes] scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGETS...]   targets: pickle safetensors checkpoint
# Seeds come from Tests/CheckpointsTests/Fixtures (data.pkl of each zip, whole small files);
# corpora and crash reproducers are kept in .build/fuzz/. Prints executions and crashes per target.
set -eu
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-120}
[ $# -gt 0 ] && shift
TARGETS=${*:-pickle safetensors checkpoint}
SWIFTC=${SWIFTC:-swiftc}
OUT=.build/fuzz
FIX=Tests/CheckpointsTests/Fixtures
mkdir -p "$OUT"

# A snapshot of the Checkpoints sources minus the YAML reader (it needs Yams, which the
# fuzzer does not exercise), so that editing the tree while a campaign runs is harmless.
rm -rf "$OUT/src" && mkdir -p "$OUT/src"
cp Sources/Checkpoints/*.swift Fuzz/CheckpointsFuzz.swift "$OUT/src/"
rm "$OUT/src/YAML.swift"
SOURCES=$(ls "$OUT"/src/*.swift)

seed() {
    corpus=$OUT/corpus-$1
    mkdir -p "$corpus"
    case $1 in
    pickle)
        for f in "$FIX"/*.pt "$FIX"/*.ckpt; do
            name=$(basename "$f")
            if unzip -Z1 "$f" >/dev/null 2>&1; then
                unzip -p "$f" '*/data.pkl' > "$corpus/$name.pkl" 2>/dev/null || true
            fi
        done ;;
    safetensors)
        for f in "$FIX"/dtypes*.safetensors "$FIX"/views_expected.safetensors; do cp "$f" "$corpus/"; done ;;
    checkpoint)
        for f in "$FIX"/views*.pt "$FIX"/module.pt "$FIX"/evil*.pt "$FIX"/dtypes.safetensors Fuzz/seeds/*; do cp "$f" "$corpus/"; done ;;
    esac
}

for target in $TARGETS; do
    flag=$(echo "FUZZ_$target" | tr a-z A-Z)
    binary=$OUT/fuzz-$target
    echo "== building $target"
    # shellcheck disable=SC2086
    if ! $SWIFTC -sanitize=fuzzer,address -parse-as-library -O -g -D "$flag" -module-name CheckpointsFuzz \
        $SOURCES -o "$binary" > "$OUT/build-$target.txt" 2>&1; then
        grep -v 'Cannot export local symbol' "$OUT/build-$target.txt" >&2
        exit 1
    fi
    seed "$target"
    mkdir -p "$OUT/crashes-$target"
    echo "== fuzzing $target for ${SECONDS_PER_TARGET}s"
    set +e
    "$binary" "$OUT/corpus-$target" -max_total_time="$SECONDS_PER_TARGET" -max_len="${MAX_LEN:-65536}" -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="$OUT/crashes-$target/" -print_final_stats=1 \
        > "$OUT/log-$target.txt" 2>&1
    status=$?
    set -e
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$OUT/log-$target.txt" | grep -o '[0-9]*$' || echo "?")
    crashes=$(ls "$OUT/crashes-$target" | wc -l)
    echo "== $target: exit $status, executions $runs, crash/timeout/oom artifacts $crashes"
done
