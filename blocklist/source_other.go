//go:build !unix

package blocklist

const openNonblock = 0
