//go:build unix

package blocklist

import "syscall"

// openNonblock keeps opening a FIFO from waiting for its writer.
const openNonblock = syscall.O_NONBLOCK
