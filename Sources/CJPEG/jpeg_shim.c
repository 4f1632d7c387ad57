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

int jpegshim_read_rgb(const unsigned char *data, size_t size, unsigned long long max_pixels,
                      unsigned char **out, int *width, int *height, char *errbuf, size_t errlen) {
    struct jpeg_decompress_struct cinfo;
    struct shim_error jerr;
    unsigned char *volatile pixels = NULL;
    unsigned char *volatile cmyk = NULL;
    *out = NULL;

    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = shim_error_exit;
    jerr.pub.emit_message = shim_emit_message;
    jerr.buf = errbuf; jerr.len = errlen;
    if (setjmp(jerr.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        free(cmyk);
        return 1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    unsigned long long declared = (unsigned long long)cinfo.image_width * cinfo.image_height;
    /* The data present must be able to fill the declared image: even flat progressive scans
       need well over one byte per 20000 pixels. Refuse before allocating anything. */
    if (declared > (unsigned long long)size * 20000ull) {
        snprintf(errbuf, errlen, "truncated or corrupt: %zu bytes cannot hold a %ux%u image",
                 size, cinfo.image_width, cinfo.image_height);
        longjmp(jerr.jump, 1);
    }
    /* Above the pixel limit, libjpeg's scaled decoding (1/2, 1/4, 1/8) keeps memory bounded. */
    unsigned denom = 1;
    while (denom < 8 && declared / ((unsigned long long)denom * denom) > max_pixels) denom *= 2;
    if (declared / ((unsigned long long)denom * denom) > max_pixels) {
        snprintf(errbuf, errlen, "image is %ux%u, too large even at 1/8 scale (limit %llu pixels)",
                 cinfo.image_width, cinfo.image_height, max_pixels);
        longjmp(jerr.jump, 1);
    }
    cinfo.scale_num = 1;
    cinfo.scale_denom = denom;
    /* CMYK and YCCK (Photoshop, print) come out as CMYK; converted to RGB below. */
    int is_cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = is_cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_components != (is_cmyk ? 4 : 3)) {
        snprintf(errbuf, errlen, "unsupported JPEG color layout (%d components)", cinfo.output_components);
        longjmp(jerr.jump, 1);
    }
    size_t stride = (size_t)cinfo.output_width * 3;
    pixels = malloc(stride * cinfo.output_height);
    if (is_cmyk) cmyk = malloc((size_t)cinfo.output_width * 4);
    if (!pixels || (is_cmyk && !cmyk)) { snprintf(errbuf, errlen, "out of memory"); longjmp(jerr.jump, 1); }
    /* Adobe's CMYK JPEGs store the channels inverted (0 = full ink). */
    int inverted = cinfo.saw_Adobe_marker;
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = pixels + stride * cinfo.output_scanline;
        if (!is_cmyk) { jpeg_read_scanlines(&cinfo, &row, 1); continue; }
        JSAMPROW src = cmyk;
        jpeg_read_scanlines(&cinfo, &src, 1);
        for (JDIMENSION x = 0; x < cinfo.output_width; x++) {
            unsigned c = cmyk[4 * x], m = cmyk[4 * x + 1], y = cmyk[4 * x + 2], k = cmyk[4 * x + 3];
            if (!inverted) { c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k; }
            row[3 * x] = (unsigned char)((c * k + 127) / 255);
            row[3 * x + 1] = (unsigned char)((m * k + 127) / 255);
            row[3 * x + 2] = (unsigned char)((y * k + 127) / 255);
        }
    }
    jpeg_finish_decompress(&cinfo);
    *width = (int)cinfo.output_width;
    *height = (int)cinfo.output_height;
    jpeg_destroy_decompress(&cinfo);
    free(cmyk);
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
