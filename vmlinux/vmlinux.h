/* Dispatcher: picks the vmlinux.h of the target architecture. */
#if defined(__TARGET_ARCH_x86) || (!defined(__TARGET_ARCH_arm64) && defined(__x86_64__))
#include "x86_64/vmlinux.h"
#elif defined(__TARGET_ARCH_arm64) || defined(__aarch64__)
#include "aarch64/vmlinux.h"
#else
#error "beed: unsupported target architecture; define __TARGET_ARCH_x86 or __TARGET_ARCH_arm64"
#endif
