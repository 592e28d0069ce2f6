/* kernel shim for benches: see kho_shim.h */
#include <kho_shim.h>
