#!/usr/bin/env bash
# How much libjpeg-turbo's DCT scaling saves on the image-pipeline bench's JPEGs: decodes
# every file of the bench folder from memory on one thread at scale 1/1, 1/2, 1/4 and 1/8
# (best of 5 passes) and prints microseconds per image. This is the floor behind
# BENCHMARKS.md's "Reduced-size decode" reading: on these noisy files entropy decoding,
# which DCT scaling does not shrink, is most of the cost in any decoder.
#
#   scripts/bench_libjpeg_scaling.sh [DIR]   # DIR: default target/bench-data/shapes128x2000
#
# Needs a C compiler and libjpeg(-turbo) headers (Debian: apt-get install gcc libjpeg-dev).
# Not part of the test suite. The folder is written by `scripts/bench_data.sh` (or
# `cargo bench -p wick-data --bench pipeline -- --prepare-only`).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-target/bench-data/shapes128x2000}
[[ -d "$DIR" ]] || { echo "bench_libjpeg_scaling.sh: no folder $DIR (run scripts/bench_data.sh first)" >&2; exit 2; }
command -v cc >/dev/null || { echo "bench_libjpeg_scaling.sh: needs a C compiler (cc)" >&2; exit 2; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cat >"$WORK/scale.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <jpeglib.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    int n = argc - 1;
    unsigned char **data = calloc(n, sizeof *data);
    unsigned long *len = calloc(n, sizeof *len);
    unsigned char *out = malloc(64u << 20);
    if (!data || !len || !out) return 1;
    for (int i = 0; i < n; i++) {
        FILE *f = fopen(argv[i + 1], "rb");
        if (!f) { fprintf(stderr, "cannot open %s\n", argv[i + 1]); return 1; }
        fseek(f, 0, SEEK_END);
        len[i] = (unsigned long)ftell(f);
        fseek(f, 0, SEEK_SET);
        data[i] = malloc(len[i]);
        if (!data[i] || fread(data[i], 1, len[i], f) != len[i]) { fprintf(stderr, "cannot read %s\n", argv[i + 1]); return 1; }
        fclose(f);
    }
    for (int denom = 1; denom <= 8; denom *= 2) {
        double best = 1e30;
        unsigned ow = 0, oh = 0;
        for (int pass = 0; pass < 5; pass++) {
            double t0 = now();
            for (int i = 0; i < n; i++) {
                struct jpeg_decompress_struct d;
                struct jpeg_error_mgr err;
                d.err = jpeg_std_error(&err);
                jpeg_create_decompress(&d);
                jpeg_mem_src(&d, data[i], len[i]);
                jpeg_read_header(&d, TRUE);
                d.scale_num = 1;
                d.scale_denom = denom;
                d.out_color_space = JCS_RGB;
                jpeg_start_decompress(&d);
                size_t stride = (size_t)d.output_width * 3;
                if (stride * d.output_height > (64u << 20)) { fprintf(stderr, "image too large\n"); return 1; }
                while (d.output_scanline < d.output_height) {
                    JSAMPROW row = out + d.output_scanline * stride;
                    jpeg_read_scanlines(&d, &row, 1);
                }
                ow = d.output_width;
                oh = d.output_height;
                jpeg_finish_decompress(&d);
                jpeg_destroy_decompress(&d);
            }
            double dt = now() - t0;
            if (dt < best) best = dt;
        }
        printf("scale 1/%d: %d files, last %ux%u, %.1f us/image (best of 5 passes)\n", denom, n, ow, oh, best / n * 1e6);
    }
    return 0;
}
C
cc -O2 -o "$WORK/scale" "$WORK/scale.c" -ljpeg
echo "== $(find "$DIR" -name '*.jpg' | wc -l) JPEGs under $DIR, one thread, load: $(cut -d' ' -f1-3 /proc/loadavg)"
find "$DIR" -name '*.jpg' -print0 | sort -z | xargs -0 "$WORK/scale"
