#include <stdio.h>   /* jpeglib.h needs FILE before it is included */
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>
#include "jpeg_shim.h"

struct shim_error {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char *buf;
    size_t len;
};

static void shim_error_exit(j_common_ptr cinfo) {
    struct shim_error *err = (struct shim_error *)cinfo->err;
    char message[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, message);
    if (err->buf && err->len) snprintf(err->buf, err->len, "%s", message);
    longjmp(err->jump, 1);
}

/* Warnings (e.g. "premature end of data") are fatal too: a truncated file must not decode to gray. */
static void shim_emit_message(j_common_ptr cinfo, int level) {
    if (level < 0) shim_error_exit(cinfo);
}

int jpegshim_read_rgb(const unsigned char *data, size_t size, unsigned char **out, int *width, int *height,
                      char *errbuf, size_t errlen) {
    struct jpeg_decompress_struct cinfo;
    struct shim_error jerr;
    unsigned char *volatile pixels = NULL;
    *out = NULL;

    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = shim_error_exit;
    jerr.pub.emit_message = shim_emit_message;
    jerr.buf = errbuf; jerr.len = errlen;
    if (setjmp(jerr.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        return 1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_components != 3) {
        snprintf(errbuf, errlen, "unsupported JPEG color layout (%d components)", cinfo.output_components);
        longjmp(jerr.jump, 1);
    }
    size_t stride = (size_t)cinfo.output_width * 3;
    /* Refuse absurd declared sizes before allocating (65500 is JPEG's own limit per side). */
    if ((unsigned long long)stride * cinfo.output_height > (1ull << 31)) {
        snprintf(errbuf, errlen, "image too large (%ux%u)", cinfo.output_width, cinfo.output_height);
        longjmp(jerr.jump, 1);
    }
    pixels = malloc(stride * cinfo.output_height);
    if (!pixels) { snprintf(errbuf, errlen, "out of memory"); longjmp(jerr.jump, 1); }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = pixels + stride * cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    *width = (int)cinfo.output_width;
    *height = (int)cinfo.output_height;
    jpeg_destroy_decompress(&cinfo);
    *out = pixels;
    return 0;
}

int jpegshim_write(const char *path, const unsigned char *pixels, int width, int height,
                   int components, int quality, char *errbuf, size_t errlen) {
    struct jpeg_compress_struct cinfo;
    struct shim_error jerr;
    FILE *file;
    if (components != 1 && components != 3) { snprintf(errbuf, errlen, "components must be 1 or 3"); return 1; }
    file = fopen(path, "wb");
    if (!file) { snprintf(errbuf, errlen, "cannot create file"); return 1; }
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = shim_error_exit;
    jerr.buf = errbuf; jerr.len = errlen;
    if (setjmp(jerr.jump)) {
        jpeg_destroy_compress(&cinfo);
        fclose(file);
        return 1;
    }
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, file);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = components;
    cinfo.in_color_space = components == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    size_t stride = (size_t)width * (size_t)components;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + stride * cinfo.next_scanline);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    if (fclose(file) != 0) { snprintf(errbuf, errlen, "write failed"); return 1; }
    return 0;
}

void jpegshim_free(unsigned char *p) { free(p); }
