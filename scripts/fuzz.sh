#!/bin/sh
# Fuzzes the readers of untrusted input with libFuzzer + AddressSanitizer (not part of `swift test`/CI).
#   [MAX_LEN=bytes] scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGETS...]
#   targets: pickle safetensors checkpoint (checkpoint readers), png jpeg (image decoders), prompt (prompt syntax),
#            batchline (batch prompt files: lines, option words, paths as bytes), caption (ShapeWorld captions)
# Seeds come from Tests/CheckpointsTests/Fixtures (data.pkl of each zip, whole small files);
# corpora and crash reproducers are kept in .build/fuzz/. Prints executions and crashes per target.
set -eu
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-120}
[ $# -gt 0 ] && shift
TARGETS=${*:-pickle safetensors checkpoint png jpeg prompt batchline caption}
SWIFTC=${SWIFTC:-swiftc}
OUT=.build/fuzz
FIX=Tests/CheckpointsTests/Fixtures
mkdir -p "$OUT"

# A snapshot of the Checkpoints sources minus the YAML reader (it needs Yams, which the
# fuzzer does not exercise), so that editing the tree while a campaign runs is harmless.
rm -rf "$OUT/src" && mkdir -p "$OUT/src"
cp Sources/Checkpoints/*.swift Sources/FilePaths/*.swift Fuzz/CheckpointsFuzz.swift "$OUT/src/"
rm "$OUT/src/YAML.swift"
sed -i '/^import FilePaths$/d' "$OUT"/src/*.swift
SOURCES=$(ls "$OUT"/src/*.swift)

# The image decoders: ImageCodecs' Swift sources, the C libraries through their module maps, and
# the JPEG shim compiled with the fuzzer's instrumentation. The prompt syntax stands alone.
rm -rf "$OUT/img" && mkdir -p "$OUT/img/CJPEG"
cp Sources/ImageCodecs/*.swift Sources/FilePaths/*.swift Fuzz/InputsFuzz.swift "$OUT/img/"
cp Sources/CJPEG/include/jpeg_shim.h "$OUT/img/CJPEG/"
printf 'module CJPEG {\n    header "jpeg_shim.h"\n    link "jpeg"\n    export *\n}\n' > "$OUT/img/CJPEG/module.modulemap"
IMAGE_FLAGS="-I Sources/CPNG -I Sources/CZlib -I Sources/CGIF -I $OUT/img/CJPEG -I /usr/include/libpng16"
rm -rf "$OUT/prompt-src" && mkdir -p "$OUT/prompt-src"
cp Sources/Generation/Prompts.swift Fuzz/InputsFuzz.swift "$OUT/prompt-src/"
rm -rf "$OUT/batchline-src" && mkdir -p "$OUT/batchline-src"
cp Sources/vqclip/BatchLineSyntax.swift Sources/FilePaths/PathBytes.swift Sources/Generation/Prompts.swift Fuzz/InputsFuzz.swift \
    "$OUT/batchline-src/"
# The caption parser with the scene types it fills (SeededGenerator from Tensors, without the tensors).
rm -rf "$OUT/caption-src" && mkdir -p "$OUT/caption-src"
cp Sources/ShapeWorld/CaptionParser.swift Sources/ShapeWorld/Scene.swift Sources/ShapeWorld/Vocabulary.swift \
    Sources/Tensors/Random.swift Fuzz/InputsFuzz.swift "$OUT/caption-src/"
sed -i '/^extension Tensor {/,/^}/d' "$OUT/caption-src/Random.swift"
sed -i '/^import Tensors$/d' "$OUT"/caption-src/*.swift
# Each snapshot is one module: the FilePaths sources are in it rather than imported.
sed -i '/^import FilePaths$/d' "$OUT"/img/*.swift "$OUT"/batchline-src/*.swift

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
    png)
        for f in Tests/*/Fixtures/*.png Fuzz/seeds/*.png; do [ -f "$f" ] && [ "$(stat -c %s "$f")" -lt 65536 ] && cp "$f" "$corpus/"; done ;;
    jpeg)
        for f in Tests/*/Fixtures/*.jpg Fuzz/seeds/*.jpg; do [ -f "$f" ] && cp "$f" "$corpus/"; done ;;
    prompt)
        printf 'a red circle:2 | blurry:-1 | a cat:1:0.5 ^ a dog' > "$corpus/story"
        printf 'http://example:80 | note: x:1e3:-inf' > "$corpus/colons"
        printf ' | ^ | :1' > "$corpus/empty" ;;
    caption)
        split -l 1 prompts/shapes.txt "$corpus/shapes-"
        printf 'a red circle, a blue square and a green star' > "$corpus/three"
        printf 'tiny black triangle right of a big pink hexagon, top left, on cyan' > "$corpus/pair"
        printf 'the photo of one little orange star at the bottom against purple' > "$corpus/template" ;;
    batchline)
        cp prompts/*.txt "$corpus/" 2>/dev/null || true
        printf '%s\r\n' '# comment' '' '  a red circle --seed 3 --init-image "my picture.png"' \
            "a cat:2 | a dog --frames 'it'\\''s' --size=64" > "$corpus/quotes"
        printf 'a \377\376 shape --init-image caf\351.png --output \364\217\277\277\n\t--seed 1\n' > "$corpus/bytes" ;;
    esac
    true
}

for target in $TARGETS; do
    flag=$(echo "FUZZ_$target" | tr a-z A-Z)
    binary=$OUT/fuzz-$target
    echo "== building $target"
    case $target in
    png|jpeg)
        clang -fsanitize=fuzzer-no-link,address -O1 -g -c Sources/CJPEG/jpeg_shim.c -I Sources/CJPEG/include \
            -o "$OUT/img/jpeg_shim.o"
        # shellcheck disable=SC2086
        build="$SWIFTC -sanitize=fuzzer,address -parse-as-library -O -g -D $flag -module-name ImagesFuzz $IMAGE_FLAGS
            $(ls "$OUT"/img/*.swift) $OUT/img/jpeg_shim.o -lpng16 -ljpeg -lgif -lz -o $binary" ;;
    prompt|batchline|caption)
        build="$SWIFTC -sanitize=fuzzer,address -parse-as-library -O -g -D $flag -module-name PromptFuzz
            $(ls "$OUT/$target"-src/*.swift) -o $binary" ;;
    *)
        build="$SWIFTC -sanitize=fuzzer,address -parse-as-library -O -g -D $flag -module-name CheckpointsFuzz $SOURCES -o $binary" ;;
    esac
    # shellcheck disable=SC2086
    if ! $build > "$OUT/build-$target.txt" 2>&1; then
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
