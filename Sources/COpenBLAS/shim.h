#pragma once
/* Debian puts cblas.h under the openblas include dir that pkg-config names; there is no openblas/cblas.h. */
#include <cblas.h>
