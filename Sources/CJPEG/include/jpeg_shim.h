#pragma once
#include <stddef.h>

/* libjpeg reports errors by longjmp; these wrappers own the setjmp so that a corrupt file
   becomes an error code plus a message instead of a process exit. All return 0 on success. */

/// Decodes a JPEG held in memory (size bytes at data) to 8-bit interleaved RGB (CMYK and YCCK
/// converted), scaled down by 2, 4 or 8 when the image has more than max_pixels pixels. On
/// success *out holds w*h*3 bytes, to be released with jpegshim_free.
int jpegshim_read_rgb(const unsigned char *data, size_t size, unsigned long long max_pixels,
                      unsigned char **out, int *width, int *height, char *errbuf, size_t errlen);

/// Encodes 8-bit interleaved pixels (components 1 = gray, 3 = RGB) at the given quality (1-100).
int jpegshim_write(const char *path, const unsigned char *pixels, int width, int height,
                   int components, int quality, char *errbuf, size_t errlen);

void jpegshim_free(unsigned char *p);
