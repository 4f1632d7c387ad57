// giflib (Debian's libgif-dev) for animated GIF output.
#include <stdbool.h>
#include <stddef.h>
#include <gif_lib.h>
