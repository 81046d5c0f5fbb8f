package resolver

import (
	"encoding/binary"
	"testing"
)

func TestParseProcAddr(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the examples are written as a little-endian kernel prints them")
	}
	for _, tc := range []struct{ in, want string }{
		{"0100007F:0035", "127.0.0.1:53"},
		{"3500007F:0035", "127.0.0.53:53"},
		{"00000000:1F90", "0.0.0.0:8080"},
		{"00000000000000000000000000000000:0035", "[::]:53"},
		{"00000000000000000000000001000000:0035", "[::1]:53"},
		{"0000000000000000FFFF00000100007F:0035", "127.0.0.1:53"},
	} {
		got, ok := parseProcAddr(tc.in)
		if !ok || got.String() != tc.want {
			t.Errorf("parseProcAddr(%q) = %v, %v; want %s", tc.in, got, ok, tc.want)
		}
	}
	for _, bad := range []string{"", "0100007F", "01007F:0035", "zz00007F:0035", "0100007F:FFFFF"} {
		if got, ok := parseProcAddr(bad); ok {
			t.Errorf("parseProcAddr(%q) = %v, want not ok", bad, got)
		}
	}
}
